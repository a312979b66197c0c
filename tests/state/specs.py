"""How a test (or a worker process it spawns) opens the store under test.

A `StoreSpec` is plain picklable data, so the same store can be reopened in a
thread, a spawned process, or after a simulated restart. With `api="async"` the
store is driven through its async twin (`areserve`, `asettle`, ...) by
`ThroughAsync`, so every contract test runs on both APIs unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cascadepolicy.state import Admission, Charge, MemoryStore, SQLiteStore, Store, Usage


@dataclass(frozen=True)
class StoreSpec:
    kind: str  # memory | sqlite | redis
    path: str | None = None
    url: str | None = None
    prefix: str = "cascadepolicy:"
    api: str = "sync"  # sync | async
    journal: str | None = None  # where a Redis store journals (tests keep it in tmp_path)

    @property
    def shared(self) -> bool:
        """Whether a second `open()` sees the same counters (false for memory)."""
        return self.kind != "memory"

    def open(self) -> Store:
        store = self.open_native()
        return ThroughAsync(store) if self.api == "async" else store

    def open_native(self) -> Any:
        """The store itself, with both its sync and its async API."""
        if self.kind == "memory":
            return MemoryStore()
        if self.kind == "sqlite":
            assert self.path is not None
            return SQLiteStore(self.path)
        from cascadepolicy.state.redis_store import RedisStore

        assert self.url is not None
        return RedisStore(self.url, key_prefix=self.prefix, journal=self.journal)


class ThroughAsync:
    """The sync `Store` interface, answered by a store's async twin on one event loop."""

    def __init__(self, native: Any) -> None:
        self.native = native
        self._runner = asyncio.Runner()

    def reserve(self, charges: Sequence[Charge], *, now: float, ttl: float) -> Admission:
        return self._runner.run(self.native.areserve(charges, now=now, ttl=ttl))

    def settle(self, reservation_id: str, actual: Mapping[str, float], *, now: float) -> None:
        self._runner.run(self.native.asettle(reservation_id, actual, now=now))

    def release(self, reservation_id: str, *, now: float) -> None:
        self._runner.run(self.native.arelease(reservation_id, now=now))

    def usage(self, key_prefix: str = "", *, now: float) -> list[Usage]:
        return self._runner.run(self.native.ausage(key_prefix, now=now))

    def reset(self, key_prefix: str) -> int:
        return self._runner.run(self.native.areset(key_prefix))

    def close(self) -> None:
        self._runner.run(self.native.aclose())
        self._runner.close()
