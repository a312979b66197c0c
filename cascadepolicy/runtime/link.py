"""Linking: the one step of building an engine that `validate` leaves out, importing the code a policy names.

    policy ─▶ compile.plan (what validate runs) ─▶ ▶ link (custom validators' and guardrails' functions,
    judge checks handed to the walk) ─▶ Engine

The loader already compiled every check and located every `module:function`
reference without importing it. Linking imports them, when `policy.engine()`
builds the plan's checks and the guardrail runner. A reference that cannot be
imported even so (a module whose own code fails, a name bound only at import
time) is a `PolicyError` with a `ref-custom-callable` diagnostic at the
reference's `function`, like every other problem of a policy, never a raw
exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cascadepolicy.compile.plan import PlannedGuard
from cascadepolicy.diagnostics import Diagnostic
from cascadepolicy.errors import PolicyError
from cascadepolicy.language.model import QualityCheck
from cascadepolicy.loading.callables import CallableProblem, resolve
from cascadepolicy.quality.base import Check, Links
from cascadepolicy.quality.registry import Compiled, link_check

if TYPE_CHECKING:
    from cascadepolicy.loading.source import PathKey
    from cascadepolicy.policy import Policy

LinkedChecks = tuple[tuple[Check, float, bool], ...]  # a validator set: (check, weight, required) each


class Linker:
    """Links `policy`'s checks and guardrails; each validator set once, on first use."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._validators: dict[str, LinkedChecks] = {}

    def resolve(self, text: str, at: PathKey, *, entry_points: bool = False) -> Callable[..., Any]:
        """Import the callable `text` names, written at `at` in the policy."""
        try:
            return resolve(text, entry_points=entry_points)
        except CallableProblem as exc:
            raise PolicyError([Diagnostic("ref-custom-callable", exc.message, self.policy.location(at), hint=exc.hint)]) from exc

    def guardrail_function(self, guard: PlannedGuard, text: str) -> Callable[..., Any]:
        """A custom guardrail's function (an entry point's name is allowed)."""
        return self.resolve(text, ("guardrails", guard.index, "function"), entry_points=True)

    def build_check(self, name: str, index: int, spec: QualityCheck) -> Check:
        """The plan's `CheckBuilder`: check `index` of validator set `name`."""
        return self.validators(name)[index][0]

    def validators(self, name: str) -> LinkedChecks:
        """Validator set `name` as it runs on drafts."""
        linked = self._validators.get(name)
        if linked is None:
            linked = self._validators[name] = tuple((self._link(name, index, compiled.check), compiled.weight, compiled.required)
                                                    for index, compiled in enumerate(self.policy.validators[name]))
        return linked

    def _link(self, name: str, index: int, compiled: Compiled) -> Check:
        def resolve_at(text: str) -> Callable[..., Any]:
            return self.resolve(text, ("validators", name, index, "function"))
        return link_check(compiled, Links(judge=_judged_by_the_walk, resolve=resolve_at))


def _judged_by_the_walk(model: str, prompt: str) -> tuple[str, float]:
    raise AssertionError("an engine's judge calls are model calls of the walk (Cascade._judge), never direct")
