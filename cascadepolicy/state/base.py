"""The contract between the engine's admission step and the state stores.

Admission (rate windows and budgets) sits between the input guardrails and the
first model call. For each request the engine lists the `Charge`s that apply,
asks a `Store` to `reserve` them all at once, and later `settle`s the
reservation to the actual figures or `release`s it when the call failed.
`MemoryStore`, `SQLiteStore` and `RedisStore` implement `Store`; the helpers
below hold the arithmetic they must agree on.

Each of them also implements `AsyncStore`, the async twin: `areserve`,
`asettle`, `arelease`, `ausage`, `areset` and `aclose` take the same arguments,
return the same values and obey the same contract (one contract suite runs on
both). The async calls never hold a thread per waiting request: the memory
store answers inline, `RedisStore` uses `redis.asyncio` with the same Lua
scripts, and `SQLiteStore` queues operations that one worker thread runs in
batches. A program may use both APIs on one store; `aclose()` releases what
either opened.

`settle` and `release` on SQLite and Redis never lose spend when the store is
unreachable: they journal it locally, raise `StoreError` saying where it was
kept, and replay it when the store answers (see `journal`). `Usage.pending`
shows what waits.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

# Amounts are floats (USD), and running totals drift by a few ulps after many
# additions and subtractions; without this slack an exact fit (ten $0.10 calls
# against $1.00) could be refused. 1e-9 of the limit cannot admit an extra
# request or token, and is a billionth of a budget.
RELATIVE_TOLERANCE = 1e-9


class Charge(NamedTuple):
    """One limit a request is charged against, and the amount it reserves.

    A named tuple rather than a dataclass: one is built per limit per request.
    """

    key: str
    limit: float
    amount: float
    window: float | None
    period_end: float | None
    label: str
    fail_open: bool = False


class Admission(NamedTuple):
    """The answer to `Store.reserve`: admitted with a reservation id, or refused."""

    admitted: bool
    reservation_id: str | None
    refused: Charge | None
    retry_after: float | None
    used: Mapping[str, float]


@dataclass(frozen=True)
class Usage:
    """What one counter holds right now, for the `usage` command."""

    key: str
    used: float
    reserved: float
    limit: float
    window: float | None
    period_end: float | None
    label: str
    resets_at: float | None
    pending: float = 0.0  # settled while the store was unreachable: journaled, not yet in `used`

    @property
    def remaining(self) -> float:
        # Counts pending spend although its reservation may still be held: errs toward less.
        return self.limit - self.used - self.reserved - self.pending


@runtime_checkable
class Store(Protocol):
    def reserve(self, charges: Sequence[Charge], *, now: float, ttl: float) -> Admission: ...

    def settle(self, reservation_id: str, actual: Mapping[str, float], *, now: float) -> None: ...

    def release(self, reservation_id: str, *, now: float) -> None: ...

    def usage(self, key_prefix: str = "", *, now: float) -> list[Usage]: ...

    def reset(self, key_prefix: str) -> int: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncStore(Protocol):
    """The async twin of `Store`: same arguments, same answers, same contract."""

    async def areserve(self, charges: Sequence[Charge], *, now: float, ttl: float) -> Admission: ...

    async def asettle(self, reservation_id: str, actual: Mapping[str, float], *, now: float) -> None: ...

    async def arelease(self, reservation_id: str, *, now: float) -> None: ...

    async def ausage(self, key_prefix: str = "", *, now: float) -> list[Usage]: ...

    async def areset(self, key_prefix: str) -> int: ...

    async def aclose(self) -> None: ...


def fits(used: float, amount: float, limit: float) -> bool:
    return used + amount <= limit + RELATIVE_TOLERANCE * max(1.0, abs(limit))


def check_charges(charges: Sequence[Charge], ttl: float) -> None:
    """Reject charges no store could honour; these are engine bugs, not user errors."""
    seen: set[str] = set()
    for charge in charges:
        if charge.key in seen:
            raise ValueError(f"charge key {charge.key!r} appears twice in one reservation")
        seen.add(charge.key)
        if charge.amount < 0 or charge.limit < 0:
            raise ValueError(f"charge {charge.key!r} has a negative amount or limit")
        if charge.window is not None and charge.window <= 0:
            raise ValueError(f"charge {charge.key!r} has a window of {charge.window}s")
    if ttl <= 0:
        raise ValueError(f"reservation ttl must be positive, got {ttl}")


def retry_after(
    charge: Charge, used: float, entries: Iterable[tuple[float, float]], *, now: float
) -> float | None:
    """Seconds until `charge` could be admitted, assuming nothing else is charged.

    `entries` are the counted (timestamp, amount) pairs of the charge's counter,
    oldest first. A sliding window frees an entry at `ts + window`; a calendar
    period frees everything at `period_end`. None when it never could.
    """
    if not fits(0.0, charge.amount, charge.limit):
        return None
    if charge.window is None:
        return None if charge.period_end is None else max(0.0, charge.period_end - now)
    remaining = used
    for ts, amount in entries:
        remaining -= amount
        if fits(remaining, charge.amount, charge.limit):
            return max(0.0, ts + charge.window - now)
    return charge.window


def gc_at(charge: Charge, now: float) -> float | None:
    """When every entry of a counter charged at `now` has surely left it (None: never)."""
    return now + charge.window if charge.window is not None else charge.period_end


def new_reservation_id() -> str:
    return os.urandom(16).hex()


def first_refusal(charges: Sequence[Charge], used: Sequence[float]) -> int | None:
    """Index of the first charge that does not fit on top of `used`, or None when all fit."""
    for i, charge in enumerate(charges):
        limit = charge.limit
        if used[i] + charge.amount > limit + RELATIVE_TOLERANCE * max(1.0, abs(limit)):
            return i
    return None
