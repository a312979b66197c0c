"""`open_store`: the store a policy's `store:` section names.

The package `__init__` only re-exports; the factory lives here so that no
store module has to import the package that imports it. Redis is imported
only when a Redis store is opened.
"""

from __future__ import annotations

from cascadepolicy.state.base import Store
from cascadepolicy.state.memory import MemoryStore
from cascadepolicy.state.sqlite import SQLiteStore

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
