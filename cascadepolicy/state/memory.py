"""The in-process state store: one dict of sliding logs behind one lock.

Used by tests and by single-process programs that need no persistence; its
async twin answers inline (no I/O to wait for). It is
the reference for the store contract (see `base.Store` and docs/state.md):
every counter is a log of entries ordered by timestamp plus a running total of
the entries that count, so a reserve costs O(charges), not O(entries).
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from bisect import bisect_right
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cascadepolicy.state.base import (
    Admission,
    Charge,
    Usage,
    check_charges,
    first_refusal,
    gc_at,
    new_reservation_id,
    retry_after,
)

# Counters of callers who never come back are only purged when touched; a
# sweep over all counters every this many operations bounds the memory.
SWEEP_EVERY = 4096
# Released entries are dropped from a log once they are more than half of it.
COMPACT_AFTER = 64


@dataclass(slots=True, eq=False)
class _Entry:
    key: str
    rid: str
    ts: float
    amount: float
    expires_at: float | None  # None once settled
    live: bool = True  # False once an unsettled reservation expired
    released: bool = False  # released entries stay in the log until passed or compacted away


@dataclass(slots=True, eq=False)
class _Counter:
    limit: float
    window: float | None
    period_end: float | None
    label: str
    gc_at: float | None  # every entry has left by then
    total: float = 0.0  # sum of live entries
    entries: deque[_Entry] = field(default_factory=deque)
    released: int = 0  # entries of the log that were released
    pending: list[tuple[float, int, _Entry]] = field(default_factory=list)  # heap by expires_at


class MemoryStore:
    """Thread-safe, process-local store; everything is lost when the process exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, _Counter] = {}
        self._reservations: dict[str, dict[str, _Entry]] = {}
        self._seq = itertools.count()
        self._rid_prefix = f"m{new_reservation_id()[:12]}-"  # ids unique across stores; no syscall per request
        self._ops = 0

    def reserve(self, charges: Sequence[Charge], *, now: float, ttl: float) -> Admission:
        check_charges(charges, ttl)
        with self._lock:
            self._tick(now)
            counters = [self._purge(charge.key, now) for charge in charges]
            used = [0.0 if c is None else c.total for c in counters]
            index = first_refusal(charges, used)
            if index is not None:
                used = [0.0 if c is None else self._recount(c) for c in counters]
                index = first_refusal(charges, used)
            if index is not None:
                charge, counter = charges[index], counters[index]
                entries = () if counter is None else counter.entries
                live = ((e.ts, e.amount) for e in entries if e.live)
                return Admission(
                    admitted=False,
                    reservation_id=None,
                    refused=charge,
                    retry_after=retry_after(charge, used[index], live, now=now),
                    used={c.key: u for c, u in zip(charges, used, strict=True)},
                )
            seq = self._seq
            rid = f"{self._rid_prefix}{next(seq)}"
            expires_at = now + ttl
            held: dict[str, _Entry] = {}
            used_by_key: dict[str, float] = {}
            for charge, counter, before in zip(charges, counters, used, strict=True):
                counter = self._counter_for(charge, counter, now)
                entry = _Entry(charge.key, rid, now, charge.amount, expires_at)
                self._insert(counter, entry)
                heapq.heappush(counter.pending, (expires_at, next(seq), entry))
                held[charge.key] = entry
                used_by_key[charge.key] = before
            self._reservations[rid] = held
            return Admission(True, rid, None, None, used_by_key)

    def settle(self, reservation_id: str, actual: Mapping[str, float], *, now: float) -> None:
        with self._lock:
            self._tick(now)
            # A reservation is known while one of its entries is still held at `now`.
            for key in list(self._reservations.get(reservation_id, ())):
                self._purge(key, now)
            held = self._reservations.get(reservation_id)
            if held is None:
                self._record_unknown(reservation_id, actual, now)
                return
            for key, entry in held.items():
                counter = self._counters[key]
                amount = float(actual.get(key, entry.amount))
                counter.total += amount - entry.amount if entry.live else amount
                entry.amount, entry.expires_at, entry.live = amount, None, True

    def release(self, reservation_id: str, *, now: float) -> None:
        with self._lock:
            held = self._reservations.get(reservation_id)
            if held is None:
                return
            for key, entry in list(held.items()):
                if entry.expires_at is None:
                    continue  # settled: that money was spent
                counter = self._counters[key]
                if entry.live:
                    counter.total -= entry.amount
                entry.live, entry.expires_at, entry.released = False, None, True
                del held[key]
                # Marked, not removed: removing from the middle of a long log (a
                # month of a global budget) would cost O(entries) per release.
                counter.released += 1
                if counter.released == len(counter.entries):
                    del self._counters[key]
                elif counter.released > COMPACT_AFTER and 2 * counter.released > len(counter.entries):
                    counter.entries = deque(e for e in counter.entries if not e.released)
                    counter.released = 0
            if not held:
                del self._reservations[reservation_id]

    def usage(self, key_prefix: str = "", *, now: float) -> list[Usage]:
        with self._lock:
            found = []
            for key in sorted(k for k in self._counters if k.startswith(key_prefix)):
                counter = self._purge(key, now)
                if counter is None:
                    continue
                live = [e for e in counter.entries if e.live]
                settled = math.fsum(e.amount for e in live if e.expires_at is None)
                reserved = math.fsum(e.amount for e in live if e.expires_at is not None)
                if counter.window is not None:
                    resets_at = live[0].ts + counter.window if live else None
                else:
                    resets_at = counter.period_end
                found.append(
                    Usage(
                        key=key,
                        used=settled,
                        reserved=reserved,
                        limit=counter.limit,
                        window=counter.window,
                        period_end=counter.period_end,
                        label=counter.label,
                        resets_at=resets_at,
                    )
                )
            return found

    def reset(self, key_prefix: str) -> int:
        with self._lock:
            keys = [k for k in self._counters if k.startswith(key_prefix)]
            for key in keys:
                self._forget(key)
            return len(keys)

    def close(self) -> None:
        pass

    # -- the async twin: every operation holds the lock for microseconds, so it runs inline

    async def areserve(self, charges: Sequence[Charge], *, now: float, ttl: float) -> Admission:
        return self.reserve(charges, now=now, ttl=ttl)

    async def asettle(self, reservation_id: str, actual: Mapping[str, float], *, now: float) -> None:
        self.settle(reservation_id, actual, now=now)

    async def arelease(self, reservation_id: str, *, now: float) -> None:
        self.release(reservation_id, now=now)

    async def ausage(self, key_prefix: str = "", *, now: float) -> list[Usage]:
        return self.usage(key_prefix, now=now)

    async def areset(self, key_prefix: str) -> int:
        return self.reset(key_prefix)

    async def aclose(self) -> None:
        self.close()

    def unsettled(self, key_prefix: str = "") -> dict[str, float]:
        """Always empty: an in-process store cannot be unreachable, so nothing is journaled."""
        return {}

    def _tick(self, now: float) -> None:
        self._ops += 1
        if self._ops % SWEEP_EVERY:
            return
        for key in [k for k, c in self._counters.items() if c.gc_at is not None and c.gc_at <= now]:
            self._forget(key)

    def _purge(self, key: str, now: float) -> _Counter | None:
        """Bring one counter up to `now`; None when it holds nothing any more."""
        counter = self._counters.get(key)
        if counter is None:
            return None
        if counter.window is None and counter.period_end is not None and now >= counter.period_end:
            self._forget(key)
            return None
        pending = counter.pending
        while pending and pending[0][0] <= now:
            entry = heapq.heappop(pending)[2]
            if entry.expires_at is not None and entry.live:
                entry.live = False
                counter.total -= entry.amount
        if counter.window is not None:
            cutoff = now - counter.window
            entries = counter.entries
            while entries and entries[0].ts <= cutoff:
                entry = entries.popleft()
                if entry.released:
                    counter.released -= 1
                    continue
                if entry.live:
                    counter.total -= entry.amount
                entry.live, entry.expires_at = False, None
                self._unhold(entry)
            if len(entries) == counter.released:
                del self._counters[key]
                return None
        return counter

    def _recount(self, counter: _Counter) -> float:
        counter.total = math.fsum(e.amount for e in counter.entries if e.live)
        return counter.total

    def _counter_for(self, charge: Charge, counter: _Counter | None, now: float) -> _Counter:
        until = gc_at(charge, now)
        if counter is None:
            counter = _Counter(charge.limit, charge.window, charge.period_end, charge.label, until)
            self._counters[charge.key] = counter
            return counter
        counter.limit, counter.window = charge.limit, charge.window
        counter.period_end, counter.label = charge.period_end, charge.label
        if until is None or counter.gc_at is None:
            counter.gc_at = None
        elif until > counter.gc_at:
            counter.gc_at = until
        return counter

    def _insert(self, counter: _Counter, entry: _Entry) -> None:
        entries = counter.entries
        if not entries or entries[-1].ts <= entry.ts:
            entries.append(entry)
        else:  # callers' clocks disagree by a little; keep the log ordered
            entries.insert(bisect_right(entries, entry.ts, key=lambda e: e.ts), entry)
        counter.total += entry.amount

    def _record_unknown(self, rid: str, actual: Mapping[str, float], now: float) -> None:
        held: dict[str, _Entry] = {}
        for key, amount in actual.items():
            counter = self._purge(key, now)
            if counter is None:
                continue  # a counter the store no longer holds: nothing left to charge
            entry = _Entry(key, rid, now, float(amount), None)
            self._insert(counter, entry)
            if counter.window is not None and counter.gc_at is not None:
                counter.gc_at = max(counter.gc_at, now + counter.window)
            held[key] = entry
        if held:
            self._reservations[rid] = held

    def _forget(self, key: str) -> None:
        counter = self._counters.pop(key)
        for entry in counter.entries:
            entry.live, entry.expires_at = False, None
            self._unhold(entry)

    def _unhold(self, entry: _Entry) -> None:
        held = self._reservations.get(entry.rid)
        if held is not None and held.get(entry.key) is entry:
            del held[entry.key]
            if not held:
                del self._reservations[entry.rid]
