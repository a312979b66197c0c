"""Validate = compile, from the engine's side: whatever `engine()` does beyond the loader is done at validate time.

`policy.engine()` compiles the plan, builds every guardrail's detector, links
the validators and opens the store. The loader now runs the plan's compile
itself and checks what the rest needs (a guardrail backend's packages, the
store's options) without importing user code or opening a store, so:

- every policy that validates (examples, golden valid and warning cases)
  builds an engine;
- a failure of the plan's compile, a backend that is not installed, a Redis
  URL redis-py cannot parse and a SQLite path that cannot name a file are
  located diagnostics; before, `validate` passed them and `engine()` raised
  (or refused every request).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cascadepolicy.compile import plan as plan_module
from cascadepolicy.guardrails import pii, toxicity
from cascadepolicy.language import model as lang
from cascadepolicy.loading.callables import without_imports
from cascadepolicy.loading.loader import LoadResult, check_file, check_text
from cascadepolicy.state import MemoryStore, open_store

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "tests" / "cases" / "valid").glob("*.yaml")) + sorted((ROOT / "tests" / "cases" / "warning").glob("*.yaml")) \
    + sorted(p for p in (ROOT / "policies").glob("*.yaml") if not p.name.endswith("_test.yaml"))
ENV = {"REDIS_URL": "redis://127.0.0.1:6379/0"}
BASE = "version: 1\nname: t\nmodels: {m: {model: gpt-4o-mini}, n: {model: gpt-4o}}\n"
CASCADE = "cascades:\n  c: [{model: m}, {model: n}]\nroutes: [{default: {cascade: c}}]\n"


def _codes(result: LoadResult) -> list[tuple[str, int, int]]:
    return [(d.code, d.location.line if d.location else 0, d.location.column if d.location else 0) for d in result.diagnostics]


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_policy_that_validates_builds_an_engine(path: Path) -> None:
    result = check_file(path, environ=ENV)
    assert result.policy is not None, [d.format() for d in result.errors]
    with without_imports():  # custom code is located by validate and imported only by a trusted engine
        engine = result.policy.engine(store=MemoryStore(), decision_log=None)
    assert engine.policy is result.policy


def test_validate_runs_the_plans_compile_and_locates_its_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure inside the plan's compile (a bug: the policy validated) is a diagnostic at the element, not a crash
    of `engine()`; before, `validate` never compiled the plan."""
    real = plan_module._Compiler.step

    def failing(self: plan_module._Compiler, index: int, step: lang.Step, *rest: typing.Any) -> plan_module.PlannedStep:
        if step.model == "n":
            raise ZeroDivisionError("a step the compiler cannot plan")
        return real(self, index, step, *rest)

    monkeypatch.setattr(plan_module._Compiler, "step", failing)
    result = check_text(BASE + CASCADE, "t.yaml", environ={})
    assert result.policy is None
    assert _codes(result) == [("plan-compile", 5, 19)]  # the cascade's second step, `{model: n}`
    assert "cascades.c.1 cannot be compiled" in result.errors[0].message and "ZeroDivisionError" in result.errors[0].message


@pytest.mark.parametrize(("rule", "module", "needs"), [
    ("{id: p, stage: input, check: pii, action: block, backend: presidio}", "presidio_analyzer", "presidio-analyzer"),
    ("{id: t, stage: output, check: toxicity, action: block, backend: ml}", "profanity_check", "alt-profanity-check"),
])
def test_a_guardrail_backend_that_is_not_installed_is_located(rule: str, module: str, needs: str) -> None:
    """Before, the policy validated and built an engine whose every scan raised DetectorUnavailable (fail closed)."""
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{needs} is installed here")
    result = check_text(BASE + CASCADE + f"guardrails:\n  - {rule}\n", "t.yaml", environ={})
    column = len("  - ") + rule.index("backend: ") + len("backend: ") + 1
    assert _codes(result) == [("guardrail-backend", 8, column)]
    assert needs in result.errors[0].message and result.errors[0].hint


