"""cascadepolicy: govern every LLM call from one declarative YAML policy.

    policy = cascadepolicy.load("policies/saas.yaml")
    engine = policy.engine()
    result = engine.complete(messages, user="u-42", context={"user": {"tier": "pro"}})

Importing this package is light: the runtime types (`Engine`, `Result`,
`Decision`, ...) are imported from `cascadepolicy.runtime` on first use, and
litellm only when a model is actually called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cascadepolicy.diagnostics import Diagnostic, Location, Severity
from cascadepolicy.errors import (
    CascadePolicyError,
    ConditionError,
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

__version__ = "0.1.0"

__all__ = [
    "AdmissionRecord",
    "AsyncStreamingResult",
    "CascadePolicyError",
    "ConditionError",
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
    "load",
    "loads",
]

_ENGINE = ("AsyncStreamingResult", "Engine", "Result", "StreamingResult")
_DECISION = ("AdmissionRecord", "Decision", "GuardrailVerdict", "LimitStatus", "ModelCall", "RouteRecord", "Validation")


def __getattr__(name: str) -> Any:
    # Loaded on first use: the engine brings the guardrails, validators and stores with it,
    # and `validate` needs neither module.
    if name in _ENGINE:
        from cascadepolicy.runtime import engine

        return getattr(engine, name)
    if name in _DECISION:
        from cascadepolicy.runtime import decision

        return getattr(decision, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
