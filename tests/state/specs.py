"""How a test (or a worker process it spawns) opens the store under test.

A `StoreSpec` is plain picklable data, so the same store can be reopened in a
thread, a spawned process, or after a simulated restart.
"""

from __future__ import annotations

from dataclasses import dataclass

from cascadepolicy.state import MemoryStore, SQLiteStore, Store


@dataclass(frozen=True)
class StoreSpec:
    kind: str  # memory | sqlite | redis
    path: str | None = None
    url: str | None = None
    prefix: str = "cascadepolicy:"

    @property
    def shared(self) -> bool:
        """Whether a second `open()` sees the same counters (false for memory)."""
        return self.kind != "memory"

    def open(self) -> Store:
        if self.kind == "memory":
            return MemoryStore()
        if self.kind == "sqlite":
            assert self.path is not None
            return SQLiteStore(self.path)
        from cascadepolicy.state.redis_store import RedisStore

        assert self.url is not None
        return RedisStore(self.url, key_prefix=self.prefix)
