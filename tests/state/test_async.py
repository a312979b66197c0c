"""What only the async twin promises: a cancelled reservation does not stay held.

A request whose task is cancelled while it reserves (a client that
disconnects) never gets its reservation id, so nobody would settle or release
it: the store releases it itself instead of holding it until its TTL. The
cancellation lands after the store made the reservation and before the caller
heard of it: for SQLite while the op waits in the queue, for Redis while the
script's answer is held back by a slow proxy.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import spec_for
from .specs import StoreSpec
from .test_contract import req

POLLS = 3000  # bound on waiting, 10 ms apart; reached only when what is awaited never happens
ANSWER_DELAY = 0.2  # seconds the proxy holds each answer of the Redis server


@asynccontextmanager
async def slow_answers(url: str) -> AsyncIterator[str]:
    """A TCP proxy to the Redis server at `url` that delivers the server's answers late."""
    target = urlsplit(url)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        while data := await reader.read(65536):
            await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
        writer.close()

    async def serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(target.hostname, target.port)
        await asyncio.gather(
            pipe(client_reader, server_writer, 0), pipe(server_reader, client_writer, ANSWER_DELAY),
            return_exceptions=True,
        )

    proxy = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}{target.path}"
    finally:
        proxy.close()


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(POLLS):
        if condition():
            return
        await asyncio.sleep(0.01)


def reserved(spec: StoreSpec) -> float:
    """What the store holds reserved, read through the sync API (no proxy)."""
    store = spec.open_native()
    try:
        return sum(u.reserved for u in store.usage("u|", now=1))
    finally:
        store.close()


@asynccontextmanager
async def opened(kind: str, spec: StoreSpec) -> AsyncIterator[Any]:
    """The store under test; a Redis store talks to the server through `slow_answers`."""
    if kind == "sqlite":
        native: Any = spec.open_native()
    else:
        from cascadepolicy.state.redis_store import RedisStore

        proxy = slow_answers(str(spec.url))
        native = RedisStore(await proxy.__aenter__(), key_prefix=spec.prefix, journal=spec.journal)
    try:
        yield native
    finally:
        await native.aclose()
        if kind == "redis":
            await proxy.__aexit__(None, None, None)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_reservation_whose_caller_was_cancelled_is_released(
    kind: str, request: pytest.FixtureRequest, tmp_path: os.PathLike[str]
) -> None:
    spec = spec_for(kind, request, tmp_path)

    async def run() -> tuple[float, bool]:
        async with opened(kind, spec) as native:
            reserving = asyncio.ensure_future(native.areserve([req(limit=1)], now=0, ttl=300))
            if kind == "sqlite":
                await asyncio.sleep(0)  # queued: the worker runs it whatever happens next
            else:
                await until(lambda: reserved(spec) == 1)  # made, and its answer still in the proxy
            reserving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reserving
            if kind == "sqlite":
                await native.ausage(now=1)  # queued after it: once answered, the reservation was made
            await until(lambda: reserved(spec) == 0)
            return reserved(spec), (await native.areserve([req(limit=1)], now=2, ttl=300)).admitted

    left, admitted = asyncio.run(run())
    assert left == 0 and admitted
