"""Moderation: a provider's moderation endpoint, or offline.

Sits in the guardrail stage. With a provider (a litellm model name such as
"omni-moderation-latest") the call and the reading of its answer are
`providers.moderation.moderate`; provider errors propagate, and the engine
maps them and fails closed, so an outage never reads as "clean". Without a
provider the offline toxicity lexicon answers instead.
"""

from __future__ import annotations

from cascadepolicy.guardrails import toxicity
from cascadepolicy.guardrails.base import Verdict
from cascadepolicy.providers.moderation import moderate


def scan(text: str, provider: str | None, threshold: float = 0.5) -> Verdict:
    """Moderate `text` with `provider` (a litellm model name) or, when None, offline."""
    if provider is None:
        return toxicity.scan(text, threshold)
    return moderate(text, provider, threshold)
