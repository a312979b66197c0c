"""A provider's moderation endpoint through litellm: one call, its answer read as a Verdict.

The provider half of the `moderation` guardrail (`guardrails.moderation`
answers offline without a provider). The text goes to `litellm.moderation`;
the flagged categories and the scores at or above the threshold become
findings. Provider errors propagate: the engine maps them and fails closed,
so an outage never reads as "clean". litellm is imported on the first call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from cascadepolicy.guardrails.base import Finding, Verdict, passing


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    for attr in ("model_dump", "dict"):
        fn = getattr(value, attr, None)
        if callable(fn):
            return dict(fn())
    return dict(vars(value))


def verdict_from_response(response: Any, text_length: int, threshold: float) -> Verdict:
    """Turn a moderation response (OpenAI shape) into a Verdict."""
    results = _as_dict(response).get("results") or []
    if not results:
        raise ValueError("the moderation response has no results")
    first = _as_dict(results[0])
    flags = {k: bool(v) for k, v in _as_dict(first.get("categories")).items() if v is not None}
    scores = {k: float(v) for k, v in _as_dict(first.get("category_scores")).items() if v is not None}
    hit = sorted(
        {k for k, v in flags.items() if v} | {k for k, s in scores.items() if s >= threshold}
    )
    findings = tuple(
        Finding(k, 0, text_length, scores.get(k, 1.0), k.upper().replace("/", "_").replace("-", "_"))
        for k in hit
    )
    top = max(scores.values(), default=1.0 if hit else 0.0)
    if not hit:
        return passing("the moderation provider flagged nothing") if not scores else Verdict(
            False, top, (), "the moderation provider flagged nothing"
        )
    return Verdict(True, max(top, threshold), findings, f"flagged by the moderation provider: {', '.join(hit)}")


def moderate(text: str, provider: str, threshold: float = 0.5) -> Verdict:
    """Moderate `text` with `provider`, a litellm moderation model name."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    response = litellm.moderation(input=text, model=provider)
    return verdict_from_response(response, len(text), threshold)
