"""Admission: the graph node between routing and the first model call.

    request → input guardrails → route → ▶ admission (reserve the worst case) → cascade → ▶ settle or release → Result

It turns the rate windows, budgets and limits that apply to one request (the
plan's templates, `compile.limits`) into store `Charge`s, reserves the worst
case of everything the planned target could spend (every call of its plan,
`compile.worst_case`) atomically against all of them, and afterwards settles the reservation to the actual
figures or releases it: as steps of the request's walk, whose driver makes the
store calls (`StoreCall`), blocking or async. It also decides the declared degradation: warn
(recorded, callback), degrade (the caller is re-routed to the cheaper target)
and block (refused with the limit's name and a retry-after). Limits in `warn`
or `dry_run` mode are counted but never refuse. A store that cannot be reached
refuses, unless every limit involved opted into `fail_open`.

`Admitter` does this against the store; `Admission` is the node of the walk
around it: the target's allowed steps, the request's worst case, the
reservation, the degrade re-plan, and at the end settling or releasing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from cascadepolicy.compile.limits import LimitTemplate, compile_limits
from cascadepolicy.compile.plan import (
    Plan,
    PlannedRoute,
    PlannedStep,
    PlannedTarget,
    documents_tokens,
)
from cascadepolicy.compile.worst_case import Usage, WorstCase
from cascadepolicy.effects import StoreCall
from cascadepolicy.errors import StoreError
from cascadepolicy.language.model import duration_seconds
from cascadepolicy.runtime.decision import AdmissionRecord, Decision, LimitStatus, RouteRecord
from cascadepolicy.runtime.features import text_tokens
from cascadepolicy.runtime.request import Request
from cascadepolicy.state.base import Charge, Store

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy


class PlannedCharge(NamedTuple):
    charge: Charge
    template: LimitTemplate


@dataclass
class Reservation:
    planned: list[PlannedCharge]
    reservation_id: str | None


_PERIODS: dict[tuple[str, str], tuple[float, str, float]] = {}


def calendar_period(per: str, timezone: str, now: float) -> tuple[str, float]:
    """The id of the calendar period containing `now`, and when it ends (epoch seconds)."""
    cached = _PERIODS.get((per, timezone))
    if cached is not None and cached[0] <= now < cached[2]:
        return cached[1], cached[2]
    ident, start, end = _calendar_period(per, timezone, now)
    _PERIODS[(per, timezone)] = (start, ident, end)
    return ident, end


def _calendar_period(per: str, timezone: str, now: float) -> tuple[str, float, float]:
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now, zone)
    if per == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
        ident = start.strftime("%Y-%m-%d")
    elif per == "week":
        start = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=7)
        ident = start.strftime("%G-W%V")
    else:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        ident = start.strftime("%Y-%m")
    # Re-anchor in the zone so that DST changes inside the period are respected.
    end = end.replace(tzinfo=None).replace(tzinfo=zone)
    return ident, start.timestamp(), end.timestamp()


class Admitter:
    """Admission against a store. `limits`: the plan's templates per tier (`Plan.limits`); compiled
    from the policy when not given."""

    def __init__(self, policy: Policy, store: Store,
                 limits: Mapping[str | None, tuple[LimitTemplate, ...]] | None = None) -> None:
        self.policy = policy
        self.store = store
        self.ttl = duration_seconds(policy.spec.store.reservation_ttl)
        self._by_tier = limits if limits is not None else compile_limits(policy)
        self._untiered = self._by_tier[None]

    # ------------------------------------------------------------ planning

    def applies(self, tier: str | None) -> bool:
        """Whether any window, budget or limit can apply to a request of `tier`."""
        return bool(self.templates(tier))

    def templates(self, tier: str | None) -> tuple[LimitTemplate, ...]:
        """The windows, budgets and limits a request of `tier` is charged against."""
        return self._by_tier.get(tier, self._untiered)

    def plan(self, *, user: str | None, tier: str | None, worst: Usage, now: float,
             templates: Sequence[LimitTemplate] | None = None) -> list[PlannedCharge]:
        """The charges of one request: of the tier's templates, or of `templates` when given."""
        planned: list[PlannedCharge] = []
        for t in self.templates(tier) if templates is None else templates:
            model = t.model
            if model is not None and model not in worst.usd:
                continue  # a per-model limit of a model this request cannot call
            key = t.key if t.tail is None else f"{t.key}{user}{t.tail}"
            period_end = None
            if t.calendar is not None:
                ident, period_end = calendar_period(t.calendar[0], t.calendar[1], now)
                key += ident
            planned.append(PlannedCharge(Charge(key, t.charge_limit, _amount(t, worst), t.window, period_end, t.label, t.fail_open), t))
        return planned

    # ------------------------------------------------------------ reserving

    def reserve(self, planned: Sequence[PlannedCharge],
                now: float) -> Generator[StoreCall, Any, tuple[AdmissionRecord, Reservation | None]]:
        """Reserve the request's charges (a step of the walk: the store call is an effect)."""
        if not planned:
            return AdmissionRecord(admitted=True), Reservation([], None)
        try:
            admission = yield StoreCall("reserve", ([p.charge for p in planned],), {"now": now, "ttl": self.ttl})
        except StoreError as exc:
            if all(p.charge.fail_open or p.template.mode != "enforce" for p in planned):
                record = AdmissionRecord(admitted=True, store_error=str(exc))
                record.warnings.append(f"the state store could not be reached ({exc}); admitted because every limit is fail_open")
                return record, None
            return AdmissionRecord(admitted=False, store_error=str(exc), refused_by="state store",
                                   warnings=[f"the state store could not be reached: {exc}"]), None
        record = AdmissionRecord(admitted=admission.admitted, reservation_id=admission.reservation_id)
        refused_key = admission.refused.key if admission.refused is not None else None
        limits, warnings, used_by_key = record.limits, record.warnings, admission.used
        for charge, t in planned:
            used = float(used_by_key.get(charge.key, 0.0))
            if t.measure == "usd" and t.model is None and charge.amount > record.reserved_usd:
                record.reserved_usd = charge.amount
            status = "ok"
            if charge.key == refused_key:
                status = "refused"
            elif t.mode != "enforce" and used + charge.amount > t.real_limit:
                status = "would_refuse"
                warnings.append(f"{charge.label} would refuse this request ({t.mode} mode)")
            elif t.budget is not None and t.budget.usd:
                budget = t.budget
                ratio = used / budget.usd
                if budget.degrade_at is not None and ratio >= budget.degrade_at:
                    status = "degrade"
                    warnings.append(f"{charge.label}: {ratio:.0%} spent (degrade at {budget.degrade_at:.0%})")
                elif budget.warn_at is not None and ratio >= budget.warn_at:
                    status = "warn"
                    warnings.append(f"{charge.label}: {ratio:.0%} spent (warn at {budget.warn_at:.0%})")
            limits.append(LimitStatus(charge.key, charge.label, used, charge.amount, t.real_limit, t.mode, status))
        if not admission.admitted:
            refused = admission.refused
            record.refused_by = refused.label if refused else "a limit"
            record.retry_after = admission.retry_after
            return record, None
        return record, Reservation(list(planned), admission.reservation_id)

    def degrade_target(self, record: AdmissionRecord, planned: Sequence[PlannedCharge]) -> str | None:
        """The degrade target when a budget reached `degrade_at` or refused the worst case."""
        for p, status in zip(planned, record.limits, strict=False):
            budget = p.template.budget
            if budget is None or budget.degrade_to is None or p.template.mode != "enforce":
                continue
            if status.status in ("degrade", "refused"):
                return budget.degrade_to
        return None

    def settle(self, reservation: Reservation | None, actual: Usage,
               now: float) -> Generator[StoreCall, Any, tuple[list[str], list[str]]]:
        """Settle to actual figures (a step of the walk).

        Returns warning sentences (a store failure; a limit settled above what
        was reserved for it) and the labels of the limits settled above their
        reservation. Stores record what was spent even past the reservation:
        the money is gone either way, and the next request sees it.
        """
        if reservation is None or reservation.reservation_id is None:
            return [], []
        figures: dict[str, float] = {}
        warnings: list[str] = []
        over: list[str] = []
        for charge, t in reservation.planned:
            figure = _amount(t, actual)
            # Never a refund through settlement: a figure that is negative or not finite counts as nothing spent.
            figure = figure if math.isfinite(figure) and figure > 0 else 0.0
            figures[charge.key] = figure
            if figure > charge.amount * (1 + 1e-9) + 1e-12:
                over.append(charge.label)
                warnings.append(f"{charge.label}: settled {_figure(figure, t.measure)}, more than the "
                                f"{_figure(charge.amount, t.measure)} reserved for this request")
        try:
            yield StoreCall("settle", (reservation.reservation_id, figures), {"now": now})
        except StoreError as exc:
            warnings.insert(0, f"settlement failed: {exc}")
        return warnings, over

    def release(self, reservation: Reservation | None, now: float) -> Generator[StoreCall, Any, None]:
        """Give the reservation back unspent (a step of the walk)."""
        if reservation is None or reservation.reservation_id is None:
            return
        try:
            yield StoreCall("release", (reservation.reservation_id,), {"now": now})
        except StoreError:
            pass  # the reservation expires after its TTL


