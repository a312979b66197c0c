"""Checks on the surface of a draft: `regex`, `length`, `hedging`, `refusal`.

Where this sits: built by `registry.build_check` from a policy's validator
list and called on every draft of a cascade step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from .base import CheckResult, Draft, clamp01

_FLAGS = {
    "ignore_case": re.IGNORECASE,
    "multiline": re.MULTILINE,
    "dotall": re.DOTALL,
    "verbose": re.VERBOSE,
}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")

DEFAULT_HEDGES: tuple[str, ...] = (
    "i think", "i believe", "i guess", "i assume", "i suppose", "probably", "possibly",
    "perhaps", "maybe", "might be", "may be", "could be", "it seems", "seems to",
    "it appears", "appears to be", "not sure", "not certain", "uncertain", "unclear",
    "as far as i know", "if i recall", "it is possible", "it's possible", "hard to say",
    "difficult to say", "roughly",
)  # fmt: skip
DEFAULT_REFUSALS: tuple[str, ...] = (
    "i can't help", "i cannot help", "i can't assist", "i cannot assist", "i'm unable to",
    "i am unable to", "i won't be able", "i will not be able", "i cannot provide",
    "i can't provide", "i must decline", "i cannot comply", "i can't comply",
    "i'm not able to", "i am not able to", "as an ai", "i'm sorry, but i", "i am sorry, but i",
    "i apologize, but i", "i cannot fulfill", "i can't fulfill", "cannot answer that",
)  # fmt: skip


def sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


def phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """Whole-word, case-insensitive, apostrophe-tolerant ("i'm" matches "I’m")."""
    parts = [re.escape(p.lower()).replace("'", "['’]") for p in phrases if p.strip()]
    if not parts:
        raise ValueError("the phrase list is empty")
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class RegexCheck:
    """The draft must (or must not) match `pattern`."""

    kind: ClassVar[str] = "regex"
    pattern: str
    must_match: bool = True
    flags: tuple[str, ...] = ()
    _compiled: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = [f for f in self.flags if f not in _FLAGS]
        if unknown:
            raise ValueError(f"unknown regex flag '{unknown[0]}'; known: {', '.join(_FLAGS)}")
        bits = 0
        for name in self.flags:
            bits |= _FLAGS[name]
        try:
            compiled = re.compile(self.pattern, bits)
        except re.error as exc:
            raise ValueError(f"pattern {self.pattern!r} is not a valid regular expression: {exc}") from exc
        object.__setattr__(self, "_compiled", compiled)

    def __call__(self, draft: Draft) -> CheckResult:
        found = self._compiled.search(draft.text)
        passed = (found is not None) == self.must_match
        if self.must_match:
            detail = "pattern found" if found else f"pattern {self.pattern!r} not found"
        else:
            detail = f"forbidden pattern found: {found.group()[:60]!r}" if found else "pattern absent"
        return CheckResult(self.kind, 1.0 if passed else 0.0, passed, detail=detail)


@dataclass(frozen=True)
class LengthCheck:
    """Bounds on characters and words (words stand in for tokens: about 0.75 words a token)."""

    kind: ClassVar[str] = "length"
    min_chars: int | None = None
    max_chars: int | None = None
    min_words: int | None = None
    max_words: int | None = None

    def __post_init__(self) -> None:
        if all(v is None for v in (self.min_chars, self.max_chars, self.min_words, self.max_words)):
            raise ValueError("set at least one of min_chars, max_chars, min_words, max_words")
        for low, high, unit in ((self.min_chars, self.max_chars, "chars"), (self.min_words, self.max_words, "words")):
            if low is not None and high is not None and low > high:
                raise ValueError(f"min_{unit} ({low}) is larger than max_{unit} ({high})")

    def __call__(self, draft: Draft) -> CheckResult:
        chars, words = len(draft.text.strip()), len(draft.text.split())
        problems: list[str] = []
        for value, low, high, unit in (
            (chars, self.min_chars, self.max_chars, "characters"),
            (words, self.min_words, self.max_words, "words"),
        ):
            if low is not None and value < low:
                problems.append(f"{value} {unit}, fewer than {low}")
            if high is not None and value > high:
                problems.append(f"{value} {unit}, more than {high}")
        passed = not problems
        return CheckResult(self.kind, 1.0 if passed else 0.0, passed, detail="; ".join(problems) or f"{chars} characters, {words} words")


@dataclass(frozen=True)
class HedgingCheck:
    """Share of sentences that hedge; score is the share that does not."""

    kind: ClassVar[str] = "hedging"
    phrases: tuple[str, ...] = DEFAULT_HEDGES
    max_ratio: float = 0.3
    _compiled: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_ratio <= 1.0:
            raise ValueError(f"max_ratio must be between 0 and 1, got {self.max_ratio}")
        object.__setattr__(self, "_compiled", phrase_pattern(self.phrases))

    def __call__(self, draft: Draft) -> CheckResult:
        parts = sentences(draft.text)
        if not parts:
            return CheckResult(self.kind, 0.0, False, detail="empty answer")
        hedged = [s for s in parts if self._compiled.search(s)]
        ratio = len(hedged) / len(parts)
        detail = f"{len(hedged)} of {len(parts)} sentences hedge"
        if hedged:
            detail += f", e.g. {self._compiled.search(hedged[0]).group()!r}"  # type: ignore[union-attr]
        return CheckResult(self.kind, clamp01(1.0 - ratio), ratio <= self.max_ratio, detail=detail)


@dataclass(frozen=True)
class RefusalCheck:
    """The model declined to answer: one of `phrases` appears in the first `scan_chars` characters."""

    kind: ClassVar[str] = "refusal"
    phrases: tuple[str, ...] = DEFAULT_REFUSALS
    scan_chars: int | None = 600
    _compiled: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.scan_chars is not None and self.scan_chars <= 0:
            raise ValueError(f"scan_chars must be positive, got {self.scan_chars}")
        object.__setattr__(self, "_compiled", phrase_pattern(self.phrases))

    def __call__(self, draft: Draft) -> CheckResult:
        text = draft.text if self.scan_chars is None else draft.text[: self.scan_chars]
        if not text.strip():
            return CheckResult(self.kind, 0.0, False, detail="empty answer")
        found = self._compiled.search(text)
        if found:
            return CheckResult(self.kind, 0.0, False, detail=f"the model declined: {found.group()!r}")
        return CheckResult(self.kind, 1.0, True, detail="no refusal")
