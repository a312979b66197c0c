"""Flat combining: the callers of one process take turns running everyone's operations in one batch.

`SQLiteStore` sends every operation through a `Combiner`. SQLite lets one
connection write at a time, so operations on one database are serial whatever
we do; what matters is how a caller waits. Giving each thread its own
connection leaves the waiting to SQLite's busy handler, which polls with
sleeps of 1, 2, 5 ... 100 ms: measured at 16 threads, p99 9-18 ms and a
worst case near one second. A lock around the operation is no fairer (the
thread that releases it usually takes it again). Here a caller queues its
operation; if nobody is running operations it runs the queue itself, as one
batch in one transaction, then hands the turn to the oldest waiter. So the
write lock changes hands without sleeping, in arrival order, and a batch of N
operations costs one transaction instead of N.

Async callers queue the same way and never hold a thread while they wait: one
worker thread runs the queue whenever its head is an async operation.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
C = TypeVar("C")

# Operations run in one transaction at most; bounds how long one turn lasts.
MAX_BATCH = 64


class Op(Generic[C]):
    """One queued operation: `fn(connection)`, then its result or error."""

    __slots__ = ("abandoned", "error", "fn", "gate", "lead", "notify", "result")

    def __init__(self, fn: Callable[[C], Any]) -> None:
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None
        self.gate: threading.Lock | None = None  # a waiting thread blocks on it
        self.notify: Callable[[Op[C]], None] | None = None  # an async caller's completion
        self.lead = False  # the waiting thread was handed the turn rather than an answer
        self.abandoned: Callable[[Any], None] | None = None  # for a result nobody awaits any more

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class Combiner(Generic[C]):
    """Runs queued operations in batches with `run_batch`, one batch at a time per process.

    `run_batch(ops)` must set `result` or `error` on every op it is given.
    """

    def __init__(self, run_batch: Callable[[list[Op[C]]], None], *, name: str) -> None:
        self._run_batch = run_batch
        self._name = name
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._mutex = threading.Lock()
        self._queue: deque[Op[C]] = deque()
        self._busy = False  # someone holds the turn, or a worker was asked to take it
        self._contended = False  # the last batch held more than one op
        self._worker: ThreadPoolExecutor | None = None

    def call(self, fn: Callable[[C], T]) -> T:
        """Run `fn` with the connection, in this thread or another's batch; blocks until done."""
        op: Op[C] = Op(fn)
        op.gate = gate = threading.Lock()
        gate.acquire()
        if self._enqueue(op):
            if self._contended:
                time.sleep(0)  # let the callers the last batch just answered queue their next op
            self._take_turns(worker=False)
            return op.outcome()  # type: ignore[no-any-return]
        gate.acquire()  # released when op is done, or when this thread is handed the turn
        if op.lead:
            self._take_turns(worker=False)
        return op.outcome()  # type: ignore[no-any-return]

    async def acall(self, fn: Callable[[C], T], *, abandoned: Callable[[T], None] | None = None) -> T:
        """Run `fn` in a batch without holding a thread while waiting.

        The operation runs even when the awaiting task is cancelled; its result
        then goes to `abandoned` (so a reservation nobody will use can be released).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        op: Op[C] = Op(fn)
        op.abandoned = abandoned

        def resolve() -> None:
            if future.cancelled():
                if op.error is None and op.abandoned is not None:
                    op.abandoned(op.result)
            elif op.error is not None:
                future.set_exception(op.error)
            else:
                future.set_result(op.result)

        def notify(_: Op[C]) -> None:
            try:
                loop.call_soon_threadsafe(resolve)
            except RuntimeError:
                pass  # the loop is closed: nobody is waiting for this answer

        op.notify = notify
        if self._enqueue(op):
            self._start_worker()
        return await future

    def post(self, fn: Callable[[C], Any]) -> None:
        """Queue `fn` and return at once; its outcome is dropped."""
        op: Op[C] = Op(fn)
        op.notify = _ignore
        if self._enqueue(op):
            self._start_worker()

    def close(self) -> None:
        with self._mutex:
            worker, self._worker = self._worker, None
        if worker is not None and self._pid == os.getpid():
            worker.shutdown(wait=True)

    def _enqueue(self, op: Op[C]) -> bool:
        """Queue op; True when the caller must take the turn (nobody holds it)."""
        if self._pid != os.getpid():
            self._reset()  # a forked child owns none of its parent's threads, locks or queue
        with self._mutex:
            self._queue.append(op)
            lead = not self._busy
            self._busy = True
        return lead

    def _start_worker(self) -> None:
        while True:
            with self._mutex:
                if self._worker is None:
                    self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
                worker = self._worker
            try:
                worker.submit(self._take_turns, worker=True)
                return
            except RuntimeError:  # close() shut it down meanwhile: the queue still needs a worker
                with self._mutex:
                    if self._worker is worker:
                        self._worker = None

    def _take_turns(self, *, worker: bool) -> None:
        """Run batches from the head of the queue: a caller's thread one (its own op is at the
        head), the worker as long as async ops are at the head."""
        while True:
            with self._mutex:
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            if not batch:  # never expected: whoever holds the turn finds its op, or an async one, queued
                self._pass_turn(worker=False)
                return
            self._contended = len(batch) > 1
            failure: BaseException | None = None
            try:
                self._run_batch(batch)
            except BaseException as error:  # the turn still passes on, so nobody waits forever
                failure = error
                for op in batch:
                    if op.error is None:
                        op.result, op.error = None, error
            for op in batch:
                _finish(op)
            done = self._pass_turn(worker=worker and failure is None)
            if failure is not None:
                raise failure
            if done:
                return

    def _pass_turn(self, *, worker: bool) -> bool:
        """After a batch: True when this thread is done taking turns."""
        with self._mutex:
            if not self._queue:
                self._busy = False
                return True
            head = self._queue[0]
            if head.gate is not None:
                head.lead = True
                head.gate.release()  # that thread runs the next batch
                return True
            if worker:
                return False  # an async op waits at the head: keep going in this thread
        self._start_worker()
        return True


def _finish(op: Op[Any]) -> None:
    if op.notify is not None:
        op.notify(op)
    elif op.gate is not None and not op.lead:
        op.gate.release()


def _ignore(_: Op[Any]) -> None:
    pass
