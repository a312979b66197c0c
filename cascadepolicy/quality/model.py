"""Checks that look at the model rather than the text: `logprob` and `judge`.

Where this sits: built by `registry.build_check`. `logprob` reads the
per-token log-probabilities the provider returned (skipped when it returned
none); `judge` asks a second model, through the engine's `JudgeFn`, to grade
the draft, and reports that call's cost so the engine can count it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import ClassVar

from .base import CheckResult, Draft, JudgeFn, clamp01

DEFAULT_RUBRIC = "The answer is correct, complete, and directly addresses the question."
JUDGE_TEMPLATE = """You are grading an answer written by another assistant.

Rubric: {rubric}

Question:
{prompt}

Answer:
{answer}

Grade the answer against the rubric on a scale from 1 (fails it) to 10 (fully meets it).
Reply with one line of the form "Score: N" and nothing else."""

_SCORE_PATTERNS = (
    re.compile(r"\bscore\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE),
    re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", re.IGNORECASE),
    re.compile(r"^\W*(\d+(?:\.\d+)?)\W*$"),
)


def parse_judge_score(text: str) -> float | None:
    """The 1-10 grade in a judge's reply ("Score: 8", "8/10", "**8**"), or None."""
    for pattern in _SCORE_PATTERNS:
        for match in pattern.finditer(text.strip()):
            value = float(match.group(1))
            if 1.0 <= value <= 10.0:
                return value
    return None


@dataclass(frozen=True)
class LogprobCheck:
    """Mean and minimum token log-probability; score is the geometric-mean token probability."""

    kind: ClassVar[str] = "logprob"
    min_mean: float | None = -1.0
    min_token: float | None = None

    def __post_init__(self) -> None:
        for name in ("min_mean", "min_token"):
            value = getattr(self, name)
            if value is not None and value > 0:
                raise ValueError(f"{name} is a log-probability and must be <= 0, got {value}")

    def __call__(self, draft: Draft) -> CheckResult:
        if draft.logprobs is None:
            return CheckResult(self.kind, 1.0, True, skipped=True, detail="provider returned no logprobs")
        values = [float(v) for v in draft.logprobs]
        if not values:
            return CheckResult(self.kind, 1.0, True, skipped=True, detail="provider returned an empty logprob list")
        mean, low = sum(values) / len(values), min(values)
        problems = []
        if self.min_mean is not None and mean < self.min_mean:
            problems.append(f"mean logprob {mean:.2f} below {self.min_mean}")
        if self.min_token is not None and low < self.min_token:
            problems.append(f"lowest token logprob {low:.2f} below {self.min_token}")
        detail = "; ".join(problems) or f"mean logprob {mean:.2f}, lowest {low:.2f}"
        return CheckResult(self.kind, clamp01(math.exp(mean)), not problems, detail=detail)


@dataclass(frozen=True)
class JudgeCheck:
    """A policy model grades the draft 1-10 against `rubric`; passes at `min_score` or above."""

    kind: ClassVar[str] = "judge"
    model: str
    rubric: str = DEFAULT_RUBRIC
    min_score: float = 7.0
    judge: JudgeFn | None = field(default=None, repr=False, metadata={"internal": True})

    def __post_init__(self) -> None:
        if not 1.0 <= self.min_score <= 10.0:
            raise ValueError(f"min_score is on the judge's 1-10 scale, got {self.min_score}")
        if self.judge is None:
            raise ValueError("the judge check needs a judge function from the engine to call the model")

    def __call__(self, draft: Draft) -> CheckResult:
        prompt = JUDGE_TEMPLATE.format(rubric=self.rubric, prompt=draft.prompt, answer=draft.text)
        assert self.judge is not None
        try:
            reply, cost = self.judge(self.model, prompt)
        except Exception as exc:  # fail closed: a judge that cannot answer does not accept the draft
            return CheckResult(self.kind, 0.0, False, detail=f"judge {self.model} failed: {type(exc).__name__}: {exc}"[:200])
        grade = parse_judge_score(reply)
        if grade is None:
            return CheckResult(self.kind, 0.0, False, detail=f"judge reply has no 1-10 score: {reply[:80]!r}", cost=cost)
        passed = grade >= self.min_score
        return CheckResult(self.kind, grade / 10.0, passed, detail=f"judge {self.model} gave {grade:g}/10", cost=cost)
