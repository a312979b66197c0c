"""The exceptions cascadepolicy raises.

    CascadePolicyError
    ├── PolicyError          the policy has errors (carries every Diagnostic)
    ├── RequestError         a request cannot be evaluated (bad messages or context)
    ├── ConditionError       a route condition failed at run time (fail-closed)
    ├── StoreError           the state store cannot be reached or answered badly
    └── ProviderError        a model call failed (wraps litellm's exceptions)
        ├── ProviderTimeout
        ├── ProviderRateLimited
        ├── ProviderAuthError
        ├── ProviderBadRequest
        └── ProviderUnavailable
"""

from __future__ import annotations

from collections.abc import Sequence

from cascadepolicy.diagnostics import Diagnostic


class CascadePolicyError(Exception):
    """Base class of every error this library raises on purpose."""


class PolicyError(CascadePolicyError):
    """The policy has errors; `diagnostics` holds all of them, sorted by location."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.is_error]
        shown = "\n".join(d.format() for d in errors[:20])
        more = f"\n... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"the policy has {len(errors)} error(s):\n{shown}{more}")


class RequestError(CascadePolicyError):
    """The request itself is malformed (messages, context or metadata)."""


class ConditionError(CascadePolicyError):
    """A route condition could not be evaluated for this request."""


class StoreError(CascadePolicyError):
    """The state store could not be reached or returned something unusable."""


class ProviderError(CascadePolicyError):
    """A model call failed; `model` names the policy model id that was called."""

    retryable = False

    def __init__(self, message: str, *, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model


class ProviderTimeout(ProviderError):
    retryable = True


class ProviderRateLimited(ProviderError):
    retryable = True


class ProviderUnavailable(ProviderError):
    retryable = True


class ProviderAuthError(ProviderError):
    pass


class ProviderBadRequest(ProviderError):
    pass
