"""cascadepolicy: govern every LLM call from one declarative YAML policy.

    policy = cascadepolicy.load("policies/saas.yaml")
    engine = policy.engine()
    response = engine.completion(messages, user="u-42", context={"user": {"tier": "pro"}}, tools=[...])
    cascadepolicy.decision_of(response)           # the decision record

Importing this package is light: the runtime types (`Engine`, `Result`,
`Decision`, ...) are imported from `cascadepolicy.runtime` on first use, and
litellm only when a model is actually called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cascadepolicy.diagnostics import Diagnostic, Location, Severity
from cascadepolicy.errors import (
    Blocked,
    CascadePolicyError,
    ConditionError,
    ContextWindowExceeded,
    PolicyError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    ReplayError,
    RequestError,
    StoreError,
)
from cascadepolicy.loading.loader import LoadResult, check_file, check_text, load, loads
from cascadepolicy.policy import Policy

if TYPE_CHECKING:
    from cascadepolicy.runtime.decision import (
        AdmissionRecord,
        Decision,
        GuardrailVerdict,
        LimitStatus,
        ModelCall,
        RouteRecord,
        Validation,
    )
    from cascadepolicy.runtime.engine import AsyncStreamingResult, Engine, Result, StreamingResult
    from cascadepolicy.runtime.surface import AsyncCompletionStream, CompletionStream, decision_of

__version__ = "0.1.0"

__all__ = [
    "AdmissionRecord",
    "AsyncCompletionStream",
    "AsyncStreamingResult",
    "Blocked",
    "CascadePolicyError",
    "CompletionStream",
    "ConditionError",
    "ContextWindowExceeded",
    "Decision",
    "Diagnostic",
    "Engine",
    "GuardrailVerdict",
    "LimitStatus",
    "LoadResult",
    "Location",
    "ModelCall",
    "Policy",
    "PolicyError",
    "ProviderAuthError",
    "ProviderBadRequest",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "ReplayError",
    "RequestError",
    "Result",
    "RouteRecord",
    "Severity",
    "StoreError",
    "StreamingResult",
    "Validation",
    "__version__",
    "check_file",
    "check_text",
    "decision_of",
    "load",
    "loads",
]

_ENGINE = ("AsyncStreamingResult", "Engine", "Result", "StreamingResult")
_DECISION = ("AdmissionRecord", "Decision", "GuardrailVerdict", "LimitStatus", "ModelCall", "RouteRecord", "Validation")
_SURFACE = ("AsyncCompletionStream", "CompletionStream", "decision_of")


def __getattr__(name: str) -> Any:
    # Loaded on first use: the engine brings the guardrails, validators and stores with it,
    # and `validate` needs neither module.
    if name in _ENGINE:
        from cascadepolicy.runtime import engine

        return getattr(engine, name)
    if name in _SURFACE:
        from cascadepolicy.runtime import surface

        return getattr(surface, name)
    if name in _DECISION:
        from cascadepolicy.runtime import decision

        return getattr(decision, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
