"""Checks for worked math answers: `arithmetic`, `answer_format`, `consistency`, `grounding`, `provenance`, `exactness`.

Where this sits: compiled by `registry.compile_check` for policies that route math
questions through a cascade. None of them knows the right answer; each checks
something a careful teacher checks without solving the problem: is every
written calculation right, is there a clear numeric final answer, does the
final answer follow from the working, does the working use the numbers the
question gives and no others, and does it stay exact (grade-school problems
come out whole; a working that rounds or goes negative took a wrong turn).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from cascadepolicy.language import model as lang

from .base import CheckResult, Draft
from .numbers import (
    ANNOTATION_RE,
    close,
    decimals,
    divisors_in,
    equations_in,
    numbers_in,
    parse_number,
    percent_forms,
    percentages_in,
)
from .text import phrase_pattern
from .user_regex import BuiltinPattern, PatternTimeout, UserPattern, policy_pattern

_NUM = r"(-?\$?\s?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)\s?%?)"
DEFAULT_ANSWER_PATTERNS: tuple[str, ...] = (
    r"####\s*" + _NUM,
    r"\\boxed\{\s*" + _NUM + r"\s*\}",
    r"(?:final answer|the answer is|answer\s*:)\s*(?:is\s*)?[:=]?\s*\**\s*" + _NUM,
)


@dataclass(frozen=True)
class FinalAnswer:
    raw: str
    value: float | None
    start: int  # where the final-answer marker begins: the working is the text before it


AnswerPattern = UserPattern | BuiltinPattern


@cache
def _builtin_answer_patterns() -> tuple[BuiltinPattern, ...]:
    return tuple(BuiltinPattern(source, re.IGNORECASE) for source in DEFAULT_ANSWER_PATTERNS)


def _compile_answer_patterns(pattern: str | None) -> tuple[AnswerPattern, ...]:
    if pattern is None:
        return _builtin_answer_patterns()
    return (policy_pattern(pattern, ("ignore_case",), param="answer_pattern", groups=1),)


def find_final_answer(text: str, patterns: tuple[AnswerPattern, ...]) -> FinalAnswer | None:
    """The last final-answer statement of the first pattern that matches; raises PatternTimeout."""
    for regex in patterns:
        # a policy's pattern may match without its group (`(x)?`): such a match states no answer
        matches = [m for m in regex.finditer(text) if m.group(1) is not None]
        if matches:
            last = matches[-1]
            raw = last.group(1).strip()
            return FinalAnswer(raw=raw, value=parse_number(raw), start=last.start())
    return None


class ArithmeticCheck:
    """Every `a op b = c` the answer writes is recomputed; score is the share that is right."""

    kind: ClassVar[str] = "arithmetic"

    def __init__(self, spec: lang.ArithmeticCheck) -> None:
        self.spec = spec

    def __call__(self, draft: Draft) -> CheckResult:
        spec = self.spec
        equations = equations_in(draft.text)
        if len(equations) < spec.min_equations:
            # a policy that asks for shown working treats a bare answer as a failure
            return CheckResult(self.kind, 0.0, False, detail=f"{len(equations)} equations written, at least {spec.min_equations} expected")
        if not equations:
            return CheckResult(self.kind, 1.0, True, skipped=True, detail="no equations to check")
        wrong = [
            eq for eq in equations
            if not close(eq.right, eq.left, tolerance=spec.tolerance,
                         shown_decimals=eq.right_decimals if spec.allow_rounding else None)
        ]  # fmt: skip
        share = 1.0 - len(wrong) / len(equations)
        if not wrong:
            return CheckResult(self.kind, 1.0, True, detail=f"all {len(equations)} equations correct")
        first = wrong[0]
        detail = f"{len(wrong)} of {len(equations)} equations wrong: {first.text[:60]} (is {first.left:.10g})"
        return CheckResult(self.kind, share, share >= spec.min_share, detail=detail)


class AnswerFormatCheck:
    """A final answer statement exists and, when `numeric`, is a number (optionally whole)."""

    kind: ClassVar[str] = "answer_format"

    def __init__(self, spec: lang.AnswerFormatCheck) -> None:
        self.spec = spec
        self._patterns = _compile_answer_patterns(spec.answer_pattern)

    def __call__(self, draft: Draft) -> CheckResult:
        spec = self.spec
        try:
            found = find_final_answer(draft.text, self._patterns)
        except PatternTimeout as exc:  # fail closed
            return CheckResult(self.kind, 0.0, False, detail=f"answer pattern not decided: {exc}")
        if found is None:
            return CheckResult(self.kind, 0.0, False, detail="no final answer statement")
        if not spec.numeric:
            return CheckResult(self.kind, 1.0, True, detail=f"final answer {found.raw!r}")
        if found.value is None:
            return CheckResult(self.kind, 0.0, False, detail=f"final answer {found.raw!r} is not a number")
        if spec.integer and not found.value.is_integer():
            return CheckResult(self.kind, 0.0, False, detail=f"final answer {found.raw} is not a whole number")
        if spec.max_decimals is not None and decimals(found.raw) > spec.max_decimals:
            return CheckResult(self.kind, 0.0, False, detail=f"final answer {found.raw} has more than {spec.max_decimals} decimals")
        return CheckResult(self.kind, 1.0, True, detail=f"final answer {found.raw}")


class ConsistencyCheck:
    """The final answer equals a result the working computed (the last one, or `mode: any`)."""

    kind: ClassVar[str] = "consistency"

    def __init__(self, spec: lang.ConsistencyCheck) -> None:
        self.spec = spec
        self._patterns = _compile_answer_patterns(spec.answer_pattern)

    def __call__(self, draft: Draft) -> CheckResult:
        try:
            found = find_final_answer(draft.text, self._patterns)
        except PatternTimeout as exc:  # fail closed
            return CheckResult(self.kind, 0.0, False, detail=f"answer pattern not decided: {exc}")
        if found is None or found.value is None:
            return CheckResult(self.kind, 1.0, True, skipped=True, detail="no numeric final answer")
        working = draft.text[: found.start]
        results = [eq.right for eq in equations_in(working)]
        if not results:
            return CheckResult(self.kind, 1.0, True, skipped=True, detail="no computed results in the working")
        final = found.value
        candidates = results if self.spec.mode == "any" else [results[-1], *_last_numbers(working)]
        if any(close(final, c, tolerance=self.spec.tolerance, shown_decimals=None) for c in candidates):
            return CheckResult(self.kind, 1.0, True, detail=f"final answer {found.raw} follows from the working")
        return CheckResult(self.kind, 0.0, False, detail=f"final answer {found.raw} is not the working's result {results[-1]:.10g}")


def _last_numbers(working: str) -> list[float]:
    """The last number written in the working, which is often the result it states in words."""
    numbers = numbers_in(working)
    return numbers[-1:]


_REFERRING_COUNT_RE = re.compile(
    r"\b(the|all|these|those)\s+(?:two|three|four|five|six|seven|eight|nine|ten|\d+)\b(?![.,]\d|\s*%)", re.IGNORECASE
)


class GroundingCheck:
    """Share of the numbers the question gives that the answer uses; passes at `min_share`."""

    kind: ClassVar[str] = "grounding"

    def __init__(self, spec: lang.GroundedNumbersCheck) -> None:
        self.spec = spec

    def __call__(self, draft: Draft) -> CheckResult:
        spec = self.spec
        # a quantity of one is used without being written ("one ticket costs $5"), hence `ignore`
        # "the three girls", "all 5 baskets" name things already counted, not a quantity to compute with
        prompt = _REFERRING_COUNT_RE.sub(r"\1", draft.prompt)
        given = sorted(set(numbers_in(prompt, words=spec.number_words)) - set(spec.ignore))
        if not given:
            return CheckResult(self.kind, 1.0, True, skipped=True, detail="the question gives no numbers")
        percents = percentages_in(prompt)
        used = set(numbers_in(draft.text, words=spec.number_words))
        for match in ANNOTATION_RE.finditer(draft.text):
            used.update(numbers_in(match[1]))
        used |= {v * 100 for v in used} | {v / 100 for v in used}  # 30% may be written 0.3
        divisors = set(divisors_in(draft.text))

        def is_used(number: float) -> bool:
            forms: tuple[float, ...] = (number,)
            if any(close(number, p, tolerance=1e-9, shown_decimals=None) for p in percents):
                forms = percent_forms(number)  # "30% less" is worked as 0.7 or 70
            if any(close(u, f, tolerance=spec.tolerance, shown_decimals=None) for u in used for f in forms):
                return True
            return 0 < number < 1 and (1 / number).is_integer() and 1 / number in divisors  # "half" as "/ 2"

        missing = [g for g in given if not is_used(g)]
        share = 1.0 - len(missing) / len(given)
        detail = f"uses {len(given) - len(missing)} of {len(given)} numbers from the question"
        if missing:
            detail += f"; unused: {', '.join(f'{m:g}' for m in missing[:4])}"
        return CheckResult(self.kind, share, share >= spec.min_share, detail=detail)



# Conversions a worked answer may use without the question stating them:
# small counts, dozens, hours/minutes/days/weeks/months/years, percent, thousands.
DEFAULT_CONSTANTS: tuple[float, ...] = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 24, 30, 31, 52, 60, 100, 365, 1000, 0.5,
)  # fmt: skip


class ProvenanceCheck:
    """Every number the working computes with comes from the question, an earlier result, or `constants`."""

    kind: ClassVar[str] = "provenance"

    def __init__(self, spec: lang.ProvenanceCheck) -> None:
        self.spec = spec
        self._constants = DEFAULT_CONSTANTS if spec.constants is None else spec.constants

    def __call__(self, draft: Draft) -> CheckResult:
        spec = self.spec
        known = set(numbers_in(draft.prompt, words=spec.number_words)) | set(self._constants)
        known |= {v / 100 for v in known} | {v * 100 for v in known}  # 30% may be written 0.3
        known.update(form for percent in percentages_in(draft.prompt) for form in percent_forms(percent))  # "30% less": 0.7
        operands = 0
        unsupported: list[float] = []
        for equation in equations_in(draft.text):
            for value in equation.operands:
                operands += 1
                if not any(close(value, k, tolerance=spec.tolerance, shown_decimals=None) for k in known):
                    unsupported.append(value)
                    known.add(value)  # report a number once; later uses build on it
            known.update((equation.left, equation.right))
        if not operands:
            return CheckResult(self.kind, 1.0, True, skipped=True, detail="no calculations in the working")
        share = 1.0 - len(unsupported) / operands
        if not unsupported:
            return CheckResult(self.kind, 1.0, True, detail=f"all {operands} operands traced to the question or earlier results")
        detail = f"{len(unsupported)} number(s) appear from nowhere: {', '.join(f'{v:g}' for v in unsupported[:4])}"
        return CheckResult(self.kind, share, len(unsupported) <= spec.max_unsupported, detail=detail)


# Words of a working that had to bend the numbers: grade-school problems come out
# exact, so rounding, approximating, patching a part-item or noting a contradiction
# means a step before went wrong.
DEFAULT_INEXACT: tuple[str, ...] = (
    "rounded", "rounding", "round up", "round down", "round to", "round it", "round this",
    "≈", "approximately", "whole number", "fraction of a", "fraction of an", "however", "mistake",
)  # fmt: skip


class ExactnessCheck:
    """The working stays exact: no rounding or patching of part-items (`phrases`), no negative quantity."""

    kind: ClassVar[str] = "exactness"

    def __init__(self, spec: lang.ExactnessCheck) -> None:
        self.spec = spec
        self._compiled = phrase_pattern(DEFAULT_INEXACT if spec.phrases is None else spec.phrases)

    def __call__(self, draft: Draft) -> CheckResult:
        found = self._compiled.search(draft.text)
        if found is not None:
            return CheckResult(self.kind, 0.0, False, detail=f"the working bends a result: {found.group()!r}")
        if not self.spec.allow_negative:
            negative = next((eq for eq in equations_in(draft.text) if eq.right < 0 or eq.left < 0), None)
            if negative is not None:
                return CheckResult(self.kind, 0.0, False, detail=f"a quantity goes negative: {negative.text[:60]}")
        return CheckResult(self.kind, 1.0, True, detail="exact working")
