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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from cascadepolicy.calls import duration_seconds
from cascadepolicy.decision import AdmissionRecord, LimitStatus
from cascadepolicy.errors import StoreError
from cascadepolicy.model import Budget, RateWindow
from cascadepolicy.state.base import Charge, Store

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy


@dataclass(frozen=True)
class Usage:
    """Worst-case (before) or actual (after) use of one request."""

    tokens: Mapping[str, float]  # per model id
    usd: Mapping[str, float]  # per model id

    @property
    def total_tokens(self) -> float:
        return sum(self.tokens.values())

    @property
    def total_usd(self) -> float:
        return sum(self.usd.values())


@dataclass(frozen=True)
class PlannedCharge:
    charge: Charge
    measure: str  # requests | tokens | usd
    mode: str
    real_limit: float
    model: str | None  # per-model limits count only that model
    budget: Budget | None
    budget_usd: float | None


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

    # ------------------------------------------------------------ planning

    def applies(self, tier: str | None) -> bool:
        """Whether any window, budget or limit can apply to a request of `tier`."""
        spec = self.policy.spec
        t = spec.tiers.get(tier or "")
        return bool(spec.limits) or (t is not None and bool(t.rate or t.budget))

    def plan(self, *, user: str | None, tier: str | None, worst: Usage, now: float) -> list[PlannedCharge]:
        spec = self.policy.spec
        planned: list[PlannedCharge] = []
        if tier is not None and tier in spec.tiers:
            t = spec.tiers[tier]
            for index, window in enumerate(t.rate):
                owner = f"tier:{tier}" if window.scope == "tier" else f"user:{user}"
                planned.append(self._window(f"{owner}|{tier}.rate{index}", window, worst, None,
                                            f"tier {tier!r}: {_describe_window(window)}"
                                            + (" (shared by the tier)" if window.scope == "tier" else "")))
            if t.budget:
                owner = f"tier:{tier}" if t.budget.scope == "tier" else f"user:{user}"
                planned.append(self._budget(f"{owner}|{tier}.budget", t.budget, worst, None, now,
                                            f"tier {tier!r}: ${t.budget.usd:g} per {t.budget.per}"))
        for limit in spec.limits:
            if limit.scope == "model" and limit.model not in worst.usd:
                continue
            base = f"limit:{limit.id}"
            if limit.rate:
                planned.append(self._window(base, limit.rate, worst, limit.model, f"limit {limit.id!r}: {_describe_window(limit.rate)}"))
            if limit.budget:
                planned.append(self._budget(base, limit.budget, worst, limit.model, now,
                                            f"limit {limit.id!r}: ${limit.budget.usd:g} per {limit.budget.per}"))
        return planned

    def _window(self, key: str, window: RateWindow, worst: Usage, model: str | None, label: str) -> PlannedCharge:
        measure = "requests" if window.requests is not None else "tokens"
        limit = float(window.requests if window.requests is not None else window.tokens)  # type: ignore[arg-type]
        amount = 1.0 if measure == "requests" else (worst.tokens.get(model, 0.0) if model else worst.total_tokens)
        seconds = duration_seconds(window.per)
        charge = Charge(f"{self.prefix}{key}|{measure}/{window.per}", limit if window.mode == "enforce" else math.inf,
                        amount, seconds, None, label, window.fail_open)
        return PlannedCharge(charge, measure, window.mode, limit, model, None, None)

    def _budget(self, key: str, budget: Budget, worst: Usage, model: str | None, now: float, label: str) -> PlannedCharge:
        amount = worst.usd.get(model, 0.0) if model else worst.total_usd
        limit = budget.usd * budget.block_at
        if budget.per in ("day", "week", "month"):
            ident, end = calendar_period(budget.per, budget.timezone, now)
            charge_key, window, period_end = f"{self.prefix}{key}|usd/{budget.per}:{ident}", None, end
        else:
            charge_key, window, period_end = f"{self.prefix}{key}|usd/{budget.per}", duration_seconds(budget.per), None
        charge = Charge(charge_key, limit if budget.mode == "enforce" else math.inf, amount, window, period_end, label,
                        budget.fail_open)
        return PlannedCharge(charge, "usd", budget.mode, limit, model, budget, budget.usd)

    # ------------------------------------------------------------ reserving

    def reserve(self, planned: Sequence[PlannedCharge], now: float) -> tuple[AdmissionRecord, Reservation | None]:
        if not planned:
            return AdmissionRecord(admitted=True), Reservation([], None)
        try:
            admission = self.store.reserve([p.charge for p in planned], now=now, ttl=self.ttl)
        except StoreError as exc:
            if all(p.charge.fail_open or p.mode != "enforce" for p in planned):
                record = AdmissionRecord(admitted=True, store_error=str(exc))
                record.warnings.append(f"the state store could not be reached ({exc}); admitted because every limit is fail_open")
                return record, None
            return AdmissionRecord(admitted=False, store_error=str(exc), refused_by="state store",
                                   warnings=[f"the state store could not be reached: {exc}"]), None
        record = AdmissionRecord(admitted=admission.admitted, reservation_id=admission.reservation_id,
                                 reserved_usd=max((p.charge.amount for p in planned if p.measure == "usd" and p.model is None), default=0.0))
        for p in planned:
            used = float(admission.used.get(p.charge.key, 0.0))
            status = "ok"
            if admission.refused is not None and admission.refused.key == p.charge.key:
                status = "refused"
            elif p.mode != "enforce" and used + p.charge.amount > p.real_limit:
                status = "would_refuse"
                record.warnings.append(f"{p.charge.label} would refuse this request ({p.mode} mode)")
            elif p.budget is not None and p.budget_usd:
                ratio = used / p.budget_usd
                if p.budget.degrade_at is not None and ratio >= p.budget.degrade_at:
                    status = "degrade"
                    record.warnings.append(f"{p.charge.label}: {ratio:.0%} spent (degrade at {p.budget.degrade_at:.0%})")
                elif p.budget.warn_at is not None and ratio >= p.budget.warn_at:
                    status = "warn"
                    record.warnings.append(f"{p.charge.label}: {ratio:.0%} spent (warn at {p.budget.warn_at:.0%})")
            record.limits.append(LimitStatus(p.charge.key, p.charge.label, used, p.charge.amount, p.real_limit, p.mode, status))
        if not admission.admitted:
            refused = admission.refused
            record.refused_by = refused.label if refused else "a limit"
            record.retry_after = admission.retry_after
            return record, None
        return record, Reservation(list(planned), admission.reservation_id)

    def degrade_target(self, record: AdmissionRecord, planned: Sequence[PlannedCharge]) -> str | None:
        """The degrade target when a budget reached `degrade_at` or refused the worst case."""
        for p, status in zip(planned, record.limits, strict=False):
            if p.budget is None or p.budget.degrade_to is None or p.mode != "enforce":
                continue
            if status.status in ("degrade", "refused"):
                return p.budget.degrade_to
        return None

    def settle(self, reservation: Reservation | None, actual: Usage, now: float) -> str | None:
        """Settle to actual figures; returns an error sentence when the store failed."""
        if reservation is None or reservation.reservation_id is None:
            return None
        figures: dict[str, float] = {}
        for p in reservation.planned:
            if p.measure == "requests":
                figures[p.charge.key] = 1.0 if (p.model is None or p.model in actual.usd) else 0.0
            elif p.measure == "tokens":
                figures[p.charge.key] = actual.tokens.get(p.model, 0.0) if p.model else actual.total_tokens
            else:
                figures[p.charge.key] = actual.usd.get(p.model, 0.0) if p.model else actual.total_usd
        try:
            self.store.settle(reservation.reservation_id, figures, now=now)
        except StoreError as exc:
            return f"settlement failed: {exc}"
        return None

    def release(self, reservation: Reservation | None, now: float) -> None:
        if reservation is None or reservation.reservation_id is None:
            return
        try:
            self.store.release(reservation.reservation_id, now=now)
        except StoreError:
            pass  # the reservation expires after its TTL


def _describe_window(window: RateWindow) -> str:
    if window.requests is not None:
        return f"{window.requests} requests per {window.per}"
    return f"{window.tokens} tokens per {window.per}"
