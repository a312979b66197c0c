"""The two drivers of a request's walk: blocking and async, over one implementation of the request path.

    Engine.complete ──▶ drive(walk)  ──▶ transport.send · store.reserve · time.sleep · a thread for blocking code
    Engine.acomplete ─▶ adrive(walk) ──▶ transport.asend · store.areserve · asyncio.sleep

A walk (`Engine._walk`) is a generator of effects (`cascadepolicy.effects`). A
driver performs each effect and sends the result back, or throws the
exception in, so the walk's own `try`/`except` sees provider and store
failures exactly as it would around a direct call. Both drivers are themselves
generators of the streamed chunks: a streamed `Send` passes each chunk on
as it arrives, with no thread or queue between the provider and the consumer.

Ending early is part of the protocol. When the consumer goes away (a stream
closed before its end, an asyncio task cancelled), the driver throws
`asyncio.CancelledError` into the walk, which settles what the request spent
or releases its reservation, exactly once; the async driver performs those
last store calls shielded from a second cancellation. (Not `GeneratorExit`:
thrown through `yield from` it closes every generator of the walk, which could
then not yield its last store calls. `CancelledError` is no `Exception`, so no
handler in the walk mistakes it for a failure to recover from.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Any

from cascadepolicy.effects import Blocking, Send, Sleep, Steps, StoreCall
from cascadepolicy.providers.transport import Transport
from cascadepolicy.state.base import Store

BLOCKING_WORKERS = 8  # threads for guardrail code that may block (custom functions, moderation providers)
_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = concurrent.futures.ThreadPoolExecutor(BLOCKING_WORKERS, thread_name_prefix="cascadepolicy-blocking")
    return _POOL


@dataclass(frozen=True)
class IO:
    """What the effects act on: the engine's transport and store, and how to wait before a retry."""

    transport: Transport
    store: Store
    sleep: Callable[[float], Any]
    async_sleep: Callable[[float], Any] | None = None  # None: asyncio.sleep


class Outcome:
    """Where an async drive leaves the walk's result (an async generator cannot return one)."""

    result: Any = None


# ---------------------------------------------------------------- blocking


def drive(walk: Steps, io: IO) -> Generator[Any, None, Any]:
    """Run `walk` to its end in this thread; yields streamed chunks, returns the walk's result."""
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                effect = walk.throw(error) if error is not None else walk.send(value)
            except StopIteration as done:
                return done.value
            value = error = None
            try:
                if isinstance(effect, Send) and effect.stream is not None:
                    for chunk in io.transport.send(effect.kwargs):
                        passed = effect.stream.feed(chunk)
                        if passed is not None:
                            yield passed
                    value = effect.stream
                else:
                    value = _perform(effect, io)
            except GeneratorExit:
                raise
            except BaseException as exc:  # the walk decides: it releases its reservation even on KeyboardInterrupt
                error = exc
    except GeneratorExit:  # the consumer closed the stream: settle, then stop
        run(_abandoned(walk), io)
        raise


def run(walk: Steps, io: IO) -> Any:
    """Run `walk` to its end in this thread and return its result (a walk that does not stream)."""
    steps = drive(walk, io)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def _perform(effect: Any, io: IO) -> Any:
    if isinstance(effect, Send):
        return io.transport.send(effect.kwargs)
    if isinstance(effect, StoreCall):
        return getattr(io.store, effect.method)(*effect.args, **effect.kwargs)
    if isinstance(effect, Sleep):
        return io.sleep(effect.seconds)
    if isinstance(effect, Blocking):
        return _pool().submit(effect.fn).result(timeout=effect.timeout)
    raise TypeError(f"a walk yielded {effect!r}, which is not an effect")


def _abandoned(walk: Steps) -> Steps:
    """The rest of a walk whose consumer went away: `CancelledError` thrown in, and of what it still
    yields only its store calls (the settlement or release) let through, for either driver to perform."""
    error: BaseException | None = asyncio.CancelledError()
    value: Any = None
    while True:
        try:
            effect = walk.throw(error) if error is not None else walk.send(value)
        except (StopIteration, asyncio.CancelledError):
            return
        value = error = None
        if not isinstance(effect, StoreCall):
            error = asyncio.CancelledError()  # nothing but settling is done for a consumer that left
            continue
        try:
            value = yield effect
        except Exception as exc:
            error = exc


# ---------------------------------------------------------------- async


async def adrive(walk: Steps, io: IO, outcome: Outcome, *, shielded: bool = False) -> AsyncGenerator[Any, None]:
    """Run `walk` to its end on the event loop; yields streamed chunks, leaves the result in `outcome`.
    `shielded`: store calls are shielded from cancellation from the start (a walk already cancelled)."""
    value: Any = None
    error: BaseException | None = None
    cancelled = shielded
    try:
        while True:
            try:
                effect = walk.throw(error) if error is not None else walk.send(value)
            except StopIteration as done:
                outcome.result = done.value
                return
            value = error = None
            try:
                if isinstance(effect, Send) and effect.stream is not None:
                    stream = await io.transport.asend(effect.kwargs)
                    async for chunk in stream:
                        passed = effect.stream.feed(chunk)
                        if passed is not None:
                            yield passed
                    value = effect.stream
                elif cancelled and isinstance(effect, StoreCall):
                    # settling after a cancellation: a second one must not cut it short
                    value = await asyncio.shield(_aperform(effect, io))
                else:
                    value = await _aperform(effect, io)
            except GeneratorExit:
                raise
            except BaseException as exc:
                cancelled = cancelled or isinstance(exc, asyncio.CancelledError)
                error = exc
    except GeneratorExit:  # the consumer closed the stream (aclose): settle, then stop
        async for _ in adrive(_abandoned(walk), io, Outcome(), shielded=True):
            pass
        raise


async def _aperform(effect: Any, io: IO) -> Any:
    if isinstance(effect, Send):
        return await io.transport.asend(effect.kwargs)
    if isinstance(effect, StoreCall):
        twin = getattr(io.store, "a" + effect.method, None)
        if twin is not None:
            return await twin(*effect.args, **effect.kwargs)
        # a store with only the blocking interface: its call runs on a worker thread
        call = functools.partial(getattr(io.store, effect.method), *effect.args, **effect.kwargs)
        return await asyncio.get_running_loop().run_in_executor(_pool(), call)
    if isinstance(effect, Sleep):
        if io.async_sleep is None:
            return await asyncio.sleep(effect.seconds)
        return await io.async_sleep(effect.seconds)
    if isinstance(effect, Blocking):
        running = asyncio.get_running_loop().run_in_executor(_pool(), effect.fn)
        return await asyncio.wait_for(running, effect.timeout)
    raise TypeError(f"a walk yielded {effect!r}, which is not an effect")
