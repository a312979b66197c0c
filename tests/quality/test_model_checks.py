from __future__ import annotations

import math

import pytest

from cascadepolicy.quality import Draft, build_check
from cascadepolicy.quality.model import parse_judge_score


def test_logprob_skipped_without_logprobs() -> None:
    result = build_check("logprob", {})(Draft("text", "q", None))
    assert result.skipped and result.passed and result.detail == "provider returned no logprobs"


def test_logprob_mean_and_min() -> None:
    check = build_check("logprob", {"min_mean": -0.5, "min_token": -2.0})
    confident = check(Draft("t", "q", [-0.1, -0.2, -0.3]))
    assert confident.passed and confident.score == pytest.approx(math.exp(-0.2))
    unsure = check(Draft("t", "q", [-0.1, -3.0]))
    assert not unsure.passed and "below -0.5" in unsure.detail and "below -2.0" in unsure.detail
    with pytest.raises(ValueError, match="min_mean is the number 1.0; it must be at most 0"):
        build_check("logprob", {"min_mean": 1.0})


@pytest.mark.parametrize(
    ("reply", "grade"),
    [("Score: 8", 8.0), ("**Score:** 7", 7.0), ("I'd give it 9/10.", 9.0), ("6 out of 10", 6.0), ("  10 ", 10.0), ("score=3.5", 3.5)],
)
def test_judge_score_parsing(reply: str, grade: float) -> None:
    assert parse_judge_score(reply) == grade


@pytest.mark.parametrize("reply", ["great answer", "Score: 42", "", "0/10"])
def test_judge_unparseable(reply: str) -> None:
    assert parse_judge_score(reply) is None


def test_judge_calls_the_model_counts_cost_and_grades() -> None:
    calls: list[tuple[str, str]] = []

    def judge(model: str, prompt: str) -> tuple[str, float]:
        calls.append((model, prompt))
        return "Score: 8", 0.002

    check = build_check("judge", {"model": "large", "rubric": "Shows every step.", "min_score": 7}, judge=judge)
    result = check(Draft("3 + 4 = 7", "What is 3 + 4?", None))
    assert result.passed and result.score == 0.8 and result.cost == 0.002
    assert calls[0][0] == "large" and "Shows every step." in calls[0][1] and "What is 3 + 4?" in calls[0][1]


def test_judge_unparseable_reply_fails_with_cost() -> None:
    check = build_check("judge", {"model": "large"}, judge=lambda m, p: ("looks fine to me", 0.001))
    result = check(Draft("a", "q", None))
    assert not result.passed and result.cost == 0.001 and "no 1-10 score" in result.detail


def test_judge_error_fails_closed() -> None:
    def judge(model: str, prompt: str) -> tuple[str, float]:
        raise TimeoutError("slow")

    result = build_check("judge", {"model": "large"}, judge=judge)(Draft("a", "q", None))
    assert not result.passed and "TimeoutError" in result.detail


def test_judge_needs_a_judge_function_and_a_model() -> None:
    with pytest.raises(ValueError, match="judge function"):
        build_check("judge", {"model": "large"})
    with pytest.raises(ValueError, match="missing the required key 'model'"):
        build_check("judge", {}, judge=lambda m, p: ("Score: 5", 0.0))
