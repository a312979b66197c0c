"""The admission templates of a policy: every rate window, budget and limit, per tier.

Part of the plan (`Plan.limits`). For each tier, and for requests of a policy
without tiers, the windows, budgets and limits that can apply to a request,
each with everything about its store charge that does not depend on the
request worked out once, and the policy element it comes from. Admission
(`runtime.admission`) turns them into charges for one request; test coverage
and usage fixtures find a limit's template by its path instead of planning
a reduced copy of the policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cascadepolicy.language.model import Budget, RateWindow, duration_seconds

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class LimitTemplate:
    """One rate window or budget that may apply to a request, with everything
    about its charge that does not depend on the request, worked out once."""

    key: str  # the store key; a per-user limit puts the user id between `key` and `tail`
    tail: str | None  # None: the same key for every user
    measure: str  # requests | tokens | usd
    mode: str
    real_limit: float
    charge_limit: float  # the real limit when enforced, else unlimited (counted only)
    model: str | None  # per-model limits count only that model
    window: float | None  # seconds of a rolling window
    calendar: tuple[str, str] | None  # (day | week | month, time zone) of a calendar budget
    budget: Budget | None
    label: str
    fail_open: bool
    path: PathKey = ()  # where the policy declares it
    name: str = ""  # its name in coverage reports: tiers.<tier>.rate[<i>], tiers.<tier>.budget, limits.<id>


def compile_limits(policy: Policy) -> dict[str | None, tuple[LimitTemplate, ...]]:
    """Per tier (None: a request without one), the templates of every window, budget and limit that applies."""
    compiler = _Limits(f"{policy.name}|")
    spec = policy.spec
    untiered = tuple(compiler.limits(policy))
    by_tier: dict[str | None, tuple[LimitTemplate, ...]] = {None: untiered}
    for name, tier in spec.tiers.items():
        templates: list[LimitTemplate] = []
        for index, window in enumerate(tier.rate):
            shared = window.scope == "tier"
            label = f"tier {name!r}: {describe_window(window)}" + (" (shared by the tier)" if shared else "")
            templates.append(compiler.window(f"tier:{name}" if shared else None, f"|{name}.rate{index}", window, None, label,
                                             ("tiers", name, "rate", index), f"tiers.{name}.rate[{index}]"))
        if tier.budget:
            owner = f"tier:{name}" if tier.budget.scope == "tier" else None
            templates.append(compiler.budget(owner, f"|{name}.budget", tier.budget, None,
                                             f"tier {name!r}: ${tier.budget.usd:g} per {tier.budget.per}",
                                             ("tiers", name, "budget"), f"tiers.{name}.budget"))
        by_tier[name] = (*templates, *untiered)
    return by_tier


class _Limits:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def limits(self, policy: Policy) -> list[LimitTemplate]:
        out = []
        for index, limit in enumerate(policy.spec.limits):
            owner, path, name = f"limit:{limit.id}", ("limits", index), f"limits.{limit.id}"
            if limit.rate:
                out.append(self.window(owner, "", limit.rate, limit.model, f"limit {limit.id!r}: {describe_window(limit.rate)}",
                                       path, name))
            if limit.budget:
                out.append(self.budget(owner, "", limit.budget, limit.model,
                                       f"limit {limit.id!r}: ${limit.budget.usd:g} per {limit.budget.per}", path, name))
        return out

    def key(self, owner: str | None, tail: str) -> tuple[str, str | None]:
        """The store key of a limit, split around the user id when it is counted per user."""
        if owner is None:
            return f"{self.prefix}user:", tail
        return f"{self.prefix}{owner}{tail}", None

    def window(self, owner: str | None, tail: str, window: RateWindow, model: str | None, label: str, path: PathKey,
               name: str) -> LimitTemplate:
        measure = "requests" if window.requests is not None else "tokens"
        limit = float(window.requests if window.requests is not None else window.tokens)  # type: ignore[arg-type]
        return LimitTemplate(*self.key(owner, f"{tail}|{measure}/{window.per}"), measure, window.mode, limit,
                             limit if window.mode == "enforce" else math.inf, model, duration_seconds(window.per), None,
                             None, label, window.fail_open, path, name)

    def budget(self, owner: str | None, tail: str, budget: Budget, model: str | None, label: str, path: PathKey,
               name: str) -> LimitTemplate:
        limit = budget.usd * budget.block_at
        calendar = budget.per in ("day", "week", "month")
        return LimitTemplate(*self.key(owner, f"{tail}|usd/{budget.per}" + (":" if calendar else "")), "usd", budget.mode, limit,
                             limit if budget.mode == "enforce" else math.inf, model,
                             None if calendar else duration_seconds(budget.per),
                             (budget.per, budget.timezone) if calendar else None, budget, label, budget.fail_open, path, name)


def describe_window(window: RateWindow) -> str:
    if window.requests is not None:
        return f"{window.requests} requests per {window.per}"
    return f"{window.tokens} tokens per {window.per}"
