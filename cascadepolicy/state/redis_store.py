"""The multi-host state store: Redis, with every operation one server-side Lua script.

`reserve`, `settle` and `release` are each a single EVALSHA round trip, atomic
on the server, so many processes on many hosts share the counters exactly. The
data layout and scripts are in `redis_scripts`; this module marshals arguments
(every key in KEYS) and maps redis-py errors to `StoreError`. The async twin
runs the same scripts through `redis.asyncio`, imported on first async use;
settlements Redis cannot take are journaled (see `journal`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import cascadepolicy.state.redis_scripts as redis_scripts
from cascadepolicy.errors import StoreError
from cascadepolicy.state.base import (
    Admission,
    Charge,
    Usage,
    check_charges,
    new_reservation_id,
)
from cascadepolicy.state.journal import (
    Journal,
    JournaledStore,
    Unsettled,
    default_journal_path,
    keep_running,
)

DEFAULT_KEY_PREFIX = "cascadepolicy:"
# The latest reservations made here have their counters remembered (about 200
# bytes each), so settle and release declare their keys without a round trip;
# an older one costs one SMEMBERS more.
MAX_REMEMBERED = 10_000
ASYNC_CONNECTIONS = 64  # connections of the async client per event loop
POOL_WAIT = 10.0  # seconds an async call waits for one of them
_KINDS = "mlapd"  # the five keys of a counter, in the order the scripts declare them
_SCRIPTS = {
    "reserve": redis_scripts.RESERVE,
    "settle": redis_scripts.SETTLE,
    "release": redis_scripts.RELEASE,
    "usage": redis_scripts.USAGE,
}
_Call = tuple[str, list[str], list[str | int]]  # script name, KEYS, ARGV


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


class RedisStore(JournaledStore):
    """Store in one Redis server (standalone or primary).

    Every key it writes starts with `key_prefix` (the policy's `store.key_prefix`),
    so deployments sharing one server keep separate counters. Settlements Redis
    cannot take are journaled in `journal` (default: a file named after the url
    and prefix under `$XDG_STATE_HOME/cascadepolicy/`, ~/.local/state by default).
    """

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        socket_timeout: float = 2.0,
        connect_timeout: float = 1.0,
        journal: str | None = None,
    ) -> None:
        self.url = _redacted(url)
        self.key_prefix = key_prefix
        self._options: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
        }
        try:
            # One immediate retry replaces a pooled connection the server closed;
            # more would only delay the fail-closed answer.
            self._client = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), **self._options)
        except ValueError as error:
            raise StoreError(
                f"the Redis state store url {self.url!r} is invalid: {error}"
            ) from error
        self._connect_url = url
        self._scripts = {name: self._client.register_script(text) for name, text in _SCRIPTS.items()}
        self._async: tuple[asyncio.AbstractEventLoop, Any, dict[str, Any]] | None = None
        self._remembered: dict[str, tuple[str, ...]] = {}
        if journal is None:
            digest = hashlib.sha256(f"{self.url}\0{key_prefix}".encode()).hexdigest()[:16]
            journal = default_journal_path(f"redis-{digest}")
        self.journal = Journal(journal)

    # -- the Store interface ---------------------------------------------------

    def reserve(self, charges: Sequence[Charge], *, now: float, ttl: float) -> Admission:
        check_charges(charges, ttl)
        self._catch_up(answered=False)
        call, rid = self._reserve_call(charges, now, ttl)
        admission = self._admission(charges, rid, self._eval(call))
        self._catch_up(answered=True)
        return admission

    def usage(self, key_prefix: str = "", *, now: float) -> list[Usage]:
        found = []
        with self._errors():
            for key in sorted(self._counter_names(key_prefix)):
                row = self._usage_row(key, self._eval(self._usage_call(key, now)))
                if row is not None:
                    found.append(row)
        return self.journal.with_pending(found, key_prefix)

    def reset(self, key_prefix: str) -> int:
        with self._errors():
            names = self._counter_names(key_prefix)
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.delete(*self._keys(name))
            pipe.execute()
        return len(names)

    def close(self) -> None:
        self._client.close()
        self._async = None  # an async client can only be closed from its loop: use aclose()

    def _apply(self, record: Unsettled) -> None:
        declared = self._declared(record)
        for _ in range(2):
            if self._eval(self._settle_call(record, declared)) != -1:
                self._forget(record)
                return
            with self._errors():
                members = self._client.smembers(self._rkey(record.rid))
            declared = self._declared(record, members)
        raise StoreError(f"the Redis state store at {self.url} keeps changing reservation {record.rid}")

    def _eval(self, call: _Call) -> Any:
        name, keys, args = call
        with self._errors():
            return self._scripts[name](keys=keys, args=args)

    def _counter_names(self, key_prefix: str) -> list[str]:
        pattern, cut = self._scan(key_prefix)
        scan: Callable[..., Iterator[Any]] = self._client.scan_iter
        return [raw.decode()[cut:] for raw in scan(match=pattern, count=1000)]

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as error:
            raise self._failure(error) from error

    # -- the async twin ----------------------------------------------------------

    async def areserve(self, charges: Sequence[Charge], *, now: float, ttl: float) -> Admission:
        check_charges(charges, ttl)
        await self._acatch_up(answered=False)
        call, rid = self._reserve_call(charges, now, ttl)
        sent = asyncio.ensure_future(self._aeval(call))
        try:
            reply = await asyncio.shield(sent)
        except asyncio.CancelledError:
            # The script may still run: release what it reserves, since nobody will settle it.
            sent.add_done_callback(lambda _: keep_running(asyncio.ensure_future(self.arelease(rid, now=now))))
            raise
        admission = self._admission(charges, rid, reply)
        await self._acatch_up(answered=True)
        return admission

    async def ausage(self, key_prefix: str = "", *, now: float) -> list[Usage]:
        found = []
        async with self._aerrors():
            client, _ = self._async_client()
            pattern, cut = self._scan(key_prefix)
            names = [raw.decode()[cut:] async for raw in client.scan_iter(match=pattern, count=1000)]
            for key in sorted(names):
                row = self._usage_row(key, await self._aeval(self._usage_call(key, now)))
                if row is not None:
                    found.append(row)
        return self.journal.with_pending(found, key_prefix)

    async def areset(self, key_prefix: str) -> int:
        async with self._aerrors():
            client, _ = self._async_client()
            pattern, cut = self._scan(key_prefix)
            names = [raw.decode()[cut:] async for raw in client.scan_iter(match=pattern, count=1000)]
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.delete(*self._keys(name))
            await pipe.execute()
        return len(names)

    async def aclose(self) -> None:
        if self._async is not None:
            loop, client, _ = self._async
            self._async = None
            if loop is asyncio.get_running_loop():
                await client.aclose(close_connection_pool=True)
        self._client.close()

    async def _aapply(self, record: Unsettled) -> None:
        declared = self._declared(record)
        for _ in range(2):
            if await self._aeval(self._settle_call(record, declared)) != -1:
                self._forget(record)
                return
            async with self._aerrors():
                client, _ = self._async_client()
                members = await client.smembers(self._rkey(record.rid))
            declared = self._declared(record, members)
        raise StoreError(f"the Redis state store at {self.url} keeps changing reservation {record.rid}")

    async def _aeval(self, call: _Call) -> Any:
        name, keys, args = call
        async with self._aerrors():
            _, scripts = self._async_client()
            return await scripts[name](keys=keys, args=args)

    def _async_client(self) -> tuple[Any, dict[str, Any]]:
        """The redis.asyncio client of the running loop (a client's connections belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            import redis.asyncio
            from redis.asyncio.retry import Retry as AsyncRetry

            # Tasks beyond ASYNC_CONNECTIONS queue for a connection (for up to
            # POOL_WAIT seconds) instead of failing with "too many connections".
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self._connect_url,
                max_connections=ASYNC_CONNECTIONS,
                timeout=POOL_WAIT,
                retry=AsyncRetry(NoBackoff(), 1),
                **self._options,
            )
            client = redis.asyncio.Redis(connection_pool=pool)
            scripts = {name: client.register_script(text) for name, text in _SCRIPTS.items()}
            self._async = (loop, client, scripts)
        return self._async[1], self._async[2]

    @asynccontextmanager
    async def _aerrors(self) -> AsyncIterator[None]:
        try:
            yield
        except redis.RedisError as error:
            raise self._failure(error) from error

    # -- marshalling, shared by both ------------------------------------------------

    def _keys(self, name: str) -> list[str]:
        return [f"{self.key_prefix}{kind}:{name}" for kind in _KINDS]

    def _scan(self, key_prefix: str) -> tuple[str, int]:
        """The SCAN pattern of the counters under `key_prefix`, and where their names start."""
        meta = f"{self.key_prefix}m:"
        return _glob_escape(meta + key_prefix) + "*", len(meta)

    def _rkey(self, rid: str) -> str:
        return f"{self.key_prefix}r:{rid}"

    def _reserve_call(self, charges: Sequence[Charge], now: float, ttl: float) -> tuple[_Call, str]:
        rid = new_reservation_id()
        keys = [self._rkey(rid)]
        args: list[str | int] = [rid, repr(float(now)), repr(float(ttl)), len(charges)]
        for c in charges:
            keys += self._keys(c.key)
            args += [c.key, repr(float(c.limit)), repr(float(c.amount))]
            args += [_num(c.window), _num(c.period_end), c.label]
        return ("reserve", keys, args), rid

    def _admission(self, charges: Sequence[Charge], rid: str, reply: Any) -> Admission:
        refused, retry, *used_raw = reply
        used = {c.key: float(u) for c, u in zip(charges, used_raw, strict=True)}
        if refused != 0:
            return Admission(False, None, charges[refused - 1], _opt(retry), used)
        if len(self._remembered) >= MAX_REMEMBERED:
            del self._remembered[next(iter(self._remembered))]
        self._remembered[rid] = tuple(c.key for c in charges)
        return Admission(True, rid, None, None, used)

    def _forget(self, record: Unsettled) -> None:
        # Kept after a settle: a release may follow it (a no-op, still one script call).
        if record.op == "release":
            self._remembered.pop(record.rid, None)

    def _declared(self, record: Unsettled, members: Iterable[bytes | str] = ()) -> list[str]:
        """The counters a settle or release must declare: the reservation's and `actual`'s."""
        names = dict.fromkeys(self._remembered.get(record.rid, ()))
        names.update(dict.fromkeys(m.decode() if isinstance(m, bytes) else m for m in members))
        names.update(dict.fromkeys(record.actual))
        return list(names)

    def _settle_call(self, record: Unsettled, declared: Sequence[str]) -> _Call:
        keys = [self._rkey(record.rid)]
        for name in declared:
            keys += self._keys(name)
        if record.op == "release":
            return "release", keys, [record.rid, len(declared), *declared]
        args: list[str | int] = [record.rid, repr(float(record.now)), len(declared), *declared]
        args.append(len(record.actual))
        for key, amount in record.actual.items():
            args += [key, repr(float(amount))]
        return "settle", keys, args

    def _usage_call(self, key: str, now: float) -> _Call:
        return "usage", self._keys(key), [repr(float(now)), key]

    def _usage_row(self, key: str, reply: Any) -> Usage | None:
        if reply is None:
            return None
        settled, reserved, limit, window, period_end, label, oldest = reply
        win = _opt(window)
        first = _opt(oldest)
        if win is not None:
            resets_at = None if first is None else first + win
        else:
            resets_at = _opt(period_end)
        return Usage(
            key=key,
            used=float(settled),
            reserved=float(reserved),
            limit=float(limit),
            window=win,
            period_end=_opt(period_end),
            label=label.decode(),
            resets_at=resets_at,
        )

    def _failure(self, error: redis.RedisError) -> StoreError:
        return StoreError(f"the Redis state store at {self.url} failed: {error}")

