"""Quality validators that score a cascade step's draft (issue 3 item 4).

The loader compiles each validator of a policy once (`registry.compile_check`,
from its model in `cascadepolicy.language.model`), the engine links the ones
that need it and scores every draft with `score_draft`; `build_check` does
the same from a plain mapping. `docs/validators.md` lists every check.
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