def test_a_backend_is_located_never_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = BASE + CASCADE + "guardrails:\n  - {id: t, stage: output, check: toxicity, action: block, backend: ml}\n"
    monkeypatch.setattr(sys, "path", [p for p in sys.path if importlib.machinery.PathFinder.find_spec("profanity_check", [p]) is None])
    assert [d.code for d in check_text(text, "t.yaml", environ={}).diagnostics] == ["guardrail-backend"]
    package = tmp_path / "profanity_check"
    package.mkdir()
    (package / "__init__.py").write_text("raise SystemExit('imported at validate')\ndef predict_prob(texts): ...\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = check_text(text, "t.yaml", environ={})
    assert result.diagnostics == [] and result.policy is not None
    assert "profanity_check" not in sys.modules


def test_build_scan_cannot_fail_on_a_schema_valid_pii_or_toxicity_rule() -> None:
    """The detectors' own refusals (an unknown entity or backend) cannot be reached: the language allows exactly theirs."""
    fields = lang.PiiGuardrail.model_fields
    entities = set(typing.get_args(typing.get_args(fields["entities"].annotation)[0]))
    assert entities == set(pii.PII_ENTITIES)
    for backend in typing.get_args(fields["backend"].annotation):
        pii.scanner(tuple(entities), backend=backend)  # builds (presidio loads on the first scan)
    for backend in typing.get_args(lang.ToxicityGuardrail.model_fields["backend"].annotation):
        if backend == "lexicon":
            toxicity.scan("fine", backend=backend)
        else:
            assert backend == "ml"  # the other one: checked by guardrail-backend


@pytest.mark.parametrize(("url", "says"), [
    ("http://cache:6379/0", "schemes"),
    ("redis://cache:port/0", "Port"),
    ("redis://cache/0?socket_timeout=soon", "socket_timeout"),
    ("redis://cache/0?no_such_option=1", "no_such_option"),
    ("redis://cache/0?max_connections=-1", "max_connections"),
    ("redis://cache/0?protocol=9", "protocol"),
])
def test_a_redis_url_redis_cannot_parse_is_located(url: str, says: str) -> None:
    text = BASE + CASCADE + f"store: {{kind: redis, url: '{url}'}}\n"
    result = check_text(text, "t.yaml", environ={})
    assert _codes(result) == [("store-invalid", 7, 27)]
    assert says in result.errors[0].message
    # what the store would meet: redis-py refuses the URL when the pool or its first connection is made
    import redis

    with pytest.raises(Exception):  # noqa: B017 - ValueError, TypeError or redis' own, as the store would see
        redis.Redis.from_url(url).connection_pool.make_connection()


def test_a_valid_redis_url_validates_and_a_password_from_the_environment_is_never_shown() -> None:
    assert check_text(BASE + CASCADE + "store: {kind: redis, url: 'rediss://:pw@cache:6380/2?socket_timeout=1.5'}\n",
                      "t.yaml", environ={}).diagnostics == []
    result = check_text(BASE + CASCADE + "store: {kind: redis, url: '${REDIS_URL}'}\n", "t.yaml",
                        environ={"REDIS_URL": "redis://:hunter2secret@cache:notaport/0"})
    assert [d.code for d in result.errors] == ["store-invalid"]
    assert "hunter2secret" not in result.errors[0].format()


@pytest.mark.parametrize(("path", "says"), [
    ("state/", "directory"),
    ("..", "directory"),
    ("db/.", "directory"),
    ("a\\0b.db", "NUL"),
    ("x" * 300 + ".db", "file names"),
    ("/".join(["d" * 200] * 25) + "/s.db", "paths are limited"),
])
def test_a_sqlite_path_that_cannot_name_a_database_is_located(path: str, says: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    result = check_text(BASE + CASCADE + f'store: {{kind: sqlite, path: "{path}"}}\n', "t.yaml", environ={})
    assert _codes(result) == [("store-invalid", 7, 29)]
    assert says in result.errors[0].message
    # what engine() would meet opening it (as the engine does: make the directory, then open)
    monkeypatch.chdir(tmp_path)
    real = path.replace("\\0", "\0")
    with pytest.raises(Exception):  # noqa: B017 - OSError, ValueError or the store's error
        if os.path.dirname(real):
            os.makedirs(os.path.dirname(real), exist_ok=True)
        open_store("sqlite", path=real)


def test_ordinary_sqlite_paths_validate_and_a_directory_does_not() -> None:
    def codes(path: str) -> list[str]:
        return [d.code for d in check_text(BASE + CASCADE + f"store: {{kind: sqlite, path: '{path}'}}\n", "t.yaml", environ={}).diagnostics]

    for path in (".cascadepolicy/state.db", "/var/lib/app/state.db", ":memory:", "state.db", "./x.db"):
        assert codes(path) == [], path
    assert codes(".cascadepolicy/") == ["store-invalid"]


SQLITE_PATHS = [".cascadepolicy/state.db", "state.db", "./s.db", "deep/er/s.db", "a b/ü.db", ":memory:", "state/", "..", ".",
                "db/..", "a\0b.db", "x" * 256 + ".db", "/".join(["d" * 250] * 17) + "/s.db"]
REDIS_URLS = ["redis://127.0.0.1:6379/0", "rediss://:pw@cache:6380/2?socket_timeout=1.5", "unix:///tmp/redis.sock?db=1",
              "redis://cache/0?health_check_interval=5&retry_on_timeout=yes", "http://cache:6379", "redis://cache:port",
              "redis://cache/0?socket_timeout=soon", "redis://cache/0?bogus=1", "redis://cache/0?protocol=4",
              "redis://cache/0?max_connections=0", "redis://cache/0?socket_keepalive=maybe", "redis:/cache", ""]
BACKENDS = [("pii", "builtin"), ("pii", "presidio"), ("toxicity", "lexicon"), ("toxicity", "ml")]
EXAMPLES = [p for p in CORPUS if p.parent.name == "policies"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLES), st.one_of(st.sampled_from(SQLITE_PATHS).map(lambda p: {"kind": "sqlite", "path": p}),
                                             st.sampled_from(REDIS_URLS).map(lambda u: {"kind": "redis", "url": u})),
       st.sampled_from(BACKENDS))
def test_what_validate_accepts_builds_an_engine_with_its_own_store(example: Path, store: dict[str, str],
                                                                    backend: tuple[str, str]) -> None:
    """With the policy's own store opened (in a scratch directory): a policy that validates builds an engine whose
    guardrails have their backends, and every policy refused is refused with a located store or backend diagnostic."""
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    data["store"] = store
    check, name = backend
    data["guardrails"] = [*(data.get("guardrails") or []),
                          {"id": "probe", "stage": "output", "check": check, "action": "warn", "backend": name}]
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    result = check_text(text, example.name, environ=ENV, base_dir=example.parent)
    if result.policy is None:
        assert {d.code for d in result.errors} <= {"store-invalid", "guardrail-backend", "schema-range"}, [d.format() for d in result.errors]
        assert all(d.location is not None for d in result.errors)
        return
    with tempfile.TemporaryDirectory() as scratch, _working_directory(Path(scratch)), \
            _environment(XDG_STATE_HOME=scratch), without_imports():
        engine = result.policy.engine(decision_log=None)  # opens the policy's own store
        try:
            if store["kind"] == "redis":  # redis-py connects lazily: make the connection the first request would
                import redis

                redis.Redis.from_url(store["url"]).connection_pool.make_connection()
            for guard in engine.guardrails.output:
                if guard.rule.id == "probe":
                    guard.scan("a plain answer", {})  # the backend is there: its scan answers (no DetectorUnavailable)
        finally:
            engine.store.close()


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
