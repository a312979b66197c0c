"""Replay recorded traffic through the real compiled graph, offline.

Each line of a recorded-responses file holds `messages` and, per litellm model
name, the model's recorded answer with `correct` (true/false) or `score`
(1-10). Every model call the policy makes is answered from the record through
litellm's `mock_response`, so the path is the production path, and priced
with litellm's price for that model and the tokens of the recorded text. The
report compares the policy with always calling the first or the last step's
model; `sweep` varies the first step's acceptance threshold and reports the
cost/quality curve with the RouteLLM metrics CPT(50%), CPT(80%) and APGR.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cascadepolicy.errors import ReplayError
from cascadepolicy.providers.transport import MockTransport

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy


@dataclass
class Record:
    id: str
    messages: list[dict[str, Any]]
    responses: dict[str, dict[str, Any]]

    def quality(self, model: str | None) -> float:
        if model is None or model not in self.responses:
            return 0.0
        answer = self.responses[model]
        if "correct" in answer:
            return 1.0 if answer["correct"] else 0.0
        return float(answer.get("score", 0.0))


def read_records(path: str | Path, limit: int | None = None) -> list[Record]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                record = Record(str(raw.get("id", number)), list(raw["messages"]), dict(raw["responses"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ReplayError(f"{path}:{number}: not a recorded-responses line ({exc}); "
                                  "each line needs `messages` and `responses`.") from exc
            records.append(record)
            if limit is not None and len(records) >= limit:
                break
    if not records:
        raise ReplayError(f"{path} holds no records")
    return records


@dataclass
class Outcome:
    record: Record
    final_model: str | None
    cost: float
    first_score: float | None
    steps_called: int
    blocked: bool


@dataclass
class Report:
    requests: int
    quality: float
    total_cost: float
    cost_per_request: float
    escalation_rate: dict[str, float]
    first_model: dict[str, Any]
    last_model: dict[str, Any]
    quality_vs_strongest: float
    savings_vs_strongest: float
    blocked: int
    metric: str
    sweep: list[dict[str, float]] = field(default_factory=list)
    routellm: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Replayer:
    def __init__(self, policy: Policy, *, cascade: str | None = None, tier: str | None = None,
                 context: Mapping[str, Any] | None = None, interval: float = 60.0) -> None:
        from cascadepolicy.state import MemoryStore

        self.policy = policy
        # Recorded traffic is replayed on a simulated clock, one request every
        # `interval` seconds, so rate windows see the traffic's pace, not the replay's.
        self.now = 1_700_000_000.0
        self.interval = interval
        self.engine = policy.engine(store=MemoryStore(), decision_log=None, clock=lambda: self.now, offline=True)
        self.tier = tier
        self.context = dict(context or {})
        self.cascade = cascade or self._main_cascade()
        steps = policy.spec.cascades[self.cascade]
        models = policy.spec.models
        self.first = models[steps[0].model].model
        self.last = models[steps[-1].model].model
        self.first_id, self.last_id = steps[0].model, steps[-1].model

    def _main_cascade(self) -> str:
        spec = self.policy.spec
        for route in reversed(spec.routes):
            target = getattr(route, "default", None) or route
            cascade = getattr(target, "cascade", None)
            if isinstance(cascade, str):
                return cascade
        if not spec.cascades:
            raise ReplayError("the policy has no cascade to replay")
        return next(iter(spec.cascades))

    def run(self, records: Iterable[Record], progress: bool = True) -> list[Outcome]:
        items = list(records)
        iterator: Iterable[Record] = items
        if progress:
            from tqdm import tqdm

            iterator = tqdm(items, desc="replay", unit="req", leave=False)
        outcomes = []
        for record in iterator:
            self.now += self.interval
            mocks = {model: answer.get("content", "") for model, answer in record.responses.items()}
            answered = self.engine.using(MockTransport(mocks))
            result = answered.complete(record.messages, user=f"replay-{record.id}", tier=self.tier, context=self.context)
            decision = result.decision
            first_score = decision.validations[0].score if decision.validations else None
            outcomes.append(Outcome(record, result.model, result.cost, first_score, len(decision.models_called), result.blocked))
        return outcomes

    def single_model_cost(self, record: Record, model_id: str) -> float:
        from cascadepolicy.providers.calls import count_tokens

        model = self.policy.spec.models[model_id].model
        text = record.responses.get(model, {}).get("content", "")
        return self.policy.prices[model_id].cost(*count_tokens(record.messages, text))

    def report(self, outcomes: list[Outcome], sweep: bool = False) -> Report:
        n = len(outcomes)
        metric = "correct" if any("correct" in a for o in outcomes for a in o.record.responses.values()) else "score"
        quality = sum(o.record.quality(o.final_model) for o in outcomes) / n
        total = sum(o.cost for o in outcomes)
        first_costs = [self.single_model_cost(o.record, self.first_id) for o in outcomes]
        last_costs = [self.single_model_cost(o.record, self.last_id) for o in outcomes]
        first_quality = sum(o.record.quality(self.first) for o in outcomes) / n
        last_quality = sum(o.record.quality(self.last) for o in outcomes) / n
        steps = len(self.policy.spec.cascades[self.cascade])
        escalation = {f"step_{i + 1}": sum(1 for o in outcomes if o.steps_called > i + 1) / n for i in range(steps - 1)}
        last_total = sum(last_costs)
        report = Report(
            requests=n, quality=quality, total_cost=total, cost_per_request=total / n, escalation_rate=escalation,
            first_model={"model": self.first, "quality": first_quality, "total_cost": sum(first_costs)},
            last_model={"model": self.last, "quality": last_quality, "total_cost": last_total},
            quality_vs_strongest=quality / last_quality if last_quality else 0.0,
            savings_vs_strongest=1 - total / last_total if last_total else 0.0,
            blocked=sum(1 for o in outcomes if o.blocked), metric=metric)
        if sweep:
            report.sweep, report.routellm = self._sweep(outcomes, first_costs, last_costs, first_quality, last_quality, last_total)
        return report

    def _sweep(self, outcomes: list[Outcome], first_costs: list[float], last_costs: list[float],
               first_quality: float, last_quality: float, last_total: float) -> tuple[list[dict[str, float]], dict[str, float | None]]:
        """The curve over the first step's threshold: a draft escalates when its score is below it.

        Exact for two-step cascades (what escalation costs and yields is the
        last model's recorded answer); longer cascades are approximated the same way.
        """
        scores = sorted({o.first_score for o in outcomes if o.first_score is not None} | {0.0, 1.0001})
        curve = []
        n = len(outcomes)
        for threshold in scores:
            quality = cost = escalated = 0.0
            for o, first_cost, last_cost in zip(outcomes, first_costs, last_costs, strict=True):
                escalate = o.first_score is not None and o.first_score < threshold
                escalated += escalate
                quality += o.record.quality(self.last if escalate else self.first)
                cost += first_cost + (last_cost if escalate else 0.0)
            curve.append({"threshold": round(threshold, 4), "escalation_rate": escalated / n, "quality": quality / n,
                          "cost": cost, "quality_vs_strongest": (quality / n) / last_quality if last_quality else 0.0,
                          "savings_vs_strongest": 1 - cost / last_total if last_total else 0.0})
        gap = last_quality - first_quality
        points = sorted((p["escalation_rate"], (p["quality"] - first_quality) / gap if gap else 0.0) for p in curve)

        def cpt(level: float) -> float | None:
            reached = [rate for rate, pgr in points if pgr >= level]
            return min(reached) if reached else None

        area = 0.0
        xs = [(0.0, 0.0), *points, (1.0, points[-1][1] if points else 0.0)]
        for (x0, y0), (x1, y1) in zip(xs, xs[1:], strict=False):
            area += (x1 - x0) * (y0 + y1) / 2
        return curve, {"cpt_50": cpt(0.5), "cpt_80": cpt(0.8), "apgr": area}


def format_report(report: Report) -> str:
    lines = [
        f"requests                 {report.requests}" + (f"  ({report.blocked} blocked)" if report.blocked else ""),
        f"quality ({report.metric:<7})        {report.quality:.3f}",
        f"total cost               ${report.total_cost:.4f}   (${report.cost_per_request:.6f} per request)",
    ]
    for step, rate in report.escalation_rate.items():
        lines.append(f"escalated after {step:<8} {rate:.1%}")
    for label, base in (("always first step", report.first_model), ("always last step", report.last_model)):
        lines.append(f"{label:<18}       quality {base['quality']:.3f}, cost ${base['total_cost']:.4f}  ({base['model']})")
    lines += [f"quality_vs_strongest     {report.quality_vs_strongest:.3f}",
              f"savings_vs_strongest     {report.savings_vs_strongest:.1%}"]
    if report.routellm:
        r = report.routellm

        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.1%}"
        lines.append(f"RouteLLM: CPT(50%) {pct(r['cpt_50'])}, CPT(80%) {pct(r['cpt_80'])}, APGR {r['apgr']:.3f}")
        lines.append("threshold  escalated  quality  vs_strongest  savings")
        for point in report.sweep[:: max(1, len(report.sweep) // 15)]:
            label = "all" if point["threshold"] > 1 else f"{point['threshold']:.3f}"  # above any score: escalate all
            lines.append(f"{label:>9}  {point['escalation_rate']:>9.1%}  {point['quality']:>7.3f}  "
                         f"{point['quality_vs_strongest']:>12.3f}  {point['savings_vs_strongest']:>7.1%}")
    return "\n".join(lines) + "\n"


def plot(report: Report, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [p["cost"] for p in report.sweep]
    ys = [p["quality"] for p in report.sweep]
    ax.plot(xs, ys, "-", label="cascade (threshold sweep)")
    ax.plot([report.total_cost], [report.quality], "o", label="policy as written")
    ax.plot([report.first_model["total_cost"]], [report.first_model["quality"]], "s", label=report.first_model["model"])
    ax.plot([report.last_model["total_cost"]], [report.last_model["quality"]], "^", label=report.last_model["model"])
    ax.set_xlabel("total cost (USD)")
    ax.set_ylabel(f"quality ({report.metric})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
