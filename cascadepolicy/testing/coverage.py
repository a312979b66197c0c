"""Which parts of a policy a suite's cases exercised.

The elements counted are the ones that carry behaviour: every route (taken
by some case), every step of a cascade a route or degradation reaches (a
model call made at that step), every guardrail (fired in some case) and every
rate window, budget and limit (pushed past ok: warned, degraded or refused in
some case). Routes, steps, guardrails and limits are the plan's
(`cascadepolicy.compile.plan`), matched against each case's decision record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cascadepolicy.compile.plan import compile_plan
from cascadepolicy.policy import Policy
from cascadepolicy.runtime.decision import Decision


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
        self.limits: dict[str, CoverageItem] = {}  # by the label decision records give a limit
        for tier in sorted(plan.limits, key=lambda tier: tier is None):  # the tiers' own first, as the policy lists them
            for t in plan.limits[tier]:
                self.limits.setdefault(t.label, CoverageItem("limit", t.name, where(*t.path)))

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
