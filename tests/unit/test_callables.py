"""Custom callables: located and parsed by every checking command, imported only when an engine is built.

The package `pkg` of these tests writes a marker file when its `__init__.py`
runs; no checking command may create it, building an engine must.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cascadepolicy.loading import callables
from cascadepolicy.loading.loader import check_file

ROOT = Path(__file__).resolve().parents[2]

SUB = '''\
import os as operating_system
from json import dumps as to_json

def f(text, **params):
    return False

async def coroutine_check(text):
    return False

class Checker:
    def __call__(self, text):
        return False

def helper():
    def nested_only():  # not at module level
        pass

lambda_check = lambda text: False
first, (second, *rest) = (print, (print, print))
CONSTANT = 3
LIMITS = {"a": 1}
try:
    from _speedups import fast  # noqa
except ImportError:
    def fast(text):
        return False
if operating_system.name == "nt":
    def windows_only(text):
        return False
else:
    windows_only = None
'''

POLICY = '''\
version: 1
name: p
models:
  m: {{model: gpt-4o-mini}}
guardrails:
  - {{id: g, stage: input, check: custom, function: "{guard}", action: block}}
validators:
  v:
    - {{check: custom, function: "{check}"}}
cascades:
  c:
    - model: m
      accept: {{validators: v, min_score: 0.5}}
    - model: m
routes:
  - default: {{cascade: c}}
'''

SUITE = '''\
policy: p.yaml
cases:
  - name: the validator rejects, the second step answers
    request: {prompt: hello}
    fixtures:
      answers: {m: hi}
      guardrails: {g: pass}
    expect: {outcome: answered}
'''


def _package(where: Path) -> Path:
    """`pkg/__init__.py` writes `MARKER` beside `pkg` when imported; `pkg/sub.py` defines the callables."""
    pkg = where / "pkg"
    pkg.mkdir(parents=True)
    marker = where / "MARKER"
    (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    (pkg / "sub.py").write_text(SUB)
    return marker


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    marker = _package(tmp_path)
    (tmp_path / "p.yaml").write_text(POLICY.format(guard="pkg.sub:f", check="pkg.sub:Checker"))
    (tmp_path / "p_test.yaml").write_text(SUITE)
    yield tmp_path
    assert marker.parent == tmp_path
    for name in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:
        del sys.modules[name]


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None, script: bool = False) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environ.update(env or {})
    command = [str(Path(sys.executable).parent / "cascadepolicy")] if script else [sys.executable, "-m", "cascadepolicy"]
    proc = subprocess.run([*command, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


# ---------------------------------------------------------------- nothing runs

@pytest.mark.parametrize(("command", "code"), [
    (("validate", "p.yaml"), 0),
    (("test",), 0),
    (("graph", "p.yaml"), 0),
    (("diff", "p.yaml", "p.yaml"), 0),
    (("fmt", "--check", "p.yaml"), 0),
    (("schema",), 0),
])
def test_checking_commands_never_import_what_a_policy_names(project: Path, command: tuple[str, ...], code: int) -> None:
    # cwd is on sys.path under `python -m`: the old check imported pkg/__init__.py from there.
    proc = _cli(*command, cwd=project)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert not (project / "MARKER").exists()


def test_the_console_script_does_not_import_an_installed_parent_package(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    script = Path(sys.executable).parent / "cascadepolicy"
    if not script.exists():
        pytest.skip("the console script is not installed")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "p.yaml").write_text((project / "p.yaml").read_text())
    # `pkg` reachable only through PYTHONPATH, as an installed package would be
    proc = _cli("validate", "p.yaml", cwd=elsewhere, env={"PYTHONPATH": str(project)}, script=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (project / "MARKER").exists()


def test_the_console_script_finds_modules_of_the_working_directory(project: Path) -> None:
    script = Path(sys.executable).parent / "cascadepolicy"
    if not script.exists():
        pytest.skip("the console script is not installed")
    proc = _cli("validate", "p.yaml", cwd=project, script=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the old check did not search the working directory
    assert not (project / "MARKER").exists()


def test_a_missing_module_or_function_is_an_error_at_its_place(project: Path) -> None:
    (project / "p.yaml").write_text(POLICY.format(guard="pkg.nowhere:f", check="pkg.sub:nope"))
    proc = _cli("validate", "p.yaml", cwd=project)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert "p.yaml:6:52: error[ref-custom-callable] module 'pkg.nowhere' of 'pkg.nowhere:f' cannot be found." in lines
    assert "p.yaml:9:33: error[ref-custom-callable] module 'pkg.sub' has no attribute 'nope' ('pkg.sub:nope')." in lines
    assert not (project / "MARKER").exists()


def test_test_runs_a_custom_callable_only_with_import_custom(project: Path) -> None:
    suite = project / "p_test.yaml"
    suite.write_text(SUITE.replace("      guardrails: {g: pass}\n", ""))
    proc = _cli("test", "--format", "json", cwd=project)
    assert proc.returncode == 1  # the guardrail could not run, and fails closed
    assert "'pkg.sub:f' was not run" in proc.stdout
    assert not (project / "MARKER").exists()
    proc = _cli("test", "--import-custom", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (project / "MARKER").exists()


def test_explain_runs_a_custom_callable_only_with_import_custom(project: Path) -> None:
    (project / "req.yaml").write_text("messages: [{role: user, content: hi}]\n")
    proc = _cli("explain", "p.yaml", "--request", "req.yaml", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "was not run" in proc.stdout
    assert not (project / "MARKER").exists()
    proc = _cli("explain", "p.yaml", "--request", "req.yaml", "--import-custom", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (project / "MARKER").exists()


def test_building_an_engine_imports_the_callable(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(project))
    result = check_file(project / "p.yaml", environ={})
    assert result.policy is not None, [d.format() for d in result.diagnostics]
    assert not (project / "MARKER").exists()
    from cascadepolicy.state import MemoryStore

    result.policy.engine(store=MemoryStore(), decision_log=None)
    assert (project / "MARKER").exists()


def test_without_imports_gives_stand_ins(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(project))
    with callables.without_imports():
        stand_in = callables.resolve("pkg.sub:f")
    with pytest.raises(callables.CallableNotRun, match="was not run"):
        stand_in("text")
    assert not (project / "MARKER").exists()
    assert callables.resolve("pkg.sub:f")("text") is False
    assert (project / "MARKER").exists()


# ---------------------------------------------------------------- the static check

@pytest.mark.parametrize("name", [
    "f", "coroutine_check", "Checker", "operating_system", "to_json", "lambda_check", "first", "second", "rest",
    "fast", "windows_only",
])
def test_names_bound_at_module_level_are_found(tmp_path: Path, name: str) -> None:
    _package(tmp_path)
    assert callables.check(f"pkg.sub:{name}", search_path=[str(tmp_path)]) is None
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize(("name", "message"), [
    ("nested_only", "has no attribute 'nested_only'"),
    ("Fast", "has no attribute 'Fast'"),
    ("CONSTANT", "names a constant, which is not callable"),
    ("LIMITS", "names a constant, which is not callable"),
])
def test_names_not_bound_or_not_callable_are_reported(tmp_path: Path, name: str, message: str) -> None:
    _package(tmp_path)
    problem = callables.check(f"pkg.sub:{name}", search_path=[str(tmp_path)])
    assert problem is not None and message in problem.message


def test_a_close_name_is_suggested(tmp_path: Path) -> None:
    _package(tmp_path)
    problem = callables.check("pkg.sub:Checkr", search_path=[str(tmp_path)])
    assert problem is not None and problem.hint == "did you mean 'Checker'?"


def test_the_importing_resolver_says_the_same(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(project))
    for ref in ("pkg.nowhere:f", "pkg.sub:nope", "no_such_top_level_xyz:f"):
        problem = callables.check(ref, search_path=[str(project)])
        assert problem is not None
        with pytest.raises(callables.CallableProblem) as raised:
            callables.resolve(ref)
        assert raised.value.message == problem.message


def test_open_ended_modules_accept_any_name(tmp_path: Path) -> None:
    (tmp_path / "star.py").write_text("from os.path import *\n")
    (tmp_path / "lazy.py").write_text("def __getattr__(name):\n    raise AttributeError(name)\n")
    for ref in ("star:join", "lazy:anything"):
        assert callables.check(ref, search_path=[str(tmp_path)]) is None


def test_a_syntax_error_is_reported_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("x = 1\ndef f(:\n")
    problem = callables.check("broken:f", search_path=[str(tmp_path)])
    assert problem is not None and "does not parse as Python (line 2)" in problem.message


@pytest.mark.parametrize("source", ["(" * 5000 + ")" * 5000, "-" * 200_000 + "1", "a" + ".b" * 100_000, "x = 1\x00\n"])
def test_hostile_sources_are_reported_not_crashed_on(tmp_path: Path, source: str) -> None:
    (tmp_path / "hostile.py").write_text(source)
    problem = callables.check("hostile:f", search_path=[str(tmp_path)])
    assert problem is None or "hostile" in problem.message


def test_a_directory_without_init_defines_nothing(tmp_path: Path) -> None:
    (tmp_path / "space" / "inner").mkdir(parents=True)
    (tmp_path / "space" / "inner" / "mod.py").write_text("def f(t):\n    return 1\n")
    assert callables.check("space.inner.mod:f", search_path=[str(tmp_path)]) is None  # namespace packages on the way
    problem = callables.check("space.inner:f", search_path=[str(tmp_path)])
    assert problem is not None and problem.hint is not None and "without __init__.py" in problem.hint


def test_a_parent_that_is_not_a_package_has_no_submodules(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("def f(t):\n    return 1\n")
    problem = callables.check("plain.sub:f", search_path=[str(tmp_path)])
    assert problem is not None and problem.message == "module 'plain.sub' of 'plain.sub:f' cannot be found."
    problem = callables.check("plain.sub.deeper:f", search_path=[str(tmp_path)])
    assert problem is not None and "cannot be found ('plain.sub' does not exist)" in problem.message


def test_compiled_and_oversized_modules_are_accepted_unverified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.machinery

    (tmp_path / ("native" + importlib.machinery.EXTENSION_SUFFIXES[0])).write_bytes(b"\x7fELF not really")
    (tmp_path / "big.py").write_text("# padding\n" * (callables.MAX_SOURCE_BYTES // 10 + 1))
    assert callables.check("native:anything", search_path=[str(tmp_path)]) is None
    assert callables.check("big:anything", search_path=[str(tmp_path)]) is None
    monkeypatch.setattr(callables, "MAX_SOURCE_BYTES", 1 << 30)
    assert callables.check("big:anything", search_path=[str(tmp_path)]) is not None


def test_a_module_named_many_times_is_parsed_once(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text("def f(t):\n    return 1\n")
    before = callables._bindings.cache_info().misses
    for _ in range(20):
        assert callables.check("one:f", search_path=[str(tmp_path)]) is None
    assert callables._bindings.cache_info().misses == before + 1


def test_modules_already_imported_under_a_parent_are_found() -> None:
    assert callables.check("os.path:join", search_path=[]) is None  # os registers os.path when it runs
    problem = callables.check("os.path:nope", search_path=[])
    assert problem is not None and "has no attribute 'nope'" in problem.message


def _dist(where: Path, entry_points: str | None) -> Path:
    info = where / "demo-1.0.dist-info"
    info.mkdir()
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)
    return info / "entry_points.txt"


def test_entry_points_are_read_from_metadata_and_never_loaded(tmp_path: Path) -> None:
    _package(tmp_path)
    _dist(tmp_path, "[cascadepolicy.guardrails]\nmine = pkg.sub:f\nbroken = pkg.sub:nope\nwhole = pkg.sub\n")
    search = [str(tmp_path)]
    assert callables.check("mine", entry_points=True, search_path=search) is None
    broken = callables.check("broken", entry_points=True, search_path=search)
    assert broken is not None and "has no attribute 'nope'" in broken.message
    whole = callables.check("whole", entry_points=True, search_path=search)
    assert whole is not None and "not a function" in whole.message
    missing = callables.check("mien", entry_points=True, search_path=search)
    assert missing is not None and "entry point" in missing.message and missing.hint == "did you mean 'mine'?"
    assert callables.check("mine", search_path=search) is not None  # validators take no entry points
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_planted_metadata_cannot_hang_the_entry_point_lookup(tmp_path: Path) -> None:
    os.mkfifo(_dist(tmp_path, None))
    other = tmp_path / "other"
    other.mkdir()
    (_dist(other, None)).symlink_to("/dev/zero")
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(
        callables.check("mine", entry_points=True, search_path=[str(tmp_path), str(other)])), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the lookup read a FIFO or a device"
    assert isinstance(outcome[0], callables.CallableProblem)


def test_no_other_module_imports_by_name() -> None:
    """`callables.resolve` is the one place where a name from a policy is imported."""
    pattern = re.compile(r"import_module\(|__import__\(|\.load\(\)|pydoc\.locate|find_spec\((?!\"litellm\"\))")
    offenders = []
    for path in sorted((ROOT / "cascadepolicy").rglob("*.py")):
        if path.name == "callables.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
