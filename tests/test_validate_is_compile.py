"""Validate = compile: what `validate` accepts, `policy.engine()` builds, and every problem is located.

The example policies are taken with hostile parameters put into a validator
set and a guardrail of every kind: bad, huge and backtracking regular
expressions, JSON Schemas that are not schemas or reach outside themselves,
huge and non-finite numbers, wrong types, empty and blank lists, unknown keys.
For each generated policy:

- `validate` never raises, and every error it reports has a `file:line:col`;
- the loader reports a `check-*` diagnostic at a validator exactly when that
  validator cannot be compiled (the engine's own compile, `compile_check`);
- a policy that validates builds an engine, and every check of it scores a
  hostile draft without raising.

Before this, `validate` accepted `pattern: "("`, `schema: {type: nonsense}`
and `min_chars: 10, max_chars: 5`, and `engine()` then raised (some with a raw
ValueError).
"""

from __future__ import annotations

import copy
import time
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cascadepolicy.language import model as lang
from cascadepolicy.language.model_paths import unwrap
from cascadepolicy.loading.loader import check_text
from cascadepolicy.loading.schema_check import check_schema
from cascadepolicy.loading.source import parse_yaml
from cascadepolicy.quality.base import Draft, ParamError
from cascadepolicy.quality.composite import score_draft
from cascadepolicy.quality.registry import CHECKS, compile_check
from cascadepolicy.state import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
POLICIES = sorted(p for p in (ROOT / "policies").glob("*.yaml") if not p.name.endswith("_test.yaml"))
ENV = {"REDIS_URL": "redis://127.0.0.1:6379/0"}
GUARDRAILS: dict[str, type[lang.GuardrailBase]] = {
    typing.get_args(cls.model_fields["check"].annotation)[0]: cls for cls in typing.get_args(typing.get_args(lang.Guardrail)[0])
}
CHECK_CODES = {"check-regex", "check-json-schema", "check-params"}

NUMBERS: list[Any] = [0, 1, -1, 0.5, 2, 7, 1e-6, 10**12, 10**13, 2**63, 10**400, -(10**400), 1e308, -1e308,
                      float("inf"), float("-inf"), float("nan")]
OTHERS: list[Any] = [None, True, False, "", " ", "x", "0.5", "1e400", [], [""], ["  ", "\t"], ["a"], [1, "b"], {}, {"a": [1]}]
PATTERNS: list[str] = [
    "(", ")", "[", "a{2,1}", "(?P<a>x)(?P<a>y)", "(?<=a+)b", "\\", "*", "(?", "\\p{L}", "(?V1)[[a]--[b]]",
    "((a{100}){100}){100}", "(?:a{1000}){1000}", "(a|aa)+$", "(x+x+)+y", "^(\\w+\\s?)*$", "(\\d+)", "#### (\\d+)",
    "a" * 1001, "(" * 200 + ")" * 200, "\u202e(\\S+)", "(?i)answer: (.*)",
]
SCHEMAS: list[Any] = [
    {"type": "nonsense"}, {"$ref": "http://127.0.0.1:9/schema.json"}, {"$ref": "file:///etc/passwd"}, {"$ref": "other.json"},
    {"$ref": "#/nowhere"}, {"$ref": "#"}, {"$schema": "https://example.com/unknown-draft"}, {"properties": "x"},
    {"pattern": "("}, {"type": ["string", 5]}, {"minimum": "x"}, {"$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a"},
    {"$id": "https://example.com/s", "properties": {"a": {"$ref": "#/nowhere"}}}, {"items": [{"type": "string"}]},
    {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "integer"}}}, {"$dynamicRef": "#meta"},
    {"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"a": {}}, "$ref": "#/definitions/a"},
]
DRAFTS = ["", "a" * 40 + "b", "I think maybe 2 + 2 = 5.\n#### 5", '```json\n{"answer": 4}\n```', "As an AI, I cannot help."]


