from __future__ import annotations

import pytest

from cascadepolicy.quality import CheckResult, Draft, build_check, score_draft


def fixed(name: str, score: float, passed: bool, skipped: bool = False):  # type: ignore[no-untyped-def]
    return lambda draft: CheckResult(name, score, passed, skipped=skipped, detail="")


DRAFT = Draft("x", "q", None)


def test_weighted_mean_of_non_skipped() -> None:
    composite = score_draft(
        [(fixed("a", 1.0, True), 3.0, False), (fixed("b", 0.0, False), 1.0, False), (fixed("c", 0.0, True, True), 5.0, False)],
        DRAFT,
    )
    assert composite.score == pytest.approx(0.75)
    assert composite.gate_failed is None and [r.check for r in composite.results] == ["a", "b", "c"]


def test_required_failure_forces_zero_and_names_itself() -> None:
    composite = score_draft([(fixed("a", 1.0, True), 1.0, False), (fixed("gate", 0.9, False), 1.0, True)], DRAFT)
    assert composite.score == 0.0 and composite.gate_failed == "gate" and len(composite.results) == 2


def test_required_skipped_check_does_not_gate() -> None:
    composite = score_draft([(fixed("a", 0.5, True), 1.0, False), (fixed("gate", 0.0, False, True), 1.0, True)], DRAFT)
    assert composite.score == 0.5 and composite.gate_failed is None


def test_all_skipped_scores_one() -> None:
    assert score_draft([(fixed("a", 0.0, True, True), 1.0, True)], DRAFT).score == 1.0


def test_negative_weight_is_rejected() -> None:
    with pytest.raises(ValueError, match="weights"):
        score_draft([(fixed("a", 1.0, True), -1.0, False)], DRAFT)


def test_math_tutor_set_on_hand_written_answers() -> None:
    checks = [
        (build_check("answer_format", {"integer": True}), 1.0, True),
        (build_check("arithmetic", {"min_equations": 1}), 1.0, True),
        (build_check("consistency", {}), 1.0, True),
        (build_check("grounding", {"min_share": 1.0}), 4.0, False),
    ]
    prompt = "A pen costs $3 and a book costs $12. Sam buys 2 pens and a book. How much does he spend?"
    good = score_draft(checks, Draft("2 * $3 = $6. $6 + $12 = $18.\n#### 18", prompt, None))
    assert good.score == 1.0 and good.gate_failed is None
    wrong_sum = score_draft(checks, Draft("2 * $3 = $6. $6 + $12 = $19.\n#### 19", prompt, None))
    assert wrong_sum.score == 0.0 and wrong_sum.gate_failed == "arithmetic"
    ignores_pens = score_draft(checks, Draft("The book is $12.\n#### 12", prompt, None))
    assert ignores_pens.gate_failed == "arithmetic"
    partial = score_draft(checks, Draft("2 * $12 = $24.\n#### 24", prompt, None))
    assert partial.gate_failed is None and partial.score < 1.0
