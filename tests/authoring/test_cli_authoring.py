"""test, fmt, init and diff through a real `python -m cascadepolicy` subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from cascadepolicy.testing import load_suite, run_suite

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    proc = subprocess.run([sys.executable, "-m", "cascadepolicy", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def test_every_example_suite_passes_at_full_coverage_as_junit(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    proc = run("test", "policies/", "--min-coverage", "100", "--format", "junit", "--output", str(report))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = ElementTree.parse(report).getroot()
    suites = root.findall("testsuite")
    policies = sorted(p.stem for p in (ROOT / "policies").glob("*.yaml") if not p.stem.endswith("_test"))
    assert sorted(s.get("name") for s in suites) == [f"policies/{n}_test.yaml" for n in policies]  # every policy has a suite
    assert all(s.get("failures") == "0" and s.get("errors") == "0" for s in suites)
    assert all(p.get("value") == "100.00" for p in root.iter("property") if p.get("name") == "coverage")
    assert sum(int(s.get("tests") or 0) for s in suites) >= 60


def test_a_failing_case_exits_1_with_its_location_in_json_with_coverage(tmp_path: Path) -> None:
    shutil.copy(ROOT / "policies" / "saas.yaml", tmp_path / "saas.yaml")
    (tmp_path / "saas_test.yaml").write_text(
        "policy: saas.yaml\n"
        "cases:\n"
        "  - name: wrong route\n"
        "    request: {prompt: hi, metadata: {feature: chat}}\n"
        "    fixtures: {answers: {small: \"Hello there, how can I help you today?\"}}\n"
        "    expect: {route: code-review}\n", encoding="utf-8")
    proc = run("test", "--format", "json", "--min-coverage", "50", ".", cwd=tmp_path)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["summary"] == {"cases": 1, "passed": 0, "failed": 1, "ok": False}
    case = data["suites"][0]["cases"][0]
    assert (case["location"], case["failures"]) == ("saas_test.yaml:3:5", ["route: expected 'code-review', got 'everything-else'"])
    assert case["decision"]["route"]["name"] == "everything-else"
    route = (tmp_path / "saas.yaml").read_text(encoding="utf-8").splitlines().index("  - name: free-long-prompt") + 1
    missing = data["suites"][0]["coverage"]["missing"]
    assert {"kind": "route", "name": "#0 free-long-prompt", "location": f"saas.yaml:{route}:5", "covered_by": []} in missing
    assert "below --min-coverage 50%" in proc.stderr


@pytest.mark.parametrize("template", ["starter", "minimal"])
def test_init_writes_a_policy_and_suite_that_pass(tmp_path: Path, template: str) -> None:
    proc = run("init", "--template", template, "proj", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    policy = (tmp_path / "proj" / "policy.yaml").read_text(encoding="utf-8")
    assert policy.startswith("# yaml-language-server: $schema=schemas/policy.schema.json\n")
    assert "name: proj\n" in policy
    assert (tmp_path / "proj" / "schemas" / "test.schema.json").is_file()
    assert run("validate", "--strict", "proj/policy.yaml", cwd=tmp_path).returncode == 0
    assert run("fmt", "--check", "proj", cwd=tmp_path).returncode == 0
    # In process: a `test` subprocess pays seconds for importing litellm, and the CLI path is covered above.
    result = run_suite(load_suite(tmp_path / "proj" / "policy_test.yaml"))
    assert result.ok and [c.failures for c in result.cases if not c.passed] == []
    assert result.coverage is not None and result.coverage.percent == 100.0
    again = run("init", "proj", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr


def test_fmt_check_shows_a_diff_then_fmt_fixes_it_keeping_comments(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    original = ("# top comment\n"
                "version: 1\n"
                "name: p   # trailing comment\n"
                "models:\n"
                "    m:\n"
                "        model: gpt-4o-mini\n"
                "routes:\n"
                "- {default: {model: m}}\n")
    path.write_text(original, encoding="utf-8")
    proc = run("fmt", "--check", str(path))
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"--- {path}\n+++ {path} (formatted)\n")
    assert "-    m:\n" in proc.stdout and "+  m:\n" in proc.stdout
    assert path.read_text(encoding="utf-8") == original
    assert run("fmt", str(path)).returncode == 0
    formatted = path.read_text(encoding="utf-8")
    assert formatted == ("# top comment\nversion: 1\nname: p   # trailing comment\nmodels:\n  m:\n    model: gpt-4o-mini\n"
                         "routes:\n  - {default: {model: m}}\n")
    assert run("fmt", "--check", str(path)).returncode == 0


def test_fmt_reports_unparsable_files_and_leaves_them(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: [1, 2\n", encoding="utf-8")
    proc = run("fmt", str(path))
    assert proc.returncode == 1 and "error[yaml-syntax]" in proc.stderr
    assert path.read_text(encoding="utf-8") == "a: [1, 2\n"


def test_diff_reports_changes_with_lines_and_a_request_routed_differently(tmp_path: Path) -> None:
    old = (ROOT / "policies" / "saas.yaml").read_text(encoding="utf-8")
    new = (old.replace("request.tokens > 4000", "request.tokens > 8000")
              .replace("budget: {usd: 5.00, per: day, warn_at: 0.8}", "budget: {usd: 8.00, per: day, warn_at: 0.8}"))
    (tmp_path / "old.yaml").write_text(old, encoding="utf-8")
    (tmp_path / "new.yaml").write_text(new, encoding="utf-8")
    proc = run("diff", "--exit-code", "old.yaml", "new.yaml", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    lines = new.splitlines()
    pro = lines.index("  pro:") + 1
    budget = next(i for i, line in enumerate(lines, 1) if "usd: 8.00" in line)
    route = lines.index("  - name: free-long-prompt") + 1
    assert f"~ tiers pro changed  (new.yaml:{pro + 1}:5)" in out
    assert f"budget.usd: 5.0 → 8.0  (new.yaml:{budget}:19)" in out
    assert f"~ routes free-long-prompt changed  (new.yaml:{route}:5)" in out
    assert "request.tokens=4001" in out and "user.tier='free'" in out
    assert "old: free-long-prompt → block" in out and "new: everything-else → cascade default" in out
    same = run("diff", "--exit-code", "old.yaml", "old.yaml", cwd=tmp_path)
    assert same.returncode == 0 and same.stdout.endswith("no behaviour change\n")
