"""Quality validators that score a cascade step's draft (issue 3 item 4).

The engine builds each validator of a policy once with `build_check` and
scores every draft with `score_draft`; `docs/validators.md` lists every check.
"""

from __future__ import annotations

from .base import Check, CheckResult, CompositeScore, Draft, JudgeFn
from .composite import score_draft
from .registry import CHECKS, build_check, check_params

__all__ = [
    "CHECKS",
    "Check",
    "CheckResult",
    "CompositeScore",
    "Draft",
    "JudgeFn",
    "build_check",
    "check_params",
    "score_draft",
]
