"""Build a check from the `{check: kind, ...params}` entry of a policy's validator list.

Where this sits: the compiler calls `build_check` once per validator when it
compiles a policy, so every parameter error surfaces at validate time;
`score_draft` (in `composite.py`) runs the built checks on each draft.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from .base import Check, JudgeFn
from .coherence import CoherenceCheck
from .custom import CustomCheck
from .math_checks import (
    AnswerFormatCheck,
    ArithmeticCheck,
    ConsistencyCheck,
    ExactnessCheck,
    GroundingCheck,
    ProvenanceCheck,
)
from .model import JudgeCheck, LogprobCheck
from .params import bind, describe
from .structured import JsonCheck
from .text import HedgingCheck, LengthCheck, RefusalCheck, RegexCheck

CHECKS: dict[str, type] = {
    cls.kind: cls
    for cls in (
        RegexCheck, LengthCheck, HedgingCheck, RefusalCheck, CoherenceCheck, JsonCheck,
        ArithmeticCheck, AnswerFormatCheck, ConsistencyCheck, GroundingCheck, ProvenanceCheck, ExactnessCheck,
        LogprobCheck, JudgeCheck, CustomCheck,
    )
}  # fmt: skip


def build_check(kind: str, params: Mapping[str, Any], *, judge: JudgeFn | None = None) -> Check:
    """A ready-to-call check; raises ValueError with one clear sentence on a bad kind or parameter."""
    cls = CHECKS.get(kind)
    if cls is None:
        close = difflib.get_close_matches(kind, list(CHECKS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known checks: {', '.join(sorted(CHECKS))}"
        raise ValueError(f"unknown check '{kind}'{hint}")
    extra = {"judge": judge} if cls is JudgeCheck else {}
    check: Check = bind(kind, cls, params, extra=extra)
    return check


def check_params(kind: str) -> dict[str, dict[str, Any]]:
    """Parameter name -> {type, default, required} of one check kind, for docs and the schema."""
    if kind not in CHECKS:
        raise ValueError(f"unknown check '{kind}'")
    return describe(CHECKS[kind])
