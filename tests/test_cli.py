"""The CLI through a real subprocess: exit codes, output formats, path expansion, imports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cascadepolicy import cli

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
CASES = Path(__file__).parent / "cases"
REDIS_ENV = {"REDIS_URL": "redis://127.0.0.1:6379/0"}
POLICY_FILES = sorted(p for p in POLICIES.glob("*.yaml") if not p.name.endswith("_test.yaml"))  # *_test: suites


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, python_args: tuple[str, ...] = ()
        ) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    environ.update(env or {})
    proc = subprocess.run([sys.executable, *python_args, "-m", "cascadepolicy", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stdout + proc.stderr or "--traceback" in args
    return proc


def test_example_policies_are_clean_under_strict() -> None:
    proc = run("validate", "--strict", "policies/", env=REDIS_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    count = len(POLICY_FILES)
    assert proc.stdout.strip().splitlines()[-1] == f"{count} file(s) checked: {count} clean, 0 error(s), 0 warning(s)"


def test_multi_host_needs_redis_url(tmp_path: Path) -> None:
    shutil.copy(POLICIES / "multi-host.yaml", tmp_path / "multi-host.yaml")  # no .env beside it
    proc = run("validate", "multi-host.yaml", cwd=tmp_path)
    assert proc.returncode == 1
    first = proc.stdout.splitlines()[0]
    assert re.match(r"multi-host\.yaml:\d+:8: error\[env-unset\] environment variable REDIS_URL is not set: set REDIS_URL", first)


def test_a_dotenv_beside_the_policy_gives_defaults_and_the_environment_wins(tmp_path: Path) -> None:
    shutil.copy(POLICIES / "multi-host.yaml", tmp_path / "multi-host.yaml")
    (tmp_path / ".env").write_text("# dev\nexport REDIS_URL='redis://from-dotenv:6379/0'\n")
    assert run("validate", "multi-host.yaml", cwd=tmp_path).returncode == 0
    import cascadepolicy

    policy = cascadepolicy.load(tmp_path / "multi-host.yaml", environ={})
    assert policy.spec.store.url == "redis://from-dotenv:6379/0"
    policy = cascadepolicy.load(tmp_path / "multi-host.yaml", environ={"REDIS_URL": "redis://env:1/0"})
    assert policy.spec.store.url == "redis://env:1/0"


def test_example_policies_validate_with_their_dotenv() -> None:
    proc = run("validate", "--strict", "policies/")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_example_policy_declares_the_schema() -> None:
    files = POLICY_FILES
    assert {p.name for p in files} >= {"saas.yaml", "math-tutor.yaml", "support-bot.yaml", "multi-host.yaml"}
    for path in files:
        assert path.read_text().startswith("# yaml-language-server: $schema=../schemas/policy.schema.json\n"), path.name


@pytest.mark.parametrize("args", [
    ("validate", "does/not/exist.yaml"),
    ("validate", "nothing-matches-*.yaml"),
    ("validate", "--no-such-flag", "policies/"),
    ("validate",),
    ("validate", "--format", "xml", "policies/"),
    ("frobnicate",),
    (),
])
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    proc = run(*args)
    assert proc.returncode == 2, proc.stderr
    assert "error" in proc.stderr
    assert proc.stdout == ""


def test_directory_without_policies_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a policy")
    proc = run("validate", str(tmp_path))
    assert proc.returncode == 2
    assert "no policy files found" in proc.stderr


def test_json_format() -> None:
    proc = run("validate", "--format", "json", "tests/cases/invalid/ref-undefined-fallback.yaml", "policies/saas.yaml")
    assert proc.returncode == 1
    payload = json.loads(proc.stdout)
    assert set(payload) == {"files", "errors", "warnings"}
    assert (payload["errors"], payload["warnings"]) == (1, 0)
    bad, good = payload["files"]
    assert good == {"file": "policies/saas.yaml", "ok": True, "diagnostics": []}
    assert bad["ok"] is False
    assert bad["diagnostics"] == [{
        "code": "ref-undefined", "severity": "error",
        "message": "models.large.fallbacks[0] names the model 'smal', which is not defined. Defined models: large, small.",
        "file": "tests/cases/invalid/ref-undefined-fallback.yaml", "line": 6, "column": 38,
        "hint": "did you mean 'small'?",
    }]


def test_github_format() -> None:
    proc = run("validate", "--format", "github", "tests/cases/invalid/schema-unknown-key-top.yaml",
               "tests/cases/warning/store-not-durable.yaml")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines == [
        "::error file=tests/cases/invalid/schema-unknown-key-top.yaml,line=8,col=1,title=schema-unknown-key::"
        "unknown key 'modles' in the document. (did you mean 'models'?)",
        "::warning file=tests/cases/warning/store-not-durable.yaml,line=7,col=8,title=store-not-durable::"
        "rate windows and budgets are kept in the memory store: they reset on every restart and are not shared "
        "between processes. (use `store: {kind: sqlite}` (one host) or `store: {kind: redis, url: ...}` (many hosts).)",
    ]


def test_github_format_escapes_property_values(tmp_path: Path) -> None:
    weird = tmp_path / "a,b:c.yaml"
    shutil.copy(CASES / "invalid" / "schema-unknown-key-top.yaml", weird)
    proc = run("validate", "--format", "github", str(weird))
    assert proc.returncode == 1
    (line,) = proc.stdout.splitlines()
    assert line.startswith("::error file=") and "a%2Cb%3Ac.yaml,line=8,col=1," in line


def test_strict_fails_on_warnings_only() -> None:
    path = "tests/cases/warning/cascade-cost-order.yaml"
    plain, strict = run("validate", path), run("validate", "--strict", path)
    assert (plain.returncode, strict.returncode) == (0, 1)
    assert plain.stdout == strict.stdout
    assert "warning[cascade-cost-order]" in plain.stdout
    assert plain.stdout.splitlines()[-1] == "1 file(s) checked: 0 clean, 0 error(s), 1 warning(s)"


def test_directories_and_globs_are_expanded_sorted(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deep").mkdir(parents=True)
    bad = CASES / "invalid"
    shutil.copy(bad / "price-unknown.yaml", tmp_path / "b" / "z.yaml")
    shutil.copy(bad / "route-no-default.yaml", tmp_path / "a" / "deep" / "y.yml")
    shutil.copy(bad / "schema-version-unsupported.yaml", tmp_path / "m.yaml")
    shutil.copy(CASES / "valid" / "minimal.yaml", tmp_path / "a" / "ok.yaml")
    (tmp_path / "a" / "suite_test.yaml").write_text("not: [a policy")  # test suites are not policies
    (tmp_path / "readme.md").write_text("# not yaml")

    proc = run("validate", ".", cwd=tmp_path)
    assert proc.returncode == 1
    files = [line.split(":")[0] for line in proc.stdout.splitlines() if ": error[" in line]
    assert files == ["a/deep/y.yml", "b/z.yaml", "m.yaml"]
    assert proc.stdout.splitlines()[-1] == "4 file(s) checked: 1 clean, 3 error(s), 0 warning(s)"

    proc = run("validate", "[ab]/*.yaml", cwd=tmp_path)
    files = [line.split(":")[0] for line in proc.stdout.splitlines() if ": error[" in line]
    assert files == ["a/suite_test.yaml", "b/z.yaml"]  # a glob is taken as written, suites included
    assert proc.stdout.splitlines()[-1].startswith("3 file(s) checked")

    proc = run("validate", "**/*.yml", "m.yaml", "./m.yaml", "m.yaml", cwd=tmp_path)  # duplicates are checked once
    assert proc.stdout.splitlines()[-1].startswith("2 file(s) checked")


def test_diagnostics_are_sorted_by_location(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "version: 1\nname: many\n"
        "models:\n  m: {model: gpt-4o-mini, fallbacks: [zz]}\n"
        "cascades:\n  c: [{model: nope}]\n"
        "routes:\n  - when: \"user.nope == 1\"\n    cascade: c\n  - default: {cascade: missing}\n"
        "tiers:\n  free: {models: [ghost]}\n"
    )
    proc = run("validate", "--format", "json", str(path))
    assert proc.returncode == 1
    diagnostics = json.loads(proc.stdout)["files"][0]["diagnostics"]
    places = [(d["line"], d["column"]) for d in diagnostics]
    assert len(places) == 5
    assert places == sorted(places)
    assert [d["code"] for d in diagnostics].count("ref-undefined") == 4


def test_schema_prints_the_committed_json_schema() -> None:
    proc = run("schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert proc.stdout == (ROOT / "schemas" / "policy.schema.json").read_text(encoding="utf-8")


def test_validate_never_imports_litellm() -> None:
    proc = run("validate", "policies/", env=REDIS_ENV, python_args=("-X", "importtime"))
    assert proc.returncode == 0, proc.stdout
    imported = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert len(imported) > 50  # the import log is really there
    assert not [line for line in imported if "litellm" in line]
    assert any(re.search(r"\| +cascadepolicy\.loading\.checks$", line) for line in imported)


def test_version_flag() -> None:
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("cascadepolicy ")


# In-process: a bug inside a subcommand is reported, not shown as a traceback.

def test_internal_error_exits_3_with_a_report(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import cascadepolicy.loading.loader

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(cascadepolicy.loading.loader, "check_file", broken)
    assert cli.main(["validate", str(POLICIES / "saas.yaml")]) == 3
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: boom" in err and "please report" in err
    assert "Traceback" not in err
    assert cli.main(["--traceback", "validate", str(POLICIES / "saas.yaml")]) == 3
    assert "Traceback (most recent call last)" in capsys.readouterr().err