def hostile_value(name: str, annotation: Any) -> st.SearchStrategy[Any]:
    """Mostly values of the parameter's own type at their edges (so most policies reach the compile), sometimes anything."""
    typed: list[Any] = []
    for alternative in unwrap(annotation):
        origin = typing.get_origin(alternative)
        if alternative is bool:
            typed += [True, False]
        elif alternative is int:
            typed += [0, 1, 2, 40, 10**12, 10**13]
        elif alternative is float:
            typed += [0.0, 0.5, 1.0, -1.0, 1e-6, 10.0, 1e308, -1e308]
        elif alternative is str:
            typed += PATTERNS if name in ("pattern", "answer_pattern") else ["", "x", "Be brief.", "os:getcwd", "1s"]
        elif origin is typing.Literal:
            typed += list(typing.get_args(alternative))
        elif origin is tuple:
            typed += [[], ["maybe"], ["  "], ["rounded", "however"], [1, 2.5], [1e308, -0.0]]
        elif origin is dict:
            typed += SCHEMAS if name == "schema" else [{}, {"a": 1}]
        elif alternative is type(None):
            typed.append(None)
    generic = st.sampled_from(NUMBERS + OTHERS + PATTERNS[:3] + SCHEMAS[:2])
    return st.one_of(st.sampled_from(typed), st.sampled_from(typed), st.sampled_from(typed), generic) if typed else generic


@st.composite
def entries(draw: st.DrawFn, kind: str, model: type[lang.Strict], fixed: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"check": kind, **fixed}
    fields = {(info.alias or name): info for name, info in model.model_fields.items() if name != "check" and (info.alias or name) not in fixed}
    for name in draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=3)) if fields else ():
        entry[name] = draw(hostile_value(name, fields[name].annotation))
    required = [(info.alias or name) for name, info in model.model_fields.items() if info.is_required()]
    for name in required:  # usually present, so that most examples get past the schema to the compile
        if name not in entry and draw(st.integers(0, 9)) < 9:
            entry[name] = draw(st.sampled_from(_plausible(name)))
    if draw(st.integers(0, 19)) == 19:
        entry["unknwon"] = 1
    return entry


def _plausible(name: str) -> list[Any]:
    return {"pattern": ["#### \\d+", "("], "model": ["small", "nope"], "function": ["os:getcwd"], "id": ["g"],
            "stage": ["output", "input"], "action": ["block", "warn", "escalate"]}.get(name, [1])


@st.composite
def hostile_policies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    path = draw(st.sampled_from(POLICIES))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    kinds = draw(st.lists(st.sampled_from(sorted(CHECKS)), min_size=1, max_size=3))
    checks = [draw(entries(kind, CHECKS[kind], {})) for kind in kinds]
    models = list(data["models"])
    for check in checks:
        if check["check"] == "judge" and check.get("model") == "small":
            check["model"] = models[0]
    validators = data.setdefault("validators", {}) or {}
    data["validators"] = validators
    validators["hostile"] = checks
    guard_kind = draw(st.sampled_from(sorted(GUARDRAILS)))
    guard = draw(entries(guard_kind, GUARDRAILS[guard_kind], {"id": "hostile-guard", "stage": "output", "action": "warn"}))
    if guard_kind == "grounding" and guard.get("judge") is not None:
        guard["judge"] = models[0]
    data["guardrails"] = [*(data.get("guardrails") or []), guard]
    # and any other number or text of the policy (models, prices, budgets, windows, store) at an edge
    leaves = [leaf for leaf in _leaves(data, ()) if leaf[0] not in ("validators", "guardrails", "version", "routes")]
    for leaf in draw(st.lists(st.sampled_from(leaves), unique=True, max_size=3)):
        current = _get(data, leaf)
        edge = EDGES[type(current).__name__] if type(current).__name__ in EDGES else OTHERS
        _set(data, leaf, draw(st.sampled_from(edge)))
    return path.name, data


EDGES: dict[str, list[Any]] = {
    "int": [0, 1, -1, 10**6, 10**12, 10**13, 2**63, 10**400],
    "float": [0.0, 1e-9, 0.999999, 1.0, 1e9, 1e308, float("inf"), float("nan"), -0.0],
    "str": ["", "x", "0s", "1ms", "3650d", "3651d", "99999999999999d", "UTC", "Europe/Atlantis", "../../etc/passwd",
            "gpt-4o-mini", "unknown/model-xyz", "month", "a" * 200],
    "bool": [True, False, None],
}


