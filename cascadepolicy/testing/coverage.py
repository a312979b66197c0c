"""Which parts of a policy a suite's cases exercised.

The elements counted are the ones that carry behaviour: every route (taken
by some case), every step of a cascade a route or degradation reaches (a
model call made at that step), every guardrail (fired in some case) and every
rate window, budget and limit (pushed past ok: warned, degraded or refused in
some case). Routes, steps and guardrails are the plan's
(`cascadepolicy.compile.plan`), matched against each case's decision record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from cascadepolicy.compile.plan import compile_plan
from cascadepolicy.compile.worst_case import Usage
from cascadepolicy.policy import Policy
from cascadepolicy.runtime.admission import Admitter
from cascadepolicy.runtime.decision import Decision
from cascadepolicy.state.memory import MemoryStore


@dataclass
class CoverageItem:
    kind: str  # route | step | guardrail | limit
    name: str
    location: str | None
    covered_by: list[str] = field(default_factory=list)

    @property
    def covered(self) -> bool:
        return bool(self.covered_by)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "location": self.location, "covered_by": self.covered_by}


@dataclass
class Coverage:
    items: list[CoverageItem]

    @property
    def percent(self) -> float:
        return 100.0 * sum(i.covered for i in self.items) / len(self.items) if self.items else 100.0

    @property
    def missing(self) -> list[CoverageItem]:
        return [i for i in self.items if not i.covered]

    def to_dict(self) -> dict[str, object]:
        return {"percent": round(self.percent, 2), "total": len(self.items), "covered": len(self.items) - len(self.missing),
                "missing": [i.to_dict() for i in self.missing]}


class CoverageTracker:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.plan = plan = compile_plan(policy)
        where = lambda *path: str(loc) if (loc := policy.location(path)) else None  # noqa: E731
        self.routes = [CoverageItem("route", f"#{r.index} {r.name or ''}".strip(), r.location) for r in plan.routes]
        # the steps of every cascade a route or a degradation can reach, by node id
        self.steps = {step.node: CoverageItem("step", f"{target.id}[{step.index}] {step.model}", step.location)
                      for target, step in plan.steps() if target.kind == "cascade"}
        self.guardrails = {g.rule.id: CoverageItem("guardrail", g.rule.id, g.location)
                           for g in (*plan.input_guards, *plan.output_guards)}
        self.limits: dict[str, CoverageItem] = {}
        for label, name, path in _limit_labels(policy):
            self.limits.setdefault(label, CoverageItem("limit", name, where(*path)))

    def record(self, case: str, decision: Decision) -> None:
        route = decision.route
        if route is not None:
            self.routes[route.index].covered_by.append(case)
            cascade = route.target.get("cascade")
            if cascade is not None:
                steps, _ = self.plan.allowed(self.plan.target(cascade), decision.tier)
                for position in sorted({c.step for c in decision.calls if c.purpose != "judge"}):
                    if position < len(steps):
                        self.steps[steps[position].node].covered_by.append(case)
        for verdict in decision.guardrails:
            if verdict.fired and verdict.id in self.guardrails:
                self.guardrails[verdict.id].covered_by.append(case)
        if decision.admission is not None:
            for status in decision.admission.limits:
                if status.status != "ok" and status.label in self.limits:
                    self.limits[status.label].covered_by.append(case)

    def result(self) -> Coverage:
        return Coverage([*self.routes, *self.steps.values(), *self.guardrails.values(), *self.limits.values()])


def _limit_labels(policy: Policy) -> list[tuple[str, str, tuple[str | int, ...]]]:
    """(label in decision records, display name, source path) of every window, budget and limit.

    Each element is planned alone on a reduced copy of the policy, so the
    label is exactly the one the engine's admission writes.
    """
    spec = policy.spec
    everything = Usage({m: 0.0 for m in spec.models}, {m: 0.0 for m in spec.models})
    out: list[tuple[str, str, tuple[str | int, ...]]] = []

    def plan(tiers: dict[str, object], limits: tuple[object, ...], tier: str | None) -> str:
        reduced = spec.model_copy(update={"tiers": tiers, "limits": limits})
        admitter = Admitter(SimpleNamespace(spec=reduced, name=policy.name), MemoryStore())  # type: ignore[arg-type]
        return admitter.plan(user="u", tier=tier, worst=everything, now=0.0)[0].charge.label

    for name, tier in spec.tiers.items():
        for i, window in enumerate(tier.rate):
            label = plan({name: tier.model_copy(update={"rate": (window,), "budget": None})}, (), name)
            out.append((label, f"tiers.{name}.rate[{i}]", ("tiers", name, "rate", i)))
        if tier.budget is not None:
            label = plan({name: tier.model_copy(update={"rate": ()})}, (), name)
            out.append((label, f"tiers.{name}.budget", ("tiers", name, "budget")))
    for i, limit in enumerate(spec.limits):
        out.append((plan({}, (limit,), None), f"limits.{limit.id}", ("limits", i)))
    return out
