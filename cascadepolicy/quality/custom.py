"""The `custom` check: a policy names a Python callable `module:function` taking a Draft.

Where this sits: `registry.build_check` resolves the callable when the policy
is compiled, so a typo is a policy error with a clear sentence, never a
runtime surprise. The callable returns a float in 0..1, a bool, or a CheckResult.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from .base import CheckResult, Draft, clamp01


def resolve(reference: str) -> Callable[..., Any]:
    """Import `module:function` (dotted attributes allowed after the colon)."""
    module_name, sep, attr_path = reference.partition(":")
    if not sep or not module_name or not attr_path:
        raise ValueError(f"function must look like 'package.module:function', got {reference!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module '{module_name}' for custom check {reference!r}: {exc}") from exc
    for attr in attr_path.split("."):
        if not hasattr(target, attr):
            raise ValueError(f"module '{module_name}' has no attribute '{attr_path}' (custom check {reference!r})")
        target = getattr(target, attr)
    if not callable(target):
        raise ValueError(f"{reference!r} is not callable")
    return target  # type: ignore[no-any-return]


@dataclass(frozen=True)
class CustomCheck:
    """Calls `function(draft, **args)`; a number passes at `min_score` or above."""

    kind: ClassVar[str] = "custom"
    function: str
    args: dict[str, Any] = field(default_factory=dict)
    min_score: float = 0.5
    _fn: Callable[..., Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fn", resolve(self.function))

    def __call__(self, draft: Draft) -> CheckResult:
        try:
            value = self._fn(draft, **self.args)
        except Exception as exc:  # fail closed: a crashing validator does not accept the draft
            return CheckResult(self.kind, 0.0, False, detail=f"{self.function} raised {type(exc).__name__}: {exc}"[:200])
        if isinstance(value, CheckResult):
            return value if value.check else replace(value, check=self.kind)
        if isinstance(value, bool):
            return CheckResult(self.kind, float(value), value, detail=f"{self.function} returned {value}")
        if isinstance(value, (int, float)):
            score = clamp01(float(value))
            return CheckResult(self.kind, score, score >= self.min_score, detail=f"{self.function} scored {score:.2f}")
        return CheckResult(self.kind, 0.0, False, detail=f"{self.function} returned {type(value).__name__}, expected a float, bool or CheckResult")
