"""State stores for admission: rate windows and budgets, reserved then settled.

The engine's admission step builds `Charge`s and calls a `Store` (or its async
twin, `AsyncStore`; every store here is both); `open_store` picks one from the
policy's `store:` section. Redis is imported only when a Redis store is opened
(redis.asyncio on its first async call), so the embedded stores need nothing
beyond the stdlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cascadepolicy.state.base import Admission, AsyncStore, Charge, Store, Usage
from cascadepolicy.state.factory import open_store
from cascadepolicy.state.memory import MemoryStore
from cascadepolicy.state.sqlite import SQLiteStore

if TYPE_CHECKING:
    from cascadepolicy.state.redis_store import RedisStore

__all__ = [
    "Admission",
    "AsyncStore",
    "Charge",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "Usage",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name == "RedisStore":
        from cascadepolicy.state.redis_store import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
