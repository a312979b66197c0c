"""The spend report's figures, folded from a decision log in one pass.

Per request (a decision record): its outcome (answered, blocked, anything
else is an error), its cost, whether it escalated (answered after more than
one cascade step ran a non-judge call, or after a validator rejected a
draft), why it was blocked (the refusing limit, the blocking guardrail, the
blocking route, else its reason), which guardrails fired with what action,
the models it called, and, for an answered request routed to a cascade, what
"always the last step" would have cost: the cascade's last-step model priced
for the prompt tokens of the request's first call plus the completion tokens
of the call that answered (the question sets the answer's length more than
the model does), minus what the request spent, judges included.

The last step's model is the record's `plan_last_model` when it has one, else
the deepest step of that cascade the log shows a call for (a log with no
request escalated to the end cannot know it); its prices are learnt from its
own calls in the log (`pricing`). Everything is a running sum: memory is
bounded by the number of groups (at most `MAX_GROUPS`, the rest fold into
"(other)"), of distinct keys (`MAX_KEYS`) and time buckets (`MAX_BUCKETS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cascadepolicy.errors import UsageError
from cascadepolicy.reporting.decision_log import MAX_LINE_BYTES, LogStats, is_number, read_decisions
from cascadepolicy.reporting.pricing import Price, PriceFit

GROUPINGS = ("tier", "user", "model", "route")
OUTCOMES = ("answered", "blocked", "error")
MAX_GROUPS = 100_000
MAX_KEYS = 1_000
MAX_KEY_CHARS = 200
MAX_BUCKETS = 400
SERIES_TRACKED = 64  # groups with a spend-over-time series; the smallest fold into OTHER past this
BUCKET_WIDTHS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
OTHER, NONE = "(other)", "(none)"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float) -> float:
    """`--since`: a duration back from `now` (`90m`, `36h`, `7d`, `2w`) or an ISO date/time (UTC unless it says)."""
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _SECONDS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--since {text!r} is neither a duration (such as 7d, 36h, 90m) nor an ISO date/time "
                         "(such as 2025-06-01 or 2025-06-01T12:00+02:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def clean(value: Any) -> str:
    """A key from the log, safe to print: at most MAX_KEY_CHARS, control characters escaped."""
    text = value if isinstance(value, str) else NONE if value is None else str(value)
    text = text[:MAX_KEY_CHARS]
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")[:MAX_KEY_CHARS]


class Capped:
    """Counts per key, at most `cap` keys; later keys add to OTHER."""

    def __init__(self, cap: int = MAX_KEYS) -> None:
        self.cap = cap
        self.counts: dict[Hashable, float] = {}
        self.folded = 0

    def key(self, key: Hashable) -> Hashable:
        if key in self.counts or len(self.counts) < self.cap:
            return key
        self.folded += 1
        return OTHER

    def add(self, key: Hashable, amount: float = 1) -> None:
        key = self.key(key)
        self.counts[key] = self.counts.get(key, 0) + amount

    def top(self, n: int | None = None) -> list[tuple[Hashable, float]]:
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]


@dataclass
class Totals:
    requests: int = 0
    answered: int = 0
    blocked: int = 0
    error: int = 0
    spend: float = 0.0
    escalated: int = 0
    # per cascade: [answered requests, first-call prompt tokens, answering-call completion tokens, spent]
    baseline: dict[str, list[float]] = field(default_factory=dict)

    def saved(self, prices: dict[str, Price | None]) -> tuple[float, float] | None:
        """(what always the last step would have cost, saved), over the cascades whose last price is known."""
        baseline = spent = 0.0
        known = False
        for cascade, (_, prompt, completion, cost) in self.baseline.items():
            price = prices.get(cascade)
            if price is not None:
                known = True
                baseline += price.cost(prompt, completion)
                spent += cost
        return (baseline, baseline - spent) if known else None

    def to_dict(self, prices: dict[str, Price | None]) -> dict[str, Any]:
        saved = self.saved(prices)
        return {"requests": self.requests, "answered": self.answered, "blocked": self.blocked, "error": self.error,
                "spend_usd": self.spend, "escalated": self.escalated,
                "escalation_rate": self.escalated / self.answered if self.answered else None,
                "always_last_usd": saved[0] if saved else None, "saved_usd": saved[1] if saved else None}


@dataclass
class Bucket:
    spend: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))


class Timeline:
    """Spend per group and outcomes per time bucket; buckets widen as the log's span grows."""

    def __init__(self) -> None:
        self.width = BUCKET_WIDTHS[0]
        self.buckets: dict[int, Bucket] = {}
        self.tracked: dict[str, float] = {}  # groups with a series, with their spend so far
        self.folded: set[str] = set()

    def add(self, timestamp: float, group: str, outcome: str, cost: float) -> None:
        index = int(timestamp // self.width)
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self.buckets[index] = Bucket()
            if len(self.buckets) > MAX_BUCKETS:
                self._widen()
                bucket = self.buckets[int(timestamp // self.width)]
        bucket.outcomes[outcome] += 1
        series = self._series(group)
        bucket.spend[series] = bucket.spend.get(series, 0.0) + cost
        if series in self.tracked:
            self.tracked[series] += cost

    def _series(self, group: str) -> str:
        if group in self.folded:
            return OTHER
        if group not in self.tracked:
            if len(self.folded) >= MAX_GROUPS:
                return OTHER
            self.tracked[group] = 0.0
            if len(self.tracked) > SERIES_TRACKED:
                self._fold()
                if group in self.folded:
                    return OTHER
        return group

    def _fold(self) -> None:
        smallest = sorted(self.tracked, key=lambda g: self.tracked[g])[: SERIES_TRACKED // 2]
        for group in smallest:
            del self.tracked[group]
            self.folded.add(group)
        for bucket in self.buckets.values():
            for group in smallest:
                if group in bucket.spend:
                    bucket.spend[OTHER] = bucket.spend.get(OTHER, 0.0) + bucket.spend.pop(group)

    def _widen(self) -> None:
        # Every width divides the next, so a bucket falls whole into a wider one.
        while len(self.buckets) > MAX_BUCKETS // 2:
            old, self.width = self.width, self._next_width()
            merged: dict[int, Bucket] = {}
            for index, bucket in self.buckets.items():
                target = merged.setdefault(index * old // self.width, Bucket())
                for group, cost in bucket.spend.items():
                    target.spend[group] = target.spend.get(group, 0.0) + cost
                for outcome, count in bucket.outcomes.items():
                    target.outcomes[outcome] += count
            self.buckets = merged

    def _next_width(self) -> int:
        bigger = [w for w in BUCKET_WIDTHS if w > self.width]
        return bigger[0] if bigger else self.width * 2



@dataclass
class SpendReport:
    """The figures of one decision log; `to_dict` is the `--format json` output."""

    source: str
    by: str
    since: float | None
    stats: LogStats
    skipped_before_since: int
    first: float | None
    last: float | None
    total: Totals
    groups: dict[str, Totals]
    groups_folded: int
    models: dict[str, dict[str, float]]
    block_reasons: list[tuple[str, int]]
    guardrail_hits: list[tuple[str, str, int]]
    cascades: dict[str, dict[str, Any]]
    prices: dict[str, Price | None]
    timeline: Timeline

    def to_dict(self) -> dict[str, Any]:
        bad = {kind: count for kind, count in self.stats.bad.items() if count}
        return {
            "source": self.source, "by": self.by, "since": self.since,
            "lines": self.stats.lines, "records": self.stats.records, "bad_lines": self.stats.bad_lines,
            "bad": bad, "first_bad_line": self.stats.first_bad_line, "skipped_before_since": self.skipped_before_since,
            "first_timestamp": self.first, "last_timestamp": self.last,
            "total": self.total.to_dict(self.prices),
            "groups": {name: totals.to_dict(self.prices) for name, totals in self.groups.items()},
            "groups_folded": self.groups_folded,
            "models_called": {model: {k: int(v) if k != "cost_usd" else v for k, v in row.items()}
                              for model, row in self.models.items()},
            "block_reasons": [{"reason": reason, "count": count} for reason, count in self.block_reasons],
            "guardrail_hits": [{"id": rule, "action": action, "count": count} for rule, action, count in self.guardrail_hits],
            "cascades": self.cascades,
            "timeline": {"bucket_seconds": self.timeline.width, "buckets": [
                {"start": index * self.timeline.width, "spend_usd": bucket.spend, "outcomes": bucket.outcomes}
                for index, bucket in sorted(self.timeline.buckets.items())]},
        }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float:
    return float(value) if is_number(value) else 0.0


def _group(record: dict[str, Any], by: str) -> str:
    if by == "model":
        return clean(record.get("final_model_id"))
    if by == "route":
        route = _dict(record.get("route"))
        if not route:
            return NONE
        name = route.get("name")
        return clean(name) if isinstance(name, str) else clean(f"#{route.get('index')}")
    return clean(record.get(by))


def _block_reason(record: dict[str, Any]) -> str:
    refused_by = _dict(record.get("admission")).get("refused_by")
    reason = record.get("reason")
    if isinstance(refused_by, str):
        return clean(f"limit {refused_by}")
    for verdict in _list(record.get("guardrails")):
        if isinstance(verdict, dict) and verdict.get("action") == "blocked":
            return clean(f"guardrail {verdict.get('id')}: {reason}")
    route = _dict(record.get("route"))
    if "block" in _dict(route.get("target")):
        return clean(f"route {route.get('name') or '#' + str(route.get('index'))}: {reason}")
    return clean(reason if isinstance(reason, str) else "(no reason)")


def _step_model(call: dict[str, Any]) -> str:
    """The model the call's step names: its first attempt's, before any fallback."""
    attempts = _list(call.get("attempts"))
    first = attempts[0] if attempts and isinstance(attempts[0], dict) else {}
    return clean(first.get("model_id", call.get("model_id")))


class _Folder:
    """The running sums of one report."""

    def __init__(self, by: str) -> None:
        self.by = by
        self.total = Totals()
        self.groups: dict[str, Totals] = {}
        self.groups_folded = 0
        self.models: dict[str, dict[str, float]] = {}
        self.fits: dict[str, PriceFit] = {}
        self.reasons = Capped()
        self.hits = Capped()
        self.deepest: dict[str, tuple[float, str]] = {}  # cascade -> (deepest step seen, its model)
        self.planned_last: dict[str, str] = {}  # cascade -> plan_last_model of the latest record giving it
        self.timeline = Timeline()
        self.first: float | None = None
        self.last: float | None = None

    def totals_of(self, group: str) -> Totals:
        totals = self.groups.get(group)
        if totals is None:
            if len(self.groups) >= MAX_GROUPS:
                self.groups_folded += 1
                group = OTHER
            totals = self.groups.setdefault(group, Totals())
        return totals

    def add(self, record: dict[str, Any]) -> None:
        timestamp = float(record["timestamp"])
        self.first = timestamp if self.first is None else min(self.first, timestamp)
        self.last = timestamp if self.last is None else max(self.last, timestamp)
        outcome = record["outcome"] if record["outcome"] in ("answered", "blocked") else "error"
        cost = _number(record.get("cost"))
        group = _group(record, self.by)
        calls = [c for c in _list(record.get("calls")) if isinstance(c, dict)]
        drafts = [c for c in calls if c.get("purpose") != "judge"]
        escalated = outcome == "answered" and (
            len({c.get("step") for c in drafts}) > 1
            or any(isinstance(v, dict) and v.get("accepted") is False for v in _list(record.get("validations"))))
        cascade = _dict(_dict(record.get("route")).get("target")).get("cascade")
        cascade = clean(cascade) if isinstance(cascade, str) else None
        for totals in (self.total, self.totals_of(group)):
            totals.requests += 1
            setattr(totals, outcome, getattr(totals, outcome) + 1)
            totals.spend += cost
            totals.escalated += escalated
        self.timeline.add(timestamp, group, outcome, cost)
        if outcome == "blocked":
            self.reasons.add(_block_reason(record))
        for verdict in _list(record.get("guardrails")):
            if isinstance(verdict, dict) and verdict.get("fired") is True:
                self.hits.add((clean(verdict.get("id")), clean(verdict.get("action"))))
        self._calls(calls, cascade)
        if outcome == "answered" and cascade is not None and drafts:
            self._baseline(record, cascade, drafts, cost, group)

    def _calls(self, calls: list[dict[str, Any]], cascade: str | None) -> None:
        for call in calls:
            model = clean(call.get("model_id"))
            prompt, completion, cost = (_number(call.get(k)) for k in ("prompt_tokens", "completion_tokens", "cost"))
            if model not in self.models and len(self.models) >= MAX_KEYS:
                model = OTHER
            row = self.models.setdefault(model, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0})
            row["calls"] += 1
            row["prompt_tokens"] += prompt
            row["completion_tokens"] += completion
            row["cost_usd"] += cost
            if model != OTHER:
                self.fits.setdefault(model, PriceFit()).add(prompt, completion, cost)
            if cascade is not None and call.get("purpose") != "judge" and is_number(call.get("step")):
                step = float(call["step"])
                deepest = self.deepest.get(cascade)
                if (deepest is None or step > deepest[0]) and (cascade in self.deepest or len(self.deepest) < MAX_KEYS):
                    self.deepest[cascade] = (step, _step_model(call))

    def _baseline(self, record: dict[str, Any], cascade: str, drafts: list[dict[str, Any]], cost: float, group: str) -> None:
        planned = record.get("plan_last_model")
        if isinstance(planned, str) and (cascade in self.planned_last or len(self.planned_last) < MAX_KEYS):
            self.planned_last[cascade] = clean(planned)
        answering = [c for c in drafts if c.get("outcome") == "ok"]
        if not answering:
            return
        prompt, completion = _number(drafts[0].get("prompt_tokens")), _number(answering[-1].get("completion_tokens"))
        for totals in (self.total, self.totals_of(group)):
            if cascade not in totals.baseline and len(totals.baseline) >= MAX_KEYS:
                continue
            sums = totals.baseline.setdefault(cascade, [0, 0.0, 0.0, 0.0])
            sums[0] += 1
            sums[1] += prompt
            sums[2] += completion
            sums[3] += cost

    def last_steps(self) -> tuple[dict[str, dict[str, Any]], dict[str, Price | None]]:
        cascades: dict[str, dict[str, Any]] = {}
        prices: dict[str, Price | None] = {}
        for cascade, (requests, prompt, completion, cost) in self.total.baseline.items():
            model = self.planned_last.get(cascade) or (self.deepest[cascade][1] if cascade in self.deepest else None)
            fit = self.fits.get(model) if model is not None else None
            price = fit.price() if fit is not None else None
            prices[cascade] = price
            cascades[cascade] = {
                "answered": requests, "spend_usd": cost, "last_model": model,
                "last_model_from": "plan_last_model" if cascade in self.planned_last else "deepest step in the log",
                "price": None if price is None else {
                    "input_usd_per_million": price.input_per_token * 1e6,
                    "output_usd_per_million": price.output_per_token * 1e6,
                    "source": price.source, "calls": price.calls},
                "always_last_usd": None if price is None else price.cost(prompt, completion),
                "saved_usd": None if price is None else price.cost(prompt, completion) - cost,
            }
        return cascades, prices


def spend_report(path: str | Path, *, by: str = "tier", since: float | None = None,
                 max_line_bytes: int = MAX_LINE_BYTES, top: int = 10,
                 on_bytes: Callable[[int], None] | None = None) -> SpendReport:
    """The spend report of the decision log at `path`, grouped `by` tier, user, model or route."""
    if by not in GROUPINGS:
        raise UsageError(f"--by {by!r} is not one of {', '.join(GROUPINGS)}")
    stats = LogStats()
    folder = _Folder(by)
    skipped = 0
    for record in read_decisions(path, stats, max_line_bytes=max_line_bytes, on_bytes=on_bytes):
        if since is not None and record["timestamp"] < since:
            skipped += 1
            continue
        folder.add(record)
    cascades, prices = folder.last_steps()
    reasons = [(str(reason), int(count)) for reason, count in folder.reasons.top(top)]
    hits = [(str(key[0]) if isinstance(key, tuple) else OTHER, str(key[1]) if isinstance(key, tuple) else "", int(count))
            for key, count in folder.hits.top()]
    groups = dict(sorted(folder.groups.items(), key=lambda kv: (-kv[1].spend, kv[0])))
    return SpendReport(str(path), by, since, stats, skipped, folder.first, folder.last, folder.total, groups,
                       folder.groups_folded, folder.models, reasons, hits, cascades, prices, folder.timeline)
