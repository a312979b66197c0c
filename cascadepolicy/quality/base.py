"""Types shared by every quality validator.

Where this sits: a cascade step calls a model, wraps the answer in a `Draft`,
runs the step's checks (each a `Check`) and folds their `CheckResult`s into a
`CompositeScore` that the engine compares with the step's acceptance threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Draft:
    """One model answer under review."""

    text: str
    prompt: str
    logprobs: Sequence[float] | None = None
    complexity: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check on one draft; `detail` is a short sentence for the decision record."""

    check: str
    score: float
    passed: bool
    skipped: bool = False
    detail: str = ""
    cost: float = 0.0


@dataclass(frozen=True)
class CompositeScore:
    """Weighted mean of the non-skipped results; a failed required check forces 0."""

    score: float
    results: tuple[CheckResult, ...]
    gate_failed: str | None = None


Check = Callable[[Draft], CheckResult]
JudgeFn = Callable[[str, str], tuple[str, float]]
"""(model id, prompt) -> (judge answer text, cost in USD); supplied by the engine."""


def clamp01(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def skipped(check: str, detail: str) -> CheckResult:
    return CheckResult(check=check, score=1.0, passed=True, skipped=True, detail=detail)