@dataclass(frozen=True)
class Admission:
    """The admission node of the walk: `admit` before the cascade, `close` after it, however it ends."""

    plan: Plan
    admitter: Admitter
    worst_case: WorstCase
    clock: Callable[[], float]
    on_warning: Callable[[Decision, str], None] | None = None

    def admit(self, request: Request, route: PlannedRoute, target: PlannedTarget
              ) -> Generator[StoreCall, Any, tuple[tuple[PlannedStep, ...], Reservation | None] | str]:
        """The steps to run and the reservation (steps of the walk), or why the request is refused."""
        decision = request.decision
        steps, refusal = self.plan.allowed(target, decision.tier)
        if refusal:
            return refusal
        decision.trace.append(target.admit)
        started = time.time()
        now = self.clock()
        admitter = self.admitter
        limited = admitter.applies(decision.tier)
        prompt_tokens = request.values["request.tokens"] if limited else 0
        documents = documents_tokens(request.extra["documents"], text_tokens) if limited and self.plan.grounding_judges else 0
        planned = admitter.plan(user=decision.user, tier=decision.tier,
                                worst=self.worst_case(target, decision.tier, prompt_tokens, documents, request.max_tokens), now=now)
        record, reservation = yield from admitter.reserve(planned, now)
        degrade_to = admitter.degrade_target(record, planned) if planned else None
        degraded_target: PlannedTarget | None = self.plan.degrade_to.get(degrade_to) if degrade_to is not None else None
        if degraded_target is not None and degraded_target is not target:
            decision.trace.append(degraded_target.admit)
            yield from admitter.release(reservation, now)
            steps, refusal = self.plan.allowed(degraded_target, decision.tier)
            if refusal:
                return refusal
            planned = admitter.plan(user=decision.user, tier=decision.tier,
                                    worst=self.worst_case(degraded_target, decision.tier, prompt_tokens, documents, request.max_tokens), now=now)
            degraded, reservation = yield from admitter.reserve(planned, now)
            degraded.degraded_to = degraded_target.id
            degraded.warnings = record.warnings + degraded.warnings
            record = degraded
            decision.route = RouteRecord(route.index, route.name, "degraded", degraded_target.record,
                                         route.location, tried=decision.route.tried if decision.route else [])
        decision.admission = record
        record.started, record.ended = started, time.time()
        for warning in record.warnings:
            if self.on_warning:
                self.on_warning(decision, warning)
        if not record.admitted:
            decision.retry_after = record.retry_after
            why = f"refused by {record.refused_by}" if record.refused_by else "refused by admission"
            if record.retry_after is not None:
                why += f"; retry after {record.retry_after:.0f}s"
            return why
        if limited and reservation is not None:
            request.reserved = (prompt_tokens, documents)
        decision.plan_last_model = steps[-1].model if steps else None
        return steps, reservation

    def close(self, request: Request, reservation: Reservation | None) -> Generator[StoreCall, Any, None]:
        """Settle what the request spent, or release its reservation when it spent nothing (steps of the walk)."""
        decision = request.decision
        assert decision.admission is not None
        if not request.usage_usd:
            yield from self.admitter.release(reservation, self.clock())
        else:
            warnings, over = yield from self.admitter.settle(reservation, request.usage(), self.clock())
            decision.admission.warnings += warnings
            decision.admission.over_reserved = over
        decision.admission.settled_usd = decision.cost


def _amount(t: LimitTemplate, usage: Usage) -> float:
    """What `usage` counts against one limit: a request (of the limit's model, when it has one), tokens or dollars."""
    if t.measure == "requests":
        return 1.0 if t.model is None or t.model in usage.usd else 0.0
    figures = usage.tokens if t.measure == "tokens" else usage.usd
    return figures.get(t.model, 0.0) if t.model else sum(figures.values())


def _figure(value: float, measure: str) -> str:
    return f"${value:.6g}" if measure == "usd" else f"{value:g} {measure}"
