"""Checks on the surface of a draft: `regex`, `length`, `hedging`, `refusal`.

Where this sits: compiled by `registry.compile_check` from a policy's
validated validator list (the parameters are the fields of the
`cascadepolicy.language.model` check; nothing here repeats them) and called
on every draft of a cascade step.
"""

from __future__ import annotations

import re
from typing import ClassVar

from cascadepolicy.language import model as lang

from .base import CheckResult, Draft, ParamError, clamp01
from .user_regex import PatternTimeout, policy_pattern

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
        raise ParamError("phrases", "the phrase list has no phrase with a visible character.")
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


class RegexCheck:
    """The draft must (or must not) match `pattern` (see `user_regex` for how it is bounded)."""

    kind: ClassVar[str] = "regex"

    def __init__(self, spec: lang.RegexCheck) -> None:
        self.spec = spec
        self._compiled = policy_pattern(spec.pattern, spec.flags)

    def __call__(self, draft: Draft) -> CheckResult:
        try:
            found = self._compiled.search(draft.text)
        except PatternTimeout as exc:  # fail closed: a pattern that cannot decide does not pass the draft
            return CheckResult(self.kind, 0.0, False, detail=f"pattern not decided: {exc}")
        passed = (found is not None) == self.spec.must_match
        if self.spec.must_match:
            detail = "pattern found" if found else f"pattern {self.spec.pattern[:60]!r} not found"
        else:
            detail = f"forbidden pattern found: {found.group()[:60]!r}" if found else "pattern absent"
        return CheckResult(self.kind, 1.0 if passed else 0.0, passed, detail=detail)


class LengthCheck:
    """Bounds on characters and words (words stand in for tokens: about 0.75 words a token)."""

    kind: ClassVar[str] = "length"

    def __init__(self, spec: lang.LengthCheck) -> None:
        self.spec = spec
        for low, high, unit in ((spec.min_chars, spec.max_chars, "chars"), (spec.min_words, spec.max_words, "words")):
            if low is not None and high is not None and low > high:
                raise ParamError(f"min_{unit}", f"min_{unit} ({low}) is larger than max_{unit} ({high}), so no answer can pass.",
                                 hint=f"lower min_{unit} or raise max_{unit}.")

    def __call__(self, draft: Draft) -> CheckResult:
        spec = self.spec
        chars, words = len(draft.text.strip()), len(draft.text.split())
        problems: list[str] = []
        for value, low, high, unit in (
            (chars, spec.min_chars, spec.max_chars, "characters"),
            (words, spec.min_words, spec.max_words, "words"),
        ):
            if low is not None and value < low:
                problems.append(f"{value} {unit}, fewer than {low}")
            if high is not None and value > high:
                problems.append(f"{value} {unit}, more than {high}")
        passed = not problems
        return CheckResult(self.kind, 1.0 if passed else 0.0, passed, detail="; ".join(problems) or f"{chars} characters, {words} words")


class HedgingCheck:
    """Share of sentences that hedge; score is the share that does not."""

    kind: ClassVar[str] = "hedging"

    def __init__(self, spec: lang.HedgingCheck) -> None:
        self.spec = spec
        self._compiled = phrase_pattern(DEFAULT_HEDGES if spec.phrases is None else spec.phrases)

    def __call__(self, draft: Draft) -> CheckResult:
        parts = sentences(draft.text)
        if not parts:
            return CheckResult(self.kind, 0.0, False, detail="empty answer")
        hedged = [s for s in parts if self._compiled.search(s)]
        ratio = len(hedged) / len(parts)
        detail = f"{len(hedged)} of {len(parts)} sentences hedge"
        if hedged:
            detail += f", e.g. {self._compiled.search(hedged[0]).group()!r}"  # type: ignore[union-attr]
        return CheckResult(self.kind, clamp01(1.0 - ratio), ratio <= self.spec.max_ratio, detail=detail)


class RefusalCheck:
    """The model declined to answer: one of `phrases` appears in the first `scan_chars` characters."""

    kind: ClassVar[str] = "refusal"

    def __init__(self, spec: lang.RefusalCheck) -> None:
        self.spec = spec
        self._compiled = phrase_pattern(DEFAULT_REFUSALS if spec.phrases is None else spec.phrases)

    def __call__(self, draft: Draft) -> CheckResult:
        scan_chars = self.spec.scan_chars
        text = draft.text if scan_chars is None else draft.text[:scan_chars]
        if not text.strip():
            return CheckResult(self.kind, 0.0, False, detail="empty answer")
        found = self._compiled.search(text)
        if found:
            return CheckResult(self.kind, 0.0, False, detail=f"the model declined: {found.group()!r}")
        return CheckResult(self.kind, 1.0, True, detail="no refusal")
