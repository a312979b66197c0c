"""`${VAR}` interpolation: forms, defaults, errors at their exact column."""

from __future__ import annotations

from pathlib import Path

import pytest

from cascadepolicy.loading.loader import check_file, check_text
from cascadepolicy.loading.source import parse_yaml

CASES = Path(__file__).resolve().parent.parent / "cases"


def _interpolated(value: str, environ: dict[str, str]) -> tuple[object, list[str]]:
    from cascadepolicy.loading.interpolate import interpolate

    document, _ = parse_yaml(f"key: {value}\n", "t.yaml")
    assert document is not None
    data, diagnostics = interpolate(document.data, document.source_map, environ)
    return data["key"], [f"{d.code}@{d.location.column}" for d in diagnostics if d.location]


@pytest.mark.parametrize(("value", "environ", "expected"), [
    ("${A}", {"A": "x"}, "x"),
    ("${A:-d}", {}, "d"),
    ("${A:-d}", {"A": ""}, "d"),           # empty counts as unset for :-
    ("${A:-d}", {"A": "set"}, "set"),
    ("${A:?must}", {"A": "v"}, "v"),
    ("${A:-}", {}, ""),
    ("pre-${A}-${B:-b}-post", {"A": "a"}, "pre-a-b-post"),
    ("$${A}", {"A": "x"}, "${A}"),         # escaped
    ("cost: $5", {}, "cost: $5"),          # a lone $ is text
    ("${A:-http://h:1/x}", {}, "http://h:1/x"),
])
def test_forms(value: str, environ: dict[str, str], expected: str) -> None:
    quoted = f"'{value}'"
    assert _interpolated(quoted, environ) == (expected, [])


@pytest.mark.parametrize(("value", "environ", "expected"), [
    ("${MISSING}", {}, ["env-unset@6"]),
    ("'${MISSING}'", {}, ["env-unset@7"]),             # the quote is skipped
    ("'ab ${MISSING}'", {}, ["env-unset@10"]),
    ("${A:?needed}", {"A": ""}, ["env-unset@6"]),       # empty fails :? too
    ("${1X}", {}, ["env-syntax@6"]),
    ("${}", {}, ["env-syntax@6"]),
    ("'${A} ${B}'", {}, ["env-unset@7", "env-unset@12"]),
])
def test_errors_point_at_the_reference(value: str, environ: dict[str, str], expected: list[str]) -> None:
    assert _interpolated(value, environ)[1] == expected


def test_required_message_is_shown() -> None:
    result = check_file(CASES / "invalid" / "env-unset-required-message.yaml", environ={})
    assert result.diagnostics[0].message.endswith("point it at the shared Redis")


def test_interpolated_policy_uses_defaults_and_environment() -> None:
    path = CASES / "valid" / "interpolation.yaml"
    policy = check_file(path, environ={}).policy
    assert policy is not None
    assert policy.spec.name == "interpolated"
    assert policy.spec.description == "costs are shown as ${amount} in the UI"
    assert policy.spec.models["main"].api_base == "https://api.openai.com/v1"
    assert policy.spec.store.path == ".cascadepolicy/interp.db"  # type: ignore[union-attr]
    policy = check_file(path, environ={"POLICY_NAME": "prod", "MAIN_MODEL": "gpt-4o", "STATE_DIR": "/var/lib/cp"}).policy
    assert policy is not None
    assert (policy.spec.name, policy.spec.models["main"].model) == ("prod", "gpt-4o")
    assert policy.spec.store.path == "/var/lib/cp/interp.db"  # type: ignore[union-attr]


def test_keys_are_not_interpolated() -> None:
    result = check_text("version: 1\nname: k\nmodels:\n  ${X}: {model: gpt-4o-mini}\nroutes:\n  - default: {model: m}\n",
                        environ={})
    assert [d.code for d in result.diagnostics] == ["schema-pattern"]
