"""Regular expressions a policy writes, compiled once and searched under a time limit.

Where this sits: the `regex` check's `pattern` and the math checks'
`answer_pattern` are compiled when the policy is loaded (`compile_check`), so
a pattern that does not compile is a located diagnostic at validate time, and
searched on every draft. A policy comes from a pull request and a draft can
quote text anyone wrote, so both sides are hostile:

- The syntax is Python's (`re`'s parser reads the pattern first, so what
  validates is what the docs promise), at most MAX_PATTERN_CHARS characters
  (the document model's bound).
- Searches run on the `regex` module, whose matcher can be interrupted:
  Python's `re` cannot, and a backtracking pattern such as `(a|aa)+$` takes
  exponential time on a crafted answer. A search that takes longer than
  SEARCH_TIMEOUT_SECONDS raises `PatternTimeout`; the checks fail the draft
  (fail closed) with a detail saying so.
- `regex` compiles the required copies of a counted repeat out, so
  `((a{100}){100}){100}` would take gigabytes before any text is read. The
  pattern's size with every repeat's minimum count multiplied out is bounded by
  MAX_EXPANDED_SIZE (about 13 MB of compiled pattern at the bound).
"""

from __future__ import annotations

import re
import re._constants as sre_constants
import re._parser as sre_parse
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from cascadepolicy.errors import CascadePolicyError

from .base import ParamError

SEARCH_TIMEOUT_SECONDS = 0.5
MAX_EXPANDED_SIZE = 100_000

FLAGS = {"ignore_case": re.IGNORECASE, "multiline": re.MULTILINE, "dotall": re.DOTALL, "verbose": re.VERBOSE}
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT}


class PatternTimeout(CascadePolicyError):
    """A search took longer than SEARCH_TIMEOUT_SECONDS."""


class UserPattern:
    """A compiled policy pattern whose searches stop after SEARCH_TIMEOUT_SECONDS.

    Raises `ParamError` (naming `param`) when the pattern cannot be compiled; the
    message quotes the parser's reason, never the pattern."""

    def __init__(self, source: str, flags: tuple[str, ...] = (), *, param: str = "pattern", groups: int = 0) -> None:
        bits = 0
        for name in flags:
            bits |= FLAGS[name]
        try:
            parsed = sre_parse.parse(source, bits)
        except re.error as exc:
            raise _unusable(param, f"it is not a valid regular expression: {exc}") from None
        except RecursionError:
            raise _unusable(param, "it nests groups too deeply") from None
        if parsed.state.groups - 1 < groups:
            raise _unusable(param, f"it needs {groups} capture group(s) around the answer, and has {parsed.state.groups - 1}")
        if _expanded_size(parsed) > MAX_EXPANDED_SIZE:
            raise _unusable(param, f"its counted repeats multiply out to more than {MAX_EXPANDED_SIZE:,} items; "
                            "use open repeats (`+`, `*`, `{m,}`) or smaller counts")
        import regex  # imported when a policy has a pattern: validating other policies does not pay for it

        self.source = source
        self._regex = regex
        self._compiled: Any = regex.compile(source, bits | regex.VERSION0)

    def search(self, text: str) -> Any:
        try:
            return self._compiled.search(text, timeout=SEARCH_TIMEOUT_SECONDS)
        except TimeoutError:
            raise PatternTimeout(f"the search took longer than {SEARCH_TIMEOUT_SECONDS:g} s") from None

    def finditer(self, text: str) -> Iterator[Any]:
        try:
            yield from self._compiled.finditer(text, timeout=SEARCH_TIMEOUT_SECONDS)
        except TimeoutError:
            raise PatternTimeout(f"the search took longer than {SEARCH_TIMEOUT_SECONDS:g} s") from None


@lru_cache(maxsize=512)
def policy_pattern(source: str, flags: tuple[str, ...] = (), *, param: str = "pattern", groups: int = 0) -> UserPattern:
    """`UserPattern(...)`, compiled once per process: the same pattern in many policies (or one policy
    validated again) is parsed and compiled once. A pattern that fails raises every time (errors are not kept)."""
    return UserPattern(source, flags, param=param, groups=groups)


class BuiltinPattern:
    """One of cascadepolicy's own patterns: written here and tested, so it runs on `re` without a time limit."""

    def __init__(self, source: str, flags: int = 0) -> None:
        self.source = source
        self._compiled = re.compile(source, flags)

    def search(self, text: str) -> re.Match[str] | None:
        return self._compiled.search(text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self._compiled.finditer(text)


def _unusable(param: str, reason: str) -> ParamError:
    return ParamError(param, f"the {param} cannot be used: {reason}.", "check-regex",
                      hint="write Python `re` syntax; escape a literal bracket, parenthesis or dot with a backslash.")


def _expanded_size(parsed: Any) -> int:
    """Items of the pattern with each repeat's minimum count multiplied out; stops counting past the bound."""
    try:
        return _size(parsed)
    except RecursionError:
        return MAX_EXPANDED_SIZE + 1


def _size(items: Any) -> int:
    total = 0
    for op, av in items:
        if op in _REPEATS:
            low, _high, sub = av
            total += max(low, 1) * _size(sub)
        else:
            total += 1 + sum(_size(sub) for sub in _subpatterns(av))
        if total > MAX_EXPANDED_SIZE:
            return total
    return total


def _subpatterns(value: Any) -> Iterator[Any]:
    if isinstance(value, sre_parse.SubPattern):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _subpatterns(item)
