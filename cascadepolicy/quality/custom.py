"""The `custom` check: a policy names a Python callable `module:function` taking a Draft.

Where this sits: `registry.compile_check` compiles it when the policy is
loaded, which only keeps the reference: the loader has already located the
function without importing it (`loading.callables.check`), so a typo is a
policy error with a clear sentence before anything runs. The function is
imported when the engine links the check (`Links.resolve`). It returns a
float in 0..1, a bool, or a CheckResult.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from cascadepolicy.language import model as lang

from .base import Check, CheckResult, Draft, Links, clamp01


class CustomCheck:
    """Calls `function(draft, **args)` once linked; a number passes at `min_score` or above."""

    kind: ClassVar[str] = "custom"

    def __init__(self, spec: lang.CustomCheck) -> None:
        self.spec = spec

    def link(self, links: Links) -> Check:
        return CalledCheck(self.spec, links.resolve(self.spec.function))


@dataclass(frozen=True)
class CalledCheck:
    """A custom check with its function imported: what runs on drafts."""

    spec: lang.CustomCheck
    fn: Callable[..., Any]
    kind: ClassVar[str] = "custom"
    reads_text: ClassVar[bool] = False  # the function gets the whole Draft, tool calls included, and decides

    def __call__(self, draft: Draft) -> CheckResult:
        function = self.spec.function
        try:
            value = self.fn(draft, **self.spec.args)
        except Exception as exc:  # fail closed: a crashing validator does not accept the draft
            return CheckResult(self.kind, 0.0, False, detail=f"{function} raised {type(exc).__name__}: {exc}"[:200])
        if isinstance(value, CheckResult):
            return value if value.check else replace(value, check=self.kind)
        if isinstance(value, bool):
            return CheckResult(self.kind, float(value), value, detail=f"{function} returned {value}")
        if isinstance(value, (int, float)):
            score = clamp01(float(value))
            return CheckResult(self.kind, score, score >= self.spec.min_score, detail=f"{function} scored {score:.2f}")
        return CheckResult(self.kind, 0.0, False, detail=f"{function} returned {type(value).__name__}, expected a float, bool or CheckResult")
