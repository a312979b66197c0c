"""The `coherence` check: degenerate repetition, an answer cut off mid-sentence, self-contradiction.

Where this sits: compiled by `registry.compile_check`, called on every draft. All
three signals are cheap text heuristics; each can be switched off.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import ClassVar

from cascadepolicy.language import model as lang

from .base import CheckResult, Draft
from .text import sentences

# A sentence that ends on one of these words, or on these characters, was cut off.
_DANGLING_WORDS = frozenset(
    "a an the and or but of to with for by in on at from is are was were which that so "
    "because than then as if into per plus minus times equals she he they we".split()
)
_DANGLING_CHARS = ",;:-=+*/(<[{\\&|"
_NEGATION = re.compile(r"\b(?:not|never|no)\b|n't\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9']+")
_MIN_CONTRADICTION_WORDS = 4


class CoherenceCheck:
    """Score 1 when nothing is wrong; each problem found multiplies it down."""

    kind: ClassVar[str] = "coherence"

    def __init__(self, spec: lang.CoherenceCheck) -> None:
        self.spec = spec

    def __call__(self, draft: Draft) -> CheckResult:
        spec = self.spec
        text = draft.text.strip()
        if not text:
            return CheckResult(self.kind, 0.0, False, detail="empty answer")
        score, problems = 1.0, []
        ratio = repeat_ratio(text, spec.ngram, spec.min_words_for_repetition)
        if ratio > spec.max_repeat_ratio:
            score *= 1.0 - ratio
            problems.append(f"{ratio:.0%} of {spec.ngram}-word sequences repeat")
        repeated = repeated_lines(text)
        if repeated > spec.max_repeated_lines:
            score *= 0.5
            problems.append(f"{repeated} lines repeat an earlier line")
        if spec.check_truncation and (cut := truncation(text)):
            score = 0.0
            problems.append(cut)
        if spec.check_contradiction and (pair := contradiction(text)):
            score = 0.0
            problems.append(f"contradicts itself: {pair[0][:50]!r} vs {pair[1][:50]!r}")
        return CheckResult(self.kind, score, not problems, detail="; ".join(problems) or "coherent")


def repeat_ratio(text: str, n: int, min_words: int) -> float:
    """Share of word n-grams that already occurred earlier; 0 for short texts."""
    words = _WORD.findall(text.lower())
    if len(words) < max(min_words, n + 1):
        return 0.0
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams)


def repeated_lines(text: str) -> int:
    counts = Counter(line.strip().lower() for line in text.splitlines() if len(line.strip()) > 10)
    return sum(c - 1 for c in counts.values())


def truncation(text: str) -> str | None:
    """Why the text looks cut off, or None."""
    if text.count("```") % 2:
        return "a code block is never closed"
    if text.count("<<") > text.count(">>"):
        return "stops inside a calculation"
    last = text[-1]
    if last in _DANGLING_CHARS:
        return f"stops mid-sentence after {last!r}"
    words = _WORD.findall(text.splitlines()[-1].lower())
    if words and words[-1] in _DANGLING_WORDS and last.isalpha():
        return f"stops mid-sentence after {words[-1]!r}"
    return None


def contradiction(text: str) -> tuple[str, str] | None:
    """Two sentences identical except that one negates the other."""
    seen: dict[tuple[str, ...], tuple[bool, str]] = {}
    for sentence in sentences(text):
        negated = bool(_NEGATION.search(sentence))
        core = tuple(w for w in _WORD.findall(_NEGATION.sub(" ", sentence.lower())) if w not in ("do", "does", "did"))
        if len(core) < _MIN_CONTRADICTION_WORDS:
            continue
        if core in seen and seen[core][0] != negated:
            return seen[core][1], sentence
        seen.setdefault(core, (negated, sentence))
    return None
