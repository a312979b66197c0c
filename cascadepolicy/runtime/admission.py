"""Admission: the graph node between input guardrails and the first model call.

It turns the policy's rate windows, budgets and limits that apply to one
request into store `Charge`s, reserves the worst case of everything the
planned cascade could spend (every step, reask and judge call) atomically
against all of them, and afterwards settles the reservation to the actual
figures or releases it. It also decides the declared degradation: warn
(recorded, callback), degrade (the caller is re-routed to the cheaper target)
and block (refused with the limit's name and a retry-after). Limits in `warn`
or `dry_run` mode are counted but never refuse. A store that cannot be reached
refuses, unless every limit involved opted into `fail_open`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from cascadepolicy.compile.worst_case import Usage
from cascadepolicy.errors import StoreError
from cascadepolicy.language.model import Budget, RateWindow, duration_seconds
from cascadepolicy.runtime.decision import AdmissionRecord, LimitStatus
from cascadepolicy.state.base import Charge, Store

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy


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
    def __init__(self, policy: Policy, store: Store) -> None:
        self.policy = policy
        self.store = store
        self.ttl = duration_seconds(policy.spec.store.reservation_ttl)
        self.prefix = f"{policy.name}|"
        self._by_tier = {tier: tuple(self._compile(tier)) for tier in policy.spec.tiers}
        self._untiered = tuple(self._compile(None))

    # ------------------------------------------------------------ planning

    def applies(self, tier: str | None) -> bool:
        """Whether any window, budget or limit can apply to a request of `tier`."""
        return bool(self._templates(tier))

    def _templates(self, tier: str | None) -> tuple[LimitTemplate, ...]:
        return self._by_tier.get(tier or "", self._untiered)

    def _compile(self, tier: str | None) -> list[LimitTemplate]:
        spec = self.policy.spec
        templates: list[LimitTemplate] = []
        if tier is not None and tier in spec.tiers:
            t = spec.tiers[tier]
            for index, window in enumerate(t.rate):
                shared = window.scope == "tier"
                templates.append(self._window(f"tier:{tier}" if shared else None, f"|{tier}.rate{index}", window, None,
                                              f"tier {tier!r}: {_describe_window(window)}" + (" (shared by the tier)" if shared else "")))
            if t.budget:
                owner = f"tier:{tier}" if t.budget.scope == "tier" else None
                templates.append(self._budget(owner, f"|{tier}.budget", t.budget, None, f"tier {tier!r}: ${t.budget.usd:g} per {t.budget.per}"))
        for limit in spec.limits:
            owner = f"limit:{limit.id}"
            if limit.rate:
                templates.append(self._window(owner, "", limit.rate, limit.model, f"limit {limit.id!r}: {_describe_window(limit.rate)}"))
            if limit.budget:
                templates.append(self._budget(owner, "", limit.budget, limit.model, f"limit {limit.id!r}: ${limit.budget.usd:g} per {limit.budget.per}"))
        return templates

    def _key(self, owner: str | None, tail: str) -> tuple[str, str | None]:
        """The store key of a limit, split around the user id when it is counted per user."""
        if owner is None:
            return f"{self.prefix}user:", tail
        return f"{self.prefix}{owner}{tail}", None

    def _window(self, owner: str | None, tail: str, window: RateWindow, model: str | None, label: str) -> LimitTemplate:
        measure = "requests" if window.requests is not None else "tokens"
        limit = float(window.requests if window.requests is not None else window.tokens)  # type: ignore[arg-type]
        return LimitTemplate(*self._key(owner, f"{tail}|{measure}/{window.per}"), measure, window.mode, limit,
                             limit if window.mode == "enforce" else math.inf, model, duration_seconds(window.per), None,
                             None, label, window.fail_open)

    def _budget(self, owner: str | None, tail: str, budget: Budget, model: str | None, label: str) -> LimitTemplate:
        limit = budget.usd * budget.block_at
        calendar = budget.per in ("day", "week", "month")
        return LimitTemplate(*self._key(owner, f"{tail}|usd/{budget.per}" + (":" if calendar else "")), "usd", budget.mode, limit,
                             limit if budget.mode == "enforce" else math.inf, model,
                             None if calendar else duration_seconds(budget.per),
                             (budget.per, budget.timezone) if calendar else None, budget, label, budget.fail_open)

    def plan(self, *, user: str | None, tier: str | None, worst: Usage, now: float) -> list[PlannedCharge]:
        planned: list[PlannedCharge] = []
        for t in self._templates(tier):
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

    def reserve(self, planned: Sequence[PlannedCharge], now: float) -> tuple[AdmissionRecord, Reservation | None]:
        if not planned:
            return AdmissionRecord(admitted=True), Reservation([], None)
        try:
            admission = self.store.reserve([p.charge for p in planned], now=now, ttl=self.ttl)
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

    def settle(self, reservation: Reservation | None, actual: Usage, now: float) -> tuple[list[str], list[str]]:
        """Settle to actual figures.

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
            self.store.settle(reservation.reservation_id, figures, now=now)
        except StoreError as exc:
            warnings.insert(0, f"settlement failed: {exc}")
        return warnings, over

    def release(self, reservation: Reservation | None, now: float) -> None:
        if reservation is None or reservation.reservation_id is None:
            return
        try:
            self.store.release(reservation.reservation_id, now=now)
        except StoreError:
            pass  # the reservation expires after its TTL


def _amount(t: LimitTemplate, usage: Usage) -> float:
    """What `usage` counts against one limit: a request (of the limit's model, when it has one), tokens or dollars."""
    if t.measure == "requests":
        return 1.0 if t.model is None or t.model in usage.usd else 0.0
    figures = usage.tokens if t.measure == "tokens" else usage.usd
    return figures.get(t.model, 0.0) if t.model else sum(figures.values())


def _figure(value: float, measure: str) -> str:
    return f"${value:.6g}" if measure == "usd" else f"{value:g} {measure}"


def _describe_window(window: RateWindow) -> str:
    if window.requests is not None:
        return f"{window.requests} requests per {window.per}"
    return f"{window.tokens} tokens per {window.per}"
