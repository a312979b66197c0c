"""Alerts: a policy's webhooks told when a budget or rate window warns, degrades or blocks.

    Engine._logged (every finished request) → Alerts.observe(decision)
      └─ crossings in decision.admission.limits → the policy's `alerts:` that want them
         → deduplicated per (alert, limit key, kind, period) → Sender's queue
    Sender: one daemon thread → POST with the alert's timeout, off the request path

`observe` runs on the request path, so it only reads the decision, looks up a
small LRU and puts a dict on a bounded queue; it never raises and never
waits. A crossing is a limit's status in the admission record: `warn` and
`degrade` (a budget's `warn_at` and `degrade_at`), `refused` (a block), and
`would_refuse` of a `warn`-mode limit (a block not enforced). `dry_run`
limits never alert: they only record.

Each (alert, limit key, kind) posts once per period: a calendar budget's day,
week or month (its key already names it), a rolling window's or budget's
length counted in whole windows since the epoch. The dedup state is an LRU of
`DEDUP_ENTRIES` keys per engine and process: several workers each post once.

The sender posts JSON (or Slack's `{"text": ...}`) with stdlib urllib,
without following redirects, each post bounded by the alert's `timeout`. A
full queue drops the alert and counts it; a failed post (an error status, a
timeout, a refused connection) is counted and logged as a warning naming the
alert's `${VAR}` reference, never the URL, which is the hook's credential.
`close()` lets the queue drain for a bounded time. An engine built `offline`
(`explain`, `test`) posts nothing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cascadepolicy.compile.limits import LimitTemplate
from cascadepolicy.language.model import duration_seconds
from cascadepolicy.runtime.admission import calendar_period
from cascadepolicy.runtime.decision import Decision, LimitStatus
from cascadepolicy.scrub import scrub_keys

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy

logger = logging.getLogger("cascadepolicy.alerts")

DEDUP_ENTRIES = 10_000  # (alert, limit key, kind, period) remembered per engine; the oldest is forgotten first
QUEUE_SIZE = 1_000  # alerts waiting for the sender; more are dropped and counted
CLOSE_WAIT_SECONDS = 5.0  # the longest `close()` lets the queue drain
_READ_BYTES = 4_096  # of a webhook's answer, read so the connection ends cleanly
_KINDS = {"warn": "warn", "degrade": "degrade", "refused": "block"}
_STOP = object()


@dataclass(frozen=True)
class AlertRule:
    """One `alerts:` entry as the runtime uses it."""

    id: str
    url: str
    written: str  # the `${VAR}` reference, the only way logs name the URL
    on: frozenset[str]
    limits: frozenset[str] | None
    timeout: float
    format: str


class Alerts:
    """The alerts of one engine: `observe` each finished decision, `close` with the engine.

    `counts` holds `sent`, `failed`, `dropped` (queue full, or still queued when
    `close` gave up) and `deduplicated`.
    """

    def __init__(self, policy: Policy, limits: Mapping[str | None, tuple[LimitTemplate, ...]],
                 clock: Callable[[], float], *, offline: bool = False) -> None:
        spec = policy.spec
        self.policy_name = spec.name
        self.clock = clock
        self.rules = () if offline else tuple(
            AlertRule(a.id, a.url, policy.written(("alerts", i, "url"), a.url), frozenset(a.on),
                      frozenset(a.limits) if a.limits is not None else None, duration_seconds(a.timeout), a.format)
            for i, a in enumerate(spec.alerts) if a.url)  # `${NAME:-}` unset: the alert is off
        # A limit's status names it by label; within a tier's templates (and the untiered ones) labels are unique.
        self.templates = {(tier, t.label): t for tier, ts in limits.items() for t in ts}
        self.counts = {"sent": 0, "failed": 0, "dropped": 0, "deduplicated": 0}
        self._seen: OrderedDict[tuple[str, str, str, str], None] = OrderedDict()
        self._lock = threading.Lock()
        self.sender = Sender(self.counts, self._lock)

    def observe(self, decision: Decision) -> None:
        """Queue an alert for each new crossing in `decision`; never raises, never waits."""
        if not self.rules:
            return
        admission = decision.admission
        if admission is None or not admission.limits:
            return
        try:
            self._observe(decision, admission.limits)
        except Exception:  # an alert must never fail the request it reports on
            logger.warning("cascadepolicy alerts: a decision could not be checked for crossings", exc_info=True)

    def _observe(self, decision: Decision, limits: list[LimitStatus]) -> None:
        now = self.clock()
        for status in limits:
            kind = _kind(status)
            if kind is None:
                continue
            template = self.templates.get((decision.tier, status.label)) or self.templates.get((None, status.label))
            period = _period(template, now)
            for rule in self.rules:
                if kind not in rule.on or (rule.limits is not None and (template is None or template.name not in rule.limits)):
                    continue
                if not self._first((rule.id, status.key, kind, period)):
                    continue
                self.sender.put(rule, _payload(rule, kind, status, template, period, decision, self.policy_name, now))

    def _first(self, key: tuple[str, str, str, str]) -> bool:
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                self.counts["deduplicated"] += 1
                return False
            self._seen[key] = None
            if len(self._seen) > DEDUP_ENTRIES:
                self._seen.popitem(last=False)
            return True

    def close(self, wait: float = CLOSE_WAIT_SECONDS) -> None:
        """Let queued alerts go out for at most `wait` seconds, then stop the sender."""
        self.sender.close(wait)


class Sender:
    """One daemon thread posting queued alerts; started with the first alert (and again after a fork)."""

    def __init__(self, counts: dict[str, int], lock: threading.Lock) -> None:
        self.counts = counts
        self._lock = lock
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._deadline = math.inf
        self._closed = False
        self._opener = urllib.request.build_opener(_NoRedirect)

    def put(self, rule: AlertRule, payload: dict[str, Any]) -> None:
        if self._closed:
            self._count("dropped")
            return
        self._start()
        try:
            self._queue.put_nowait((rule, payload))
        except queue.Full:
            self._count("dropped")

    def _start(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid():  # a forked child has the queue but not the thread
                self._queue = queue.Queue(QUEUE_SIZE)
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="cascadepolicy-alerts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            rule, payload = item
            if time.monotonic() > self._deadline:
                self._count("dropped")
                continue
            self._post(rule, payload)

    def _post(self, rule: AlertRule, payload: dict[str, Any]) -> None:
        body = {"text": payload["text"]} if rule.format == "slack" else payload
        request = urllib.request.Request(
            rule.url, data=json.dumps(body).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "cascadepolicy-alerts"})
        try:
            with self._opener.open(request, timeout=rule.timeout) as answer:
                answer.read(_READ_BYTES)
        except Exception as exc:  # noqa: BLE001 - any failure of a post is counted, logged and dropped
            self._count("failed")
            logger.warning("cascadepolicy alert %r could not be posted to %s: %s", rule.id, rule.written, _masked(exc, rule))
            return
        self._count("sent")

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def close(self, wait: float) -> None:
        self._closed = True
        thread = self._thread
        if thread is None or self._pid != os.getpid() or not thread.is_alive():
            return
        self._deadline = time.monotonic() + wait
        try:
            self._queue.put(_STOP, timeout=wait)
        except queue.Full:
            return  # the thread is a daemon: it ends with the process
        thread.join(max(0.0, self._deadline - time.monotonic()) + 0.1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook's URL is the final one: a redirect is a failed post, not a second destination."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _kind(status: LimitStatus) -> str | None:
    """The crossing a limit's status reports, if any: `warn`, `degrade` or `block`."""
    if status.mode == "dry_run":
        return None
    if status.status == "would_refuse":
        return "block"  # in warn mode: the block a request would have met
    return _KINDS.get(status.status)


