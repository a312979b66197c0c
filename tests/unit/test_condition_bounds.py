"""Conditions are bounded in their results: caps on integers, strings and lists.

A constant part over a cap is an `expr-too-complex` diagnostic at its column;
a part that reads the request fails at run time with a ConditionError, which
the engine hands to the route's `on_error`.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import pytest

import cascadepolicy
from cascadepolicy.diagnostics import Location
from cascadepolicy.errors import ConditionError
from cascadepolicy.language import condition_ops as ops
from cascadepolicy.language.conditions import (
    _BINOPS,
    BUILTIN_FIELDS,
    FUNCTIONS,
    FieldType,
    compile_condition,
)
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.state import MemoryStore

FIELDS = {**BUILTIN_FIELDS, "metadata.s": FieldType("string"), "metadata.n": FieldType("integer"), "metadata.x": FieldType("number")}
AT = Location("p.yaml", 7, 12)
VALUES: dict[str, Any] = {"request.tokens": 10, "user.id": "u-1", "metadata.s": "%0999999999d", "metadata.n": 3, "metadata.x": 2.5}


def _compile(text: str) -> Any:
    condition, problems = compile_condition(text, FIELDS, AT)
    return condition, [(p.code, p.location.column if p.location else None) for p in problems]


@pytest.mark.parametrize(("text", "column"), [
    ("4000000**4000000 > 1", 12),
    ("request.tokens > 1 and 9 ** 9 ** 9 > 1", 35),
    ("request.tokens > 2 ** 4096", 29),
    ("'ab' * 10**9 == user.id", 12),
    ("(1, 2) * 10**6 == ()", 12),
    ("'x' * 60000 + 'y' * 60000 == user.id", 12),
    ("int('1' * 5000, 2) > request.tokens", 12),
    ("str(('x' * 20000,) * 9) == user.id", 12),
    ("upper('\u0390' * 40000) == user.id", 12),
    ("2.0 ** 5000 > request.tokens", 12),
    ("round(1.5, 10**6) == request.tokens", 12),
    ("request.tokens == 0x" + "f" * 1100, 30),
])
def test_a_constant_over_a_cap_is_an_error_at_its_column(text: str, column: int) -> None:
    condition, problems = _compile(text)
    assert condition is None and problems == [("expr-too-complex", column)]


def test_string_formatting_is_refused_when_written_and_when_read() -> None:
    assert _compile("'%0999999999d' % request.tokens == ''")[1] == [("expr-forbidden", 12)]
    condition, problems = _compile("metadata.s % request.tokens == ''")
    assert problems == []
    with pytest.raises(ConditionError, match="string formatting"):
        condition.evaluate(VALUES)


@pytest.mark.parametrize(("text", "message"), [
    ("(request.tokens + 3999990) ** 4000000 > 1", "4,096 bits"),
    ("request.tokens ** request.tokens ** request.tokens > 1", "4,096 bits"),
    ("user.id * (request.tokens * 10**8) == ''", "100,000"),
    ("(user.id,) * (request.tokens * 10**5) == ()", "10,000"),
    ("round(metadata.x, -request.tokens * 10**9) == 0", "1,000 digits"),
    ("round(request.tokens, 10**6) == 1", "1,000 digits"),
    ("metadata.x ** (request.tokens * 1000) > 1", "too large"),
])
def test_a_run_time_value_over_a_cap_fails_the_condition(text: str, message: str) -> None:
    condition, problems = _compile(text)
    assert problems == [] and condition is not None
    with pytest.raises(ConditionError, match=message):
        condition.evaluate(VALUES)


@pytest.mark.parametrize(("text", "expected"), [
    ("2 ** 4095 > 10 ** 1200", True),
    ("'ab' * 3 == 'ababab' and 2 * 'a' == 'aa'", True),
    ("(1, 2) + (3,) == (1, 2, 3)", True),
    ("int('42') + int('ff', 16) == 297 and int(2.9) == 2", True),
    ("round(2.567, 2) == 2.57 and round(1234, -2) == 1200", True),
    ("str(12) + str(1.5) == '121.5' and upper('stra\u00dfe') == 'STRASSE'", True),
    ("request.tokens % 3 == 1 and -request.tokens // 3 == -4 and request.tokens / 4 == 2.5", True),
    ("abs(-metadata.x) == 2.5 and metadata.n ** -1 < 1", True),
])
def test_values_within_the_caps_evaluate_as_in_python(text: str, expected: bool) -> None:
    condition, problems = _compile(text)
    assert problems == [] and condition is not None
    assert condition.evaluate(VALUES) is expected


def test_a_request_integer_over_the_cap_is_not_formatted() -> None:
    condition, _ = _compile("str(metadata.n) == ''")  # str(int) is quadratic in its digits
    with pytest.raises(ConditionError, match="4,096 bits"):
        condition.evaluate({**VALUES, "metadata.n": 2 ** 5000})


def test_arithmetic_takes_numbers_strings_and_lists_only() -> None:
    # A Fraction squared again and again would grow past every cap unseen.
    condition, _ = _compile("metadata.x * metadata.x > 0")
    with pytest.raises(ConditionError, match="does not apply"):
        condition.evaluate({**VALUES, "metadata.x": Fraction(3, 7)})


EXTREMES: list[Any] = [0, 1, -1, 2, 7, 4096, 2 ** 4095, -(2 ** 4095), 10 ** 9, 1.5, 1e308, -1e308, True,
                       "", "x", "x" * ops.MAX_STRING_LENGTH, (), (1,), tuple(range(ops.MAX_SEQUENCE_LENGTH)), "10", "1" * 2000]


def _size_ok(value: Any) -> bool:
    if isinstance(value, int):
        return value.bit_length() <= ops.MAX_INT_BITS
    if isinstance(value, str):
        return len(value) <= 3 * ops.MAX_STRING_LENGTH  # lower/upper may triple a text at the cap
    if isinstance(value, tuple):
        return len(value) <= ops.MAX_SEQUENCE_LENGTH
    return True


def test_every_operator_and_function_stays_within_the_caps_on_extreme_operands() -> None:
    failures = (ops.LimitExceeded, TypeError, ValueError, ZeroDivisionError, OverflowError)
    calls: list[tuple[str, Any, tuple[Any, ...]]] = [
        (type(op).__name__, fn, pair) for op, fn in _BINOPS.items() for pair in itertools.product(EXTREMES, repeat=2)]
    calls += [(name, fn, (value,)) for name, fn in FUNCTIONS.items() if name not in ("min", "max") for value in EXTREMES]
    calls += [(name, FUNCTIONS[name], pair) for name in ("round", "int", "startswith")
              for pair in itertools.product(EXTREMES, repeat=2)]
    oversized = []
    for name, fn, args in calls:
        try:
            result = fn(*args)
        except failures:
            continue
        if not _size_ok(result):
            oversized.append((name, [type(a).__name__ for a in args]))
    assert oversized == []


POLICY = """
version: 1
name: bounds
models:
  small: {model: gpt-4o-mini, max_tokens: 50}
  large: {model: gpt-4o, max_tokens: 50}
routes:
  - {when: "(request.tokens + 3999990) ** 4000000 > 1", model: large, ON_ERROR}
  - default: {model: small}
"""


@pytest.mark.parametrize(("on_error", "blocked"), [("", True), ("on_error: block", True), ("on_error: skip", False)])
def test_a_cap_hit_at_run_time_goes_through_on_error(on_error: str, blocked: bool) -> None:
    text = POLICY.replace(", ON_ERROR", f", {on_error}" if on_error else "")
    engine = cascadepolicy.loads(text, "bounds.yaml").engine(store=MemoryStore(), transport=MockTransport({"small": "ok", "large": "ok"}))
    result = engine.complete([{"role": "user", "content": "hello"}], user="u1")
    assert result.blocked is blocked
    if blocked:
        assert "4,096 bits" in result.reason and "bounds.yaml:8" in result.reason
    else:
        assert result.decision.route.index == 1 and "4,096 bits" in result.decision.route.tried[0]["error"]