def _leaves(node: Any, path: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in _leaves(value, (*path, key))]
    if isinstance(node, list):
        return [leaf for index, value in enumerate(node) for leaf in _leaves(value, (*path, index))]
    return [path]


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_policies())
def test_what_validate_accepts_the_engine_builds(case: tuple[str, dict[str, Any]]) -> None:
    name, data = case
    text = _dump(data)
    result = check_text(text, name, environ=ENV, base_dir=ROOT / "policies")
    errors = result.errors
    assert all(d.location is not None for d in errors), [d.format() for d in errors if d.location is None]

    # The loader reports a check-* diagnostic at a validator exactly when the engine's compile refuses it.
    document, problems = parse_yaml(text, name)
    assert document is not None and not problems
    spec, _ = check_schema(document.data, document.source_map)
    if spec is not None:
        failing = set()
        for set_name, checks in spec.validators.items():
            for index, check in enumerate(checks):
                try:
                    compile_check(check)
                except ParamError:
                    failing.add(f"validator set {set_name!r}, check {index + 1} (")
        reported = {d.message[:d.message.index("(") + 1] for d in errors if d.code in CHECK_CODES}
        assert reported == failing

    if result.policy is None:
        assert errors
        return
    engine = result.policy.engine(store=MemoryStore(), decision_log=None, offline=True)
    for name_ in result.policy.spec.validators:
        built = engine.linker.validators(name_)  # the engine's linked checks: what runs on drafts
        for text_ in DRAFTS:
            score_draft(built, Draft(text_, "What is 2 + 2? Give 3 numbers: 1, 2, 3.", [-0.5, -2.0], "simple"))


@pytest.mark.parametrize(("entry", "code", "column"), [
    ('{check: regex, pattern: "("}', "check-regex", 29),
    ('{check: regex, pattern: "((a{100}){100}){100}"}', "check-regex", 29),
    ('{check: answer_format, answer_pattern: "#### \\\\d+"}', "check-regex", 44),
    ('{check: json, schema: {type: nonsense}}', "check-json-schema", 35),
    ('{check: json, schema: {$ref: "https://example.com/s.json"}}', "check-json-schema", 35),
    ('{check: json, schema: {$ref: "#/$defs/missing"}}', "check-json-schema", 35),
    ('{check: length, min_chars: 10, max_chars: 5}', "check-params", 32),
])
def test_what_engine_used_to_raise_is_a_located_diagnostic(entry: str, code: str, column: int) -> None:
    text = ("version: 1\nname: t\nmodels: {m: {model: gpt-4o-mini}}\n"
            f"validators:\n  v:\n    - {entry}\n"
            "cascades:\n  c: [{model: m, accept: {validators: v, min_score: 0.5}}, {model: m}]\n"
            "routes: [{default: {cascade: c}}]\n")
    result = check_text(text, "t.yaml", environ={})
    assert [(d.code, d.location.line if d.location else 0) for d in result.errors] == [(code, 6)]
    assert result.errors[0].location is not None and result.errors[0].location.column >= column - 6


def test_a_backtracking_pattern_is_stopped_and_fails_closed() -> None:
    from cascadepolicy.quality import build_check

    check = build_check("regex", {"pattern": "(a|aa)+$"})
    started = time.perf_counter()
    result = check(Draft("a" * 60 + "b", "q"))  # with `re` this takes longer than the age of the universe
    assert time.perf_counter() - started < 5
    assert not result.passed and "not decided" in result.detail
    assert build_check("regex", {"pattern": "(a|aa)+$"})(Draft("aaaa", "q")).passed  # ordinary text still matches


