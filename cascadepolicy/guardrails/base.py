"""Shared result types of the guardrail detectors.

Every detector in this package is a pure function from text to a `Verdict`;
the engine decides what a fired verdict means (block, redact, warn, ...).
A verdict's `reason` is a sentence safe to log: it never contains the
matched text, only kinds and counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One detected span: `text[start:end]` is what was found."""

    kind: str
    start: int
    end: int
    score: float
    label: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check on one text."""

    fired: bool
    score: float
    findings: tuple[Finding, ...]
    reason: str


class DetectorUnavailable(ImportError):
    """An optional backend was asked for but its package is not installed."""


PASS_REASON = "no finding"


def count_kinds(findings: Iterable[Finding]) -> str:
    """'2 email, 1 phone' in first-seen order; used in reasons instead of the text."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())


def passing(reason: str = PASS_REASON) -> Verdict:
    if reason == PASS_REASON:
        return _PASS  # a verdict is frozen: detectors return it on most texts
    return Verdict(fired=False, score=0.0, findings=(), reason=reason)


_PASS = Verdict(fired=False, score=0.0, findings=(), reason=PASS_REASON)
