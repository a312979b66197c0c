"""cascadepolicy: govern every LLM call from one declarative YAML policy.

    policy = cascadepolicy.load("policies/saas.yaml")
    engine = policy.engine()
    result = engine.complete(messages, user="u-42", context={"user": {"tier": "pro"}})

Importing this package is light: litellm is imported only when a model is
actually called.
"""

from __future__ import annotations

from cascadepolicy.diagnostics import Diagnostic, Location, Severity
from cascadepolicy.errors import (
    CascadePolicyError,
    ConditionError,
    PolicyError,
    ProviderError,
    RequestError,
    StoreError,
)
from cascadepolicy.loader import LoadResult, check_file, check_text, load, loads
from cascadepolicy.policy import Policy

__version__ = "0.1.0"

__all__ = [
    "CascadePolicyError",
    "ConditionError",
    "Diagnostic",
    "LoadResult",
    "Location",
    "Policy",
    "PolicyError",
    "ProviderError",
    "RequestError",
    "Severity",
    "StoreError",
    "__version__",
    "check_file",
    "check_text",
    "load",
    "loads",
]
