"""The operators and functions of route conditions, each bounded in its result.

`cascadepolicy.language.conditions` compiles a condition into closures over these
functions. Each one that can make a value larger than its operands first
estimates the size of its result from the sizes of its operands (bits of an
integer, characters of a string, items of a list) and raises `LimitExceeded`
when the estimate is over a cap, before anything is computed. With at most
`conditions.MAX_NODES` operations per condition, every evaluation is bounded
in CPU and memory whatever the request carries. The compiler evaluates the
parts of a condition that read no request field once, at load time, so a
constant over a cap is an `expr-too-complex` diagnostic; at run time a
`LimitExceeded` becomes a `ConditionError`, handled by the route's
`on_error` (fail closed by default).

Arithmetic takes numbers (`int`, `float`, `bool`) only, plus `+` on two
strings or two lists and `*` between a string or list and an integer: other
types (Fractions, Decimals, sets from a caller's metadata) could grow without
these caps seeing them. `%` is arithmetic only: printf-style string
formatting (`'%0999999999d' % x`) is refused, and there is no format
function, so no format width reaches Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from cascadepolicy.errors import CascadePolicyError

MAX_INT_BITS = 4096  # any integer a condition computes (about 1,233 decimal digits)
MAX_STRING_LENGTH = 100_000  # characters of any string a condition builds
MAX_SEQUENCE_LENGTH = 10_000  # items of any list a condition builds with + or *
MAX_ROUND_DIGITS = 1000  # |ndigits| of round(x, ndigits): 10**1000 has 3,322 bits

_LOG2_10 = math.log2(10)


class LimitExceeded(CascadePolicyError, ValueError):
    """A result would exceed one of the caps above; nothing was computed."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, tuple | list)


def _type_name(value: Any) -> str:
    return "a string" if isinstance(value, str) else "a list" if _is_sequence(value) else f"a {type(value).__name__}"


def _refuse(op: str, a: Any, b: Any | None = None) -> TypeError:
    operands = _type_name(a) if b is None else f"{_type_name(a)} and {_type_name(b)}"
    return TypeError(f"`{op}` does not apply to {operands}")


def _check_bits(bits: float, op: str) -> None:
    if bits > MAX_INT_BITS:
        raise LimitExceeded(f"the result of `{op}` would have about {int(bits):,} bits; conditions compute integers of at most {MAX_INT_BITS:,} bits")


def _check_length(length: int, op: str, what: str = "string") -> None:
    cap = MAX_STRING_LENGTH if what == "string" else MAX_SEQUENCE_LENGTH
    if length > cap:
        unit = "characters" if what == "string" else "items"
        raise LimitExceeded(f"the result of `{op}` would be a {what} of {length:,} {unit}; conditions build {what}s of at most {cap:,}")


def _int_pair(a: Any, b: Any) -> bool:
    return isinstance(a, int) and isinstance(b, int)


def add(a: Any, b: Any) -> Any:
    if _int_pair(a, b):
        _check_bits(max(a.bit_length(), b.bit_length()) + 1, "+")
    elif _is_number(a) and _is_number(b):
        pass
    elif isinstance(a, str) and isinstance(b, str):
        _check_length(len(a) + len(b), "+")
    elif _is_sequence(a) and _is_sequence(b):
        _check_length(len(a) + len(b), "+", "list")
        return (*a, *b)
    else:
        raise _refuse("+", a, b)
    return a + b


def sub(a: Any, b: Any) -> Any:
    if _int_pair(a, b):
        _check_bits(max(a.bit_length(), b.bit_length()) + 1, "-")
    elif not (_is_number(a) and _is_number(b)):
        raise _refuse("-", a, b)
    return a - b


def mul(a: Any, b: Any) -> Any:
    if _int_pair(a, b):
        _check_bits(a.bit_length() + b.bit_length(), "*")
    elif _is_number(a) and _is_number(b):
        pass
    else:
        if isinstance(a, int) and not isinstance(b, int | float):
            a, b = b, a  # `3 * 'ab'` is `'ab' * 3`
        if not (isinstance(b, int) and isinstance(a, str | tuple | list)):
            raise _refuse("*", a, b)
        length = len(a) * max(b, 0)
        _check_length(length, "*", "string" if isinstance(a, str) else "list")
        return a * b if isinstance(a, str) else tuple(a) * b
    return a * b


