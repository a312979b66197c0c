"""Checks that look at the model rather than the text: `logprob` and `judge`.

Where this sits: compiled by `registry.compile_check`. `logprob` reads the
per-token log-probabilities the provider returned (skipped when it returned
none); `judge` asks a second model, through the `JudgeFn` the engine links
it with, to grade the draft, and reports that call's cost so the engine can
count it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar

from cascadepolicy.effects import JudgeRequest
from cascadepolicy.language import model as lang

from .base import Check, CheckResult, Draft, JudgeFn, Links, clamp01

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


class LogprobCheck:
    """Mean and minimum token log-probability; score is the geometric-mean token probability."""

    kind: ClassVar[str] = "logprob"
    reads_text: ClassVar[bool] = False  # log-probabilities judge a tool call's tokens as well as text's

    def __init__(self, spec: lang.LogprobCheck) -> None:
        self.spec = spec

    def __call__(self, draft: Draft) -> CheckResult:
        if draft.logprobs is None:
            return CheckResult(self.kind, 1.0, True, skipped=True, detail="provider returned no logprobs")
        values = [float(v) for v in draft.logprobs]
        if not values:
            return CheckResult(self.kind, 1.0, True, skipped=True, detail="provider returned an empty logprob list")
        mean, low = sum(values) / len(values), min(values)
        min_mean, min_token = self.spec.min_mean, self.spec.min_token
        problems = []
        if min_mean is not None and mean < min_mean:
            problems.append(f"mean logprob {mean:.2f} below {min_mean}")
        if min_token is not None and low < min_token:
            problems.append(f"lowest token logprob {low:.2f} below {min_token}")
        detail = "; ".join(problems) or f"mean logprob {mean:.2f}, lowest {low:.2f}"
        return CheckResult(self.kind, clamp01(math.exp(mean)), not problems, detail=detail)


class JudgeCheck:
    """A policy model grades the draft 1-10 against `rubric`; passes at `min_score` or above.

    Compiled without the judge call, which the engine supplies when it links the check."""

    kind: ClassVar[str] = "judge"

    def __init__(self, spec: lang.JudgeCheck) -> None:
        self.spec = spec
        self.rubric = DEFAULT_RUBRIC if spec.rubric is None else spec.rubric

    def link(self, links: Links) -> Check:
        return JudgedCheck(self, links.judge)


@dataclass(frozen=True)
class JudgedCheck:
    """A judge check with the engine's judge call: what runs on drafts.

    The engine's walk does not call it: it asks for `request(draft)` as a model
    call of its own (an effect, sync or async) and hands the reply to `grade`.
    Calling the check runs both through the linked judge function.
    """

    compiled: JudgeCheck
    judge: JudgeFn
    kind: ClassVar[str] = "judge"

    def request(self, draft: Draft) -> JudgeRequest:
        prompt = JUDGE_TEMPLATE.format(rubric=self.compiled.rubric, prompt=draft.prompt, answer=draft.text)
        return JudgeRequest(self.compiled.spec.model, prompt)

    def grade(self, reply: str | BaseException, cost: float = 0.0) -> CheckResult:
        """The result for the judge's reply (or the exception that stood in for one)."""
        model = self.compiled.spec.model
        if isinstance(reply, BaseException):  # fail closed: a judge that cannot answer does not accept the draft
            return CheckResult(self.kind, 0.0, False, detail=f"judge {model} failed: {type(reply).__name__}: {reply}"[:200])
        grade = parse_judge_score(reply)
        if grade is None:
            return CheckResult(self.kind, 0.0, False, detail=f"judge reply has no 1-10 score: {reply[:80]!r}", cost=cost)
        passed = grade >= self.compiled.spec.min_score
        return CheckResult(self.kind, grade / 10.0, passed, detail=f"judge {model} gave {grade:g}/10", cost=cost)

    def __call__(self, draft: Draft) -> CheckResult:
        request = self.request(draft)
        try:
            reply, cost = self.judge(request.model, request.prompt)
        except Exception as exc:
            return self.grade(exc)
        return self.grade(reply, cost)
