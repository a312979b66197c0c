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

STORE_KINDS = ("memory", "sqlite", "redis")


def open_store(kind: str, *, path: str | None = None, url: str | None = None, key_prefix: str | None = None) -> Store:
    """Open the store a policy names: "memory", "sqlite" (needs `path`) or "redis" (needs `url`;
    `key_prefix` starts every key it writes, default "cascadepolicy:")."""
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        if not path:
            raise ValueError("a sqlite store needs a path")
        return SQLiteStore(path)
    if kind == "redis":
        if not url:
            raise ValueError("a redis store needs a url")
        from cascadepolicy.state.redis_store import DEFAULT_KEY_PREFIX, RedisStore

        return RedisStore(url, key_prefix=DEFAULT_KEY_PREFIX if key_prefix is None else key_prefix)
    raise ValueError(f"unknown store kind {kind!r}; expected one of {', '.join(STORE_KINDS)}")


def __getattr__(name: str) -> Any:
    if name == "RedisStore":
        from cascadepolicy.state.redis_store import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
