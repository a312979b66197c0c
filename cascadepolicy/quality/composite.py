"""Fold the results of a step's checks into one score the engine compares with `min_score`.

Where this sits: after a cascade step's model call, the engine calls
`score_draft` with the step's built checks; the CompositeScore goes into the
decision record and decides accept or escalate.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Check, CheckResult, CompositeScore, Draft


def score_draft(checks: Sequence[tuple[Check, float, bool]], draft: Draft) -> CompositeScore:
    """Weighted mean of the non-skipped results; a required check that fails forces 0.

    Every check runs even after a required one failed, so the decision record
    shows all of them. With every check skipped the score is 1.0: nothing
    found fault with the draft.
    """
    results: list[CheckResult] = []
    total = weights = 0.0
    gate_failed: str | None = None
    for check, weight, required in checks:
        if weight < 0:
            raise ValueError(f"check weights must be >= 0, got {weight}")
        result = check(draft)
        results.append(result)
        if result.skipped:
            continue
        total += weight * result.score
        weights += weight
        if required and not result.passed and gate_failed is None:
            gate_failed = result.check
    if gate_failed is not None:
        return CompositeScore(0.0, tuple(results), gate_failed)
    return CompositeScore(total / weights if weights else 1.0, tuple(results), None)
