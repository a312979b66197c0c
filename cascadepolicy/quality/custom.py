"""The `custom` check: a policy names a Python callable `module:function` taking a Draft.

Where this sits: `registry.build_check` builds it when an engine is built, and
`callables.resolve` imports the function then; validating a policy only
locates it (`callables.check`), so a typo is a policy error with a clear
sentence before anything runs. The callable returns a float in 0..1, a bool,
or a CheckResult.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from cascadepolicy.loading.callables import resolve

from .base import CheckResult, Draft, clamp01


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
