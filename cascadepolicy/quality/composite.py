"""Fold the results of a step's checks into one score the engine compares with `min_score`.

Where this sits: after a cascade step's model call, the engine's walk runs
`scoring` with the step's built checks, answering each judge's `JudgeRequest`
with a model call of its own; the CompositeScore goes into the decision record
and decides accept or escalate. `score_draft` is the same with the checks'
linked judge functions, for use outside an engine.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from cascadepolicy.effects import JudgeRequest

from .base import Check, CheckResult, CompositeScore, Draft, Judged, reads_text, skipped

TOOL_CALL_SKIP = "the answer is a tool call; text checks do not apply"


def score_draft(checks: Sequence[tuple[Check, float, bool]], draft: Draft) -> CompositeScore:
    """`scoring`, each check run as it is (a judge through its linked judge function)."""
    steps = scoring(checks, draft, ask_judges=False)
    try:
        next(steps)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("unreachable: no judge request is yielded")


def scoring(checks: Sequence[tuple[Check, float, bool]], draft: Draft, *,
            ask_judges: bool = True) -> Generator[JudgeRequest, Any, CompositeScore]:
    """Weighted mean of the non-skipped results; a required check that fails forces 0.

    Every check runs even after a required one failed, so the decision record
    shows all of them. With every check skipped the score is 1.0: nothing
    found fault with the draft. A check that reads the text is skipped, not
    run, on an answer that is tool calls and no text (`Draft.is_tool_call`).
    """
    results: list[CheckResult] = []
    total = weights = 0.0
    gate_failed: str | None = None
    for check, weight, required in checks:
        if weight < 0:
            raise ValueError(f"check weights must be >= 0, got {weight}")
        if draft.is_tool_call and reads_text(check):
            result = skipped(str(getattr(check, "kind", getattr(check, "__name__", "check"))), TOOL_CALL_SKIP)
        elif ask_judges and isinstance(check, Judged):
            # its model call is the walk's to make: answered with (reply, cost), or an exception thrown in
            try:
                reply, cost = yield check.request(draft)
            except Exception as exc:
                result = check.grade(exc)
            else:
                result = check.grade(reply, cost)
        else:
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
