"""Registry: check kind names to detector functions, and custom checks.

The compiler resolves every guardrail of a policy here, so an unknown kind
or a custom reference that does not import fails at validate time, not at
the first request.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from cascadepolicy.guardrails import grounding, injection, moderation, pii, toxicity
from cascadepolicy.guardrails.base import Verdict

ENTRY_POINT_GROUP = "cascadepolicy.guardrails"

CHECKS: dict[str, Callable[..., Verdict]] = {
    "pii": pii.scan,
    "prompt_injection": injection.scan,
    "toxicity": toxicity.scan,
    "moderation": moderation.scan,
    "grounding": grounding.scan,
}


def _from_module(ref: str) -> Any:
    module_name, _, attr_path = ref.partition(":")
    if not module_name or not attr_path:
        raise ValueError(f"custom guardrail {ref!r} must be written 'package.module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"custom guardrail {ref!r}: module {module_name!r} cannot be imported ({e})") from e
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"custom guardrail {ref!r}: {module_name!r} has no attribute {attr_path!r}") from None
    return obj


def _from_entry_point(name: str) -> Any:
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        raise ValueError(
            f"custom guardrail {name!r} is neither 'module:function' nor an entry point "
            f"registered in the group {ENTRY_POINT_GROUP!r}"
        )
    try:
        return matches[0].load()
    except Exception as e:  # a plugin's import can fail in any way; report which one
        raise ValueError(f"custom guardrail {name!r}: its entry point failed to load ({e})") from e


def load_custom(ref: str) -> Callable[..., Any]:
    """Resolve 'package.module:function' or an entry-point name to a callable.

    A class is instantiated without arguments, and the instance must be callable.
    """
    obj = _from_module(ref) if ":" in ref else _from_entry_point(ref)
    if isinstance(obj, type):
        try:
            obj = obj()
        except TypeError as e:
            raise ValueError(f"custom guardrail {ref!r}: the class cannot be created without arguments ({e})") from e
    if not callable(obj):
        raise ValueError(f"custom guardrail {ref!r} resolves to a {type(obj).__name__}, which is not callable")
    return obj
