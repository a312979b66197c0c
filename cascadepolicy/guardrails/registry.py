"""Registry: check kind names to detector functions.

Custom guardrails (`module:function` or an entry point in `ENTRY_POINT_GROUP`)
are located by `cascadepolicy.loading.callables`: statically when a policy is
validated, imported only when an engine is built.
"""

from __future__ import annotations

from collections.abc import Callable

from cascadepolicy.guardrails import grounding, injection, moderation, pii, toxicity
from cascadepolicy.guardrails.base import Verdict
from cascadepolicy.loading.callables import ENTRY_POINT_GROUP

__all__ = ["CHECKS", "ENTRY_POINT_GROUP"]

CHECKS: dict[str, Callable[..., Verdict]] = {
    "pii": pii.scan,
    "prompt_injection": injection.scan,
    "toxicity": toxicity.scan,
    "moderation": moderation.scan,
    "grounding": grounding.scan,
}
