"""The condition compiler: what it accepts, what it refuses, how it evaluates."""

from __future__ import annotations

import pytest

from cascadepolicy.diagnostics import Location
from cascadepolicy.errors import ConditionError
from cascadepolicy.language.conditions import BUILTIN_FIELDS, FieldType, compile_condition

FIELDS = {**BUILTIN_FIELDS, "user.tier": FieldType("string", ("free", "pro")), "metadata.n": FieldType("integer")}
AT = Location("p.yaml", 7, 12)
VALUES = {"user.tier": "free", "user.id": "admin-7", "request.tokens": 5000, "request.domain": "math",
          "request.complexity": "hard", "metadata.n": 3, "metadata.tags": ("a", "b")}


@pytest.mark.parametrize(("text", "expected"), [
    ("user.tier == 'free' and request.tokens > 4000", True),
    ("user.tier in ['pro']", False),
    ("not (request.domain == 'code')", True),
    ("1 < metadata.n < 5", True),
    ("metadata.n * 2 + 1 == 7", True),
    ("startswith(user.id, 'admin')", True),
    ("len(user.id) >= 7 and lower('X') == 'x'", True),
    ("contains(metadata.tags, 'b')", True),
    ("'a' in metadata.tags", True),
    ("request.tokens // 1000 == 5", True),
    ("max(metadata.n, 10) if user.tier == 'free' else 0", True),
    ("request.complexity not in ('trivial', 'simple')", True),
])
def test_evaluation(text: str, expected: bool) -> None:
    condition, problems = compile_condition(text, FIELDS, AT)
    assert problems == [] and condition is not None
    assert condition.evaluate(VALUES) is expected


def test_names_are_recorded_for_explain() -> None:
    condition, _ = compile_condition("user.tier == 'free' or metadata.n > 1", FIELDS, AT)
    assert condition is not None
    assert condition.names == frozenset({"user.tier", "metadata.n"})
    assert condition.trace({"user.tier": "pro"}) == {"metadata.n": "<missing>", "user.tier": "pro"}


def test_a_missing_value_fails_closed() -> None:
    condition, _ = compile_condition("metadata.n > 1", FIELDS, AT)
    assert condition is not None
    with pytest.raises(ConditionError, match=r"no value for `metadata\.n`"):
        condition.evaluate({})


def test_runtime_errors_become_condition_errors() -> None:
    condition, _ = compile_condition("metadata.n / 0 > 1", FIELDS, AT)
    assert condition is not None
    with pytest.raises(ConditionError):
        condition.evaluate(VALUES)


def test_huge_power_is_refused_at_run_time() -> None:
    condition, _ = compile_condition("metadata.n ** 999999999 > 1", FIELDS, AT)
    assert condition is not None
    with pytest.raises(ConditionError):
        condition.evaluate(VALUES)


@pytest.mark.parametrize(("text", "code", "column"), [
    ("request.tokens >", "expr-syntax", 28),
    ("user.tierr == 'free'", "expr-unknown-name", 12),
    ("request.tokens > 1 and plan == 'x'", "expr-unknown-name", 35),
    ("user.tier == 'gold'", "expr-enum-value", 25),
    ("user.tier in ['free', 'gold']", "expr-enum-value", 34),
    ("user.id.__len__() > 1", "expr-forbidden", 12),
    ("user.__class__", "expr-forbidden", 12),
    ("metadata.tags[0] == 'a'", "expr-forbidden", 12),
    ("open('x')", "expr-unknown-function", 12),
    ("len(s=1) == 1", "expr-forbidden", 12),
    ("{'a': 1} == 1", "expr-forbidden", 12),
    ("request.tokens is None", "expr-forbidden", 12),
    ("request.tokens & 1", "expr-forbidden", 12),
    ("(x := 1)", "expr-forbidden", 13),
    ("f'{user.id}' == 'a'", "expr-forbidden", 12),
    ("b'x' == 1", "expr-forbidden", 12),
    ("x" * 2001, "expr-too-complex", 12),
    ("  user.tierr == 'free'", "expr-unknown-name", 14),  # leading blanks count
])
def test_refused(text: str, code: str, column: int) -> None:
    condition, problems = compile_condition(text, FIELDS, AT)
    assert condition is None
    assert [(p.code, p.location.line, p.location.column) for p in problems if p.location] == [(code, 7, column)]


def test_did_you_mean_for_names_and_functions() -> None:
    _, problems = compile_condition("request.tokns > 1", FIELDS, AT)
    assert problems[0].hint == "did you mean 'request.tokens'?"
    _, problems = compile_condition("lenn(user.id) > 1", FIELDS, AT)
    assert problems[0].hint == "did you mean 'len'?"
