"""The exceptions cascadepolicy raises: one tree, rooted at `CascadePolicyError`.

    CascadePolicyError
    ├── PolicyError          the policy has errors (carries every Diagnostic)
    ├── RequestError         a request cannot be evaluated (bad messages or context)
    ├── ConditionError       a route condition failed at run time (fail-closed)
    ├── Blocked              the policy refused a request (`engine.completion`);
    │                        carries the reason, retry_after and the decision
    ├── StoreError           the state store cannot be reached or answered badly
    ├── ProviderError        a model call failed (wraps litellm's exceptions)
    │   ├── ProviderTimeout
    │   ├── ProviderRateLimited
    │   ├── ProviderAuthError
    │   ├── ProviderBadRequest
    │   │   └── ContextWindowExceeded  the prompt does not fit the model's context
    │   │                          window (checked before the call, or the provider's)
    │   └── ProviderUnavailable
    ├── ReplayError          a recorded-responses file is malformed
    ├── UsageError           bad command-line input (the CLI exits 2)
    ├── DetectorUnavailable  also an ImportError: an optional detector's package
    │                        is not installed (guardrails.base)
    ├── CallableNotRun       also a RuntimeError: custom code a policy names was
    │                        located but not imported (loading.callables)
    │   Raised inside a stage, which turns them into diagnostics or one of the above:
    ├── CallableProblem      also a ValueError: a `module:function` that names no
    │                        callable (loading.callables)
    ├── Refused              a path that may not or cannot be read (loading.confine)
    ├── TooComplex           a YAML document past a parse limit (loading.yaml_limits)
    ├── ParamError           also a ValueError: a validator's parameters that cannot
    │                        be compiled (quality.base)
    ├── PatternTimeout       a policy's regular expression searched past its time
    │                        limit (quality.user_regex)
    └── LimitExceeded        also a ValueError: a condition's result past a cap
                             (language.condition_ops)

The classes defined elsewhere live beside the one stage that raises them;
tests/unit/test_errors.py keeps every exception class of the package in this
tree. Private (`_`-prefixed) exceptions never leave the module that raises them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


class Blocked(CascadePolicyError):
    """The policy refused the request: why (`reason`), when to try again (`retry_after`, seconds, for
    rate and budget refusals) and the full `decision` record."""

    def __init__(self, reason: str, *, retry_after: float | None = None, decision: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.decision = decision


class StoreError(CascadePolicyError):
    """The state store could not be reached or returned something unusable."""


class ProviderError(CascadePolicyError):
    """A model call failed; `model` names the policy model id that was called. Raised by
    `engine.completion` when no step could answer, with the request's `decision`."""

    retryable = False
    decision: Any = None

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


class ContextWindowExceeded(ProviderBadRequest):
    """The prompt and `max_tokens` do not fit a model's context window: found before sending
    (`providers.windows`), or reported by the provider. The call moves on to the next fallback."""


class ReplayError(CascadePolicyError):
    """The recorded-responses file is malformed."""


class UsageError(CascadePolicyError):
    """Bad command-line input: the CLI exits 2."""