def _period(template: LimitTemplate | None, now: float) -> str:
    """The period a crossing belongs to: the calendar period, or the window's length since the epoch."""
    if template is None:
        return ""
    if template.calendar is not None:
        return calendar_period(template.calendar[0], template.calendar[1], now)[0]
    if template.window:
        return f"{int(now // template.window)}x{template.window:g}s"
    return ""


def _payload(rule: AlertRule, kind: str, status: LimitStatus, template: LimitTemplate | None, period: str,
             decision: Decision, policy: str, now: float) -> dict[str, Any]:
    budget = template.budget if template is not None else None
    base = budget.usd if budget is not None else status.limit
    ratio = status.used / base if base and math.isfinite(base) else None
    threshold = None
    if budget is not None:
        threshold = {"warn": budget.warn_at, "degrade": budget.degrade_at, "block": budget.block_at}[kind]
    measure = template.measure if template is not None else ""
    payload = {
        "alert": rule.id, "kind": kind, "enforced": status.mode == "enforce",
        "limit": status.label, "limit_name": template.name if template is not None else None, "key": status.key,
        "measure": measure, "used": status.used, "amount": status.amount, "max": status.limit,
        "ratio": ratio, "threshold": threshold, "period": period,
        "policy": policy, "tier": decision.tier, "user": decision.user, "decision_id": decision.decision_id,
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
    }
    payload["text"] = _sentence(payload)
    return payload


def _sentence(p: dict[str, Any]) -> str:
    used = f"${p['used']:.4g}" if p["measure"] == "usd" else f"{p['used']:g} {p['measure']}".strip()
    share = f" ({p['ratio']:.0%})" if p["ratio"] is not None else ""
    what = {"warn": "passed its warning threshold", "degrade": "is degrading requests",
            "block": "is refusing requests" if p["enforced"] else "would refuse requests (warn mode)"}[p["kind"]]
    who = f" for user {p['user']}" if p["user"] else ""
    return f"[{p['policy']}] {p['limit']} {what}{who}: {used} used{share}."


def _masked(exc: BaseException, rule: AlertRule) -> str:
    """An error's text without the webhook's URL or its parts (the path of a Slack hook is its token)."""
    text = str(exc)
    parts = urlsplit(rule.url)
    for secret in (rule.url, f"{parts.path}?{parts.query}" if parts.query else "", parts.path, parts.query, parts.password or ""):
        if len(secret) >= 4:
            text = text.replace(secret, rule.written)
    return scrub_keys(text)[:300]
