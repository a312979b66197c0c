"""The multi-host state store: Redis, with every operation one server-side Lua script.

`reserve`, `settle` and `release` are each a single EVALSHA round trip, atomic
on the server, so many processes on many hosts share the counters exactly. The
data layout and scripts are in `redis_scripts`; this module only marshals
arguments and maps redis-py errors to `StoreError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cascadepolicy.errors import StoreError
from cascadepolicy.state import redis_scripts
from cascadepolicy.state.base import (
    Admission,
    Charge,
    Usage,
    check_charges,
    new_reservation_id,
)


def _num(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def _opt(raw: bytes) -> float | None:
    return float(raw) if raw else None


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


DEFAULT_KEY_PREFIX = "cascadepolicy:"


class RedisStore:
    """Store in one Redis server (standalone or primary; not Redis Cluster).

    Every key it writes starts with `key_prefix` (the policy's `store.key_prefix`),
    so deployments sharing one server keep separate counters.
    """

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        socket_timeout: float = 2.0,
        connect_timeout: float = 1.0,
    ) -> None:
        self.url = _redacted(url)
        self.key_prefix = key_prefix
        try:
            # One immediate retry replaces a pooled connection the server closed;
            # more would only delay the fail-closed answer.
            self._client = redis.Redis.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=connect_timeout,
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as error:
            raise StoreError(
                f"the Redis state store url {self.url!r} is invalid: {error}"
            ) from error
        self._reserve = self._client.register_script(redis_scripts.RESERVE)
        self._settle = self._client.register_script(redis_scripts.SETTLE)
        self._release = self._client.register_script(redis_scripts.RELEASE)
        self._usage = self._client.register_script(redis_scripts.USAGE)

    def reserve(self, charges: Sequence[Charge], *, now: float, ttl: float) -> Admission:
        check_charges(charges, ttl)
        rid = new_reservation_id()
        args: list[str | int] = [
            self.key_prefix,
            rid,
            repr(float(now)),
            repr(float(ttl)),
            len(charges),
        ]
        for c in charges:
            args += [c.key, repr(float(c.limit)), repr(float(c.amount))]
            args += [_num(c.window), _num(c.period_end), c.label]
        with self._errors():
            reply = self._reserve(args=args)
        refused, retry, *used_raw = reply
        used = {c.key: float(u) for c, u in zip(charges, used_raw, strict=True)}
        if refused == 0:
            return Admission(True, rid, None, None, used)
        return Admission(False, None, charges[refused - 1], _opt(retry), used)

    def settle(self, reservation_id: str, actual: Mapping[str, float], *, now: float) -> None:
        args: list[str | int] = [self.key_prefix, reservation_id, repr(float(now)), len(actual)]
        for key, amount in actual.items():
            args += [key, repr(float(amount))]
        with self._errors():
            self._settle(args=args)

    def release(self, reservation_id: str, *, now: float) -> None:
        with self._errors():
            self._release(args=[self.key_prefix, reservation_id])

    def usage(self, key_prefix: str = "", *, now: float) -> list[Usage]:
        found = []
        with self._errors():
            for key in sorted(self._counter_keys(key_prefix)):
                reply = self._usage(args=[self.key_prefix, repr(float(now)), key])
                if reply is None:
                    continue
                settled, reserved, limit, window, period_end, label, oldest = reply
                win = _opt(window)
                first = _opt(oldest)
                if win is not None:
                    resets_at = None if first is None else first + win
                else:
                    resets_at = _opt(period_end)
                found.append(
                    Usage(
                        key=key,
                        used=float(settled),
                        reserved=float(reserved),
                        limit=float(limit),
                        window=win,
                        period_end=_opt(period_end),
                        label=label.decode(),
                        resets_at=resets_at,
                    )
                )
        return found

    def reset(self, key_prefix: str) -> int:
        with self._errors():
            keys = self._counter_keys(key_prefix)
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.delete(*(f"{self.key_prefix}{kind}:{key}" for kind in "mlapd"))
            pipe.execute()
        return len(keys)

    def close(self) -> None:
        self._client.close()

    def _counter_keys(self, key_prefix: str) -> list[str]:
        meta = f"{self.key_prefix}m:"
        pattern = _glob_escape(meta + key_prefix) + "*"
        scan: Callable[..., Iterator[Any]] = self._client.scan_iter
        return [raw.decode()[len(meta) :] for raw in scan(match=pattern, count=1000)]

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as error:
            raise StoreError(f"the Redis state store at {self.url} failed: {error}") from error
