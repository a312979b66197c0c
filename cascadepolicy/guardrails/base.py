"""Shared result types of the guardrail detectors.

Every detector in this package is a pure function from text to a `Verdict`;
the engine decides what a fired verdict means (block, redact, warn, ...).
A verdict's `reason` is a sentence safe to log: it never contains the
matched text, only kinds and counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cascadepolicy.errors import CascadePolicyError


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


class DetectorUnavailable(CascadePolicyError, ImportError):
    """An optional backend was asked for but its package is not installed."""


PASS_REASON = "no finding"


def count_kinds(findings: Iterable[Finding]) -> str:
    """'2 email, 1 phone' in first-seen order; used in reasons instead of the text."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())


class Coverage:
    """The characters of a text that some span taken so far covers.

    Overlap checks against every span taken so far cost a comparison per pair:
    quadratic in a text dense with findings. Here a check or a mark scans only
    the span's own characters, in C (`bytearray.find`), so the cost is the total
    length of the spans, which the detectors keep to a few times the text's.
    """

    def __init__(self, start: int, end: int) -> None:
        self._offset = start
        self._covered = bytearray(max(0, end - start))

    def overlaps(self, start: int, end: int) -> bool:
        """Whether a taken span shares a character with `start:end`."""
        return self._covered.find(1, start - self._offset, end - self._offset) != -1

    def take(self, start: int, end: int) -> None:
        self._covered[start - self._offset : end - self._offset] = b"\x01" * (end - start)


def passing(reason: str = PASS_REASON) -> Verdict:
    if reason == PASS_REASON:
        return _PASS  # a verdict is frozen: detectors return it on most texts
    return Verdict(fired=False, score=0.0, findings=(), reason=reason)


_PASS = Verdict(fired=False, score=0.0, findings=(), reason=PASS_REASON)