def test_a_json_schema_never_reads_a_file_or_the_network(tmp_path: Path) -> None:
    from cascadepolicy.quality import build_check

    with pytest.raises(ValueError, match="refers outside itself"):
        build_check("json", {"schema": {"$ref": (tmp_path / "s.json").as_uri()}})
    check = build_check("json", {"schema": {"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}})
    assert check(Draft('{"a": 1}', "q")).passed and not check(Draft('{"a": "x"}', "q")).passed


def test_a_json_schemas_own_patterns_are_bounded_too() -> None:
    from cascadepolicy.quality import build_check

    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a|aa)+$"}},
              "patternProperties": {"^x(a|aa)+$": {"type": "integer"}}, "additionalProperties": False}
    check = build_check("json", {"schema": schema})
    for answer in ('{"a": "' + "a" * 60 + 'b"}', '{"x' + "a" * 60 + 'b": 1}'):
        started = time.perf_counter()
        result = check(Draft(answer, "q"))
        assert time.perf_counter() - started < 5 and not result.passed and "not decided" in result.detail
    assert check(Draft('{"a": "aaa", "xaa": 1}', "q")).passed
    assert not check(Draft('{"a": "aaa", "zz": 1}', "q")).passed
    with pytest.raises(ValueError, match="counted repeats"):
        build_check("json", {"schema": {"patternProperties": {"((a{100}){100}){100}": {}}}})


def test_an_answer_pattern_whose_group_does_not_take_part_states_no_answer() -> None:
    from cascadepolicy.quality import build_check

    for kind in ("answer_format", "consistency"):  # found by the property test: `last.group(1).strip()` on None
        result = build_check(kind, {"answer_pattern": "^(\\w+\\s?)*$"})(Draft("2 + 2 = 4 so the answer is 4!", "q"))
        assert result.check == kind
    assert not build_check("answer_format", {"answer_pattern": "answer(: \\d+)?"})(Draft("no answer", "q")).passed


def test_a_json_schema_with_a_list_builds_an_engine() -> None:
    """The policy model holds YAML lists as tuples; jsonschema calls only lists arrays. Before, any `required: [...]`
    made `engine()` fail with "('answer',) is not of type 'array'" after `validate` had passed."""
    text = ("version: 1\nname: t\nmodels: {m: {model: gpt-4o-mini}}\n"
            "validators:\n  v: [{check: json, schema: {type: object, required: [answer], properties: {answer: {enum: [1, 2]}}}}]\n"
            "cascades:\n  c: [{model: m, accept: {validators: v, min_score: 0.5}}, {model: m}]\nroutes: [{default: {cascade: c}}]\n")
    result = check_text(text, "t.yaml", environ={})
    assert result.policy is not None, [d.format() for d in result.errors]
    engine = result.policy.engine(store=MemoryStore(), decision_log=None, offline=True)
    [(check, _, _)] = engine.linker.validators("v")
    assert check(Draft('{"answer": 2}', "q")).passed and not check(Draft('{"answer": 3}', "q")).passed


# ---------------------------------------------------------------- what only building an engine can find

CUSTOM = ("version: 1\nname: t\nmodels: {m: {model: gpt-4o-mini}}\n"
          "guardrails:\n  - {id: g, stage: input, check: custom, function: \"{guard}\", action: block}\n"
          "validators:\n  v: [{check: custom, function: \"{check}\"}]\n"
          "cascades:\n  c: [{model: m, accept: {validators: v, min_score: 0.5}}, {model: m}]\n"
          "routes: [{default: {cascade: c}}]\n")


@pytest.mark.parametrize(("broken", "line"), [("guard", 5), ("check", 7)])
def test_a_custom_function_whose_module_fails_to_import_is_a_located_policy_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str, line: int) -> None:
    """`validate` locates a `module:function` without running the module; only `engine()` imports it. A module
    whose own code fails is then a ref-custom-callable diagnostic at the reference, for a guardrail's function
    as for a validator's. Before, a custom guardrail's raised a raw CallableProblem from the guardrail runner."""
    from cascadepolicy.errors import PolicyError

    (tmp_path / "fine_mod_12_6.py").write_text("def f(text, **params):\n    return False\n")
    (tmp_path / "broken_mod_12_6.py").write_text("raise RuntimeError('boom at import')\n\ndef f(text, **params):\n    return False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    refs = {"guard": "fine_mod_12_6:f", "check": "fine_mod_12_6:f", broken: "broken_mod_12_6:f"}
    text = CUSTOM.replace("{guard}", refs["guard"]).replace("{check}", refs["check"])
    result = check_text(text, "t.yaml", environ={})
    assert result.policy is not None and not result.errors, [d.format() for d in result.errors]
    with pytest.raises(PolicyError) as raised:
        result.policy.engine(store=MemoryStore(), decision_log=None)
    [diagnostic] = raised.value.diagnostics
    assert diagnostic.code == "ref-custom-callable"
    assert "RuntimeError: boom at import" in diagnostic.message
    column = text.splitlines()[line - 1].index('"broken_mod_12_6:f"') + 1  # the reference itself
    assert diagnostic.location is not None and (diagnostic.location.line, diagnostic.location.column) == (line, column)


def test_a_sqlite_store_whose_directory_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    """The path names a file, so it validates (validate never touches the file system); `engine()` cannot create its
    directory because a file is in the way. Before, a raw NotADirectoryError/FileExistsError escaped from os.makedirs."""
    from cascadepolicy.errors import StoreError

    (tmp_path / "taken").write_text("a file, not a directory")
    path = tmp_path / "taken" / "state" / "cascade.db"
    text = ("version: 1\nname: t\nmodels: {m: {model: gpt-4o-mini}}\n"
            f"store: {{kind: sqlite, path: '{path}'}}\nroutes: [{{default: {{model: m}}}}]\n")
    result = check_text(text, "t.yaml", environ={})
    assert result.policy is not None and not result.errors, [d.format() for d in result.errors]
    with pytest.raises(StoreError) as raised:
        result.policy.engine(decision_log=None)
    message = str(raised.value)
    assert message.startswith("t.yaml:4:") and repr(str(path.parent)) in message and "store.path" in message