def _numbers(op: str, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """An operator whose result is never larger than its operands: it only needs numbers."""
    def apply(a: Any, b: Any) -> Any:
        if not (_is_number(a) and _is_number(b)):
            if op == "%" and isinstance(a, str | bytes):
                raise TypeError("string formatting with `%` is not allowed in conditions")
            raise _refuse(op, a, b)
        return fn(a, b)
    return apply


truediv = _numbers("/", lambda a, b: a / b)
floordiv = _numbers("//", lambda a, b: a // b)
mod = _numbers("%", lambda a, b: a % b)


def power(a: Any, b: Any) -> Any:
    if not (_is_number(a) and _is_number(b)):
        raise _refuse("**", a, b)
    if _int_pair(a, b) and b > 0 and abs(a) > 1:
        # |a| >= 2, so the result has at least b bits; log2 takes ints of any size
        _check_bits(b if b > MAX_INT_BITS else b * math.log2(abs(a)) + 1, "**")
    try:
        result = a ** b
    except OverflowError:  # a float result beyond 1.8e308
        raise LimitExceeded("the result of `**` is too large for a floating-point number") from None
    if isinstance(result, complex):  # (-8) ** 0.5: outside the numbers conditions compare
        raise ValueError("the result of `**` is not a real number")
    return result


def neg(a: Any) -> Any:
    if not _is_number(a):
        raise _refuse("-", a)
    return -a


def pos(a: Any) -> Any:
    if not _is_number(a):
        raise _refuse("+", a)
    return +a


# ---------------------------------------------------------------- functions

def _text_bound(value: Any, depth: int = 0) -> int:
    """An upper bound of len(str(value)) (repr inside lists), found without building it."""
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:  # str(int) is quadratic in the digits
            raise LimitExceeded(f"str() of an integer of {value.bit_length():,} bits; conditions format integers of at most {MAX_INT_BITS:,} bits")
        return int(value.bit_length() / _LOG2_10) + 2
    if isinstance(value, float):
        return 24
    if isinstance(value, str):
        return len(value) if depth == 0 else 10 * len(value) + 2  # repr: \U0001f600 is 10 characters
    if isinstance(value, tuple | list | set | frozenset | dict) and depth < 16:
        total = 2
        for item in (value.items() if isinstance(value, dict) else value):
            total += _text_bound(item, depth + 1) + 2
            if total > MAX_STRING_LENGTH:
                break
        return total
    raise TypeError(f"str() takes a string, number, boolean or a list of them, not {_type_name(value)}")


def text(value: Any) -> str:
    """`str(value)`, refused when the text would be longer than MAX_STRING_LENGTH."""
    if isinstance(value, str):
        return value  # no new text: a long request value is read as it is
    _check_length(_text_bound(value), "str")
    return str(value)


def _case(convert: Callable[[str], str], name: str) -> Callable[[Any], str]:
    def apply(value: Any) -> str:
        string = text(value)
        # outside ASCII one character maps to at most 3 (`'ΐ'.upper()`); isascii() costs O(1)
        _check_length(len(string) * (1 if string.isascii() else 3), name)
        return convert(string)
    return apply


lower = _case(str.lower, "lower")
upper = _case(str.upper, "upper")


def to_int(value: Any, base: int | None = None) -> int:
    if base is not None:
        if not isinstance(value, str | bytes) or not isinstance(base, int):
            raise TypeError("int(x, base) takes a string and a whole-number base")
        return int(_digits(value, base), base)
    if isinstance(value, str | bytes):
        return int(_digits(value, 10))
    if isinstance(value, int | float):
        return int(value)  # a float has at most 1,024 bits before the point
    raise TypeError(f"int() takes a number or a string, not {_type_name(value)}")


def _digits(value: str | bytes, base: int) -> str | bytes:
    per_digit = 4 if base == 0 else math.log2(base) if 2 <= base <= 36 else 1  # base 0: a 0x prefix at most
    _check_bits(len(value) * per_digit, "int")  # int('1' * 100_000, 2) has no digit limit in Python
    return value


def to_float(value: Any) -> float:
    if not isinstance(value, int | float | str | bytes):
        raise TypeError(f"float() takes a number or a string, not {_type_name(value)}")
    return float(value)


def round_(value: Any, ndigits: Any = None) -> Any:
    if not _is_number(value):
        raise TypeError(f"round() takes a number, not {_type_name(value)}")
    if ndigits is None:
        return round(value)
    if not isinstance(ndigits, int) or abs(ndigits) > MAX_ROUND_DIGITS:
        raise LimitExceeded(f"round() takes a whole number of at most {MAX_ROUND_DIGITS:,} digits")
    return round(value, ndigits)


def absolute(value: Any) -> Any:
    if not _is_number(value):
        raise TypeError(f"abs() takes a number, not {_type_name(value)}")
    return abs(value)


def contains(container: Any, item: Any) -> bool:
    return item in container


def startswith(value: Any, prefix: Any) -> bool:
    return text(value).startswith(prefix)


def endswith(value: Any, suffix: Any) -> bool:
    return text(value).endswith(suffix)
