"""Settlements a store could not take, kept on local disk until it takes them.

Sits under `SQLiteStore.settle` and `RedisStore.settle` (and `release`): when
the backend cannot be reached (Redis down, SQLite locked past its busy timeout,
a disk error), the spend must not be lost. The settlement is appended to a
small JSONL file and replayed when the store answers again: before an
operation (at most once per `REPLAY_PAUSE` while the store keeps failing) and
right after any operation that succeeded. Replaying is idempotent because a
settlement names its reservation id, and stores record a reservation's
settlement once. Until then `usage()` shows the journaled amounts as `pending`.

The file is shared safely by the processes of one host (appends and rewrites
hold an exclusive `flock`; each record is one `write` and is fsynced), and a
process that restarts replays what a previous one left. When the file cannot be
written (a read-only directory, a full disk) records are kept in memory for the
life of the process and the error says so. At most `MAX_UNSETTLED` records wait;
past that a failed settlement is reported lost rather than kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any

from cascadepolicy.errors import StoreError
from cascadepolicy.state.base import Usage

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per journal file
    fcntl = None  # type: ignore[assignment]

MAX_UNSETTLED = 10_000
REPLAY_PAUSE = 1.0  # seconds between replay attempts while the store keeps failing
JOURNAL_SUFFIX = ".unsettled.jsonl"


@dataclass(frozen=True, slots=True)
class Unsettled:
    """A settlement (or release) the store has not taken yet."""

    op: str  # "settle" | "release"
    rid: str
    actual: Mapping[str, float]
    now: float

    def line(self) -> bytes:
        raw = {"op": self.op, "rid": self.rid, "actual": dict(self.actual), "now": self.now}
        return (json.dumps(raw, separators=(",", ":")) + "\n").encode()


def _parse(line: str) -> Unsettled | str | None:
    """A record, or the id of a replayed one; None for a line torn by a crash or written by hand."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("rid"), str):
        return None
    if raw.get("op") == "done":
        return str(raw["rid"])
    actual, now = raw.get("actual"), raw.get("now")
    if raw.get("op") not in ("settle", "release") or not isinstance(actual, dict):
        return None
    if not isinstance(now, int | float) or not all(
        isinstance(k, str) and isinstance(v, int | float) and math.isfinite(v) for k, v in actual.items()
    ):
        return None
    return Unsettled(raw["op"], raw["rid"], {k: float(v) for k, v in actual.items()}, float(now))


@dataclass
class _Round:
    records: list[Unsettled]
    done: list[Unsettled] = field(default_factory=list)


class Journal:
    """The unsettled records of one store: a JSONL file at `path`, or memory when it cannot be written."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._replaying = threading.Lock()
        self._memory: dict[str, Unsettled] = {}
        self._failed_at = -math.inf
        # A cheap hint read on every operation; the records themselves are read when replaying.
        self.waiting = path is not None and _size(path) > 0

    def keep(self, record: Unsettled, error: StoreError) -> StoreError:
        """Journal `record`, which failed with `error`; return the error to raise, saying where it is kept."""
        what = f"{error}; the {'settlement' if record.op == 'settle' else 'release'} of reservation {record.rid}"
        with self._mutex:
            self._failed_at = time.monotonic()
            where: str | None = None
            problem = ""
            if self.path is not None:
                try:
                    with self._locked() as file:
                        if len(_read(file)) + len(self._memory) >= MAX_UNSETTLED:
                            return StoreError(f"{what} is lost: {MAX_UNSETTLED} unsettled records already wait")
                        file.seek(0, os.SEEK_END)
                        os.write(file.fileno(), record.line())
                        os.fsync(file.fileno())
                    where = f"journaled in {self.path}"
                except OSError as exc:
                    problem = f" (the journal {self.path} cannot be written: {exc.strerror or exc})"
            if where is None:
                if len(self._memory) >= MAX_UNSETTLED:
                    return StoreError(f"{what} is lost: {MAX_UNSETTLED} unsettled records already wait")
                self._memory[record.rid] = record
                where = f"kept in this process's memory{problem}, lost if it exits"
            self.waiting = True
        return StoreError(f"{what} is {where}, and will be replayed when the store answers")

    def pending(self) -> list[Unsettled]:
        """Every record not replayed yet, oldest first."""
        with self._mutex:
            records = dict(self._memory)
            if self.path is not None and _size(self.path) > 0:
                with contextlib.suppress(OSError), self._locked() as file:
                    records = {**_read(file), **records}
        return list(records.values())

    def amounts(self, key_prefix: str = "") -> dict[str, float]:
        """Journaled spend per counter key under `key_prefix`."""
        totals: dict[str, float] = {}
        for record in self.pending() if self.waiting else ():
            for key, amount in record.actual.items():
                if key.startswith(key_prefix):
                    totals[key] = totals.get(key, 0.0) + amount
        return totals

    def with_pending(self, rows: list[Usage], key_prefix: str) -> list[Usage]:
        amounts = self.amounts(key_prefix) if self.waiting else {}
        return [replace(r, pending=amounts[r.key]) if r.key in amounts else r for r in rows]

    def due(self, *, answered: bool) -> bool:
        """Whether to replay now: right after the store answered, or when the last failure is old enough."""
        return self.waiting and (answered or time.monotonic() - self._failed_at >= REPLAY_PAUSE)

    def replay(self, apply: Callable[[Unsettled], None]) -> None:
        """Apply every pending record in order until one fails; one thread at a time replays."""
        with self._round() as round_:
            for record in round_.records:
                apply(record)
                round_.done.append(record)

    async def areplay(self, apply: Callable[[Unsettled], Awaitable[None]]) -> None:
        with self._round() as round_:
            for record in round_.records:
                await apply(record)
                round_.done.append(record)

    @contextlib.contextmanager
    def _round(self) -> Iterator[_Round]:
        """One replay: the records to apply (none while another thread replays); a `StoreError`
        ends it, and what was applied is marked done."""
        if not self._replaying.acquire(blocking=False):
            yield _Round([])
            return
        try:
            round_ = _Round(self.pending())
            try:
                yield round_
            except StoreError:
                self._failed_at = time.monotonic()
            finally:
                self._forget(round_.done)
        finally:
            self._replaying.release()

    def _forget(self, done: Sequence[Unsettled]) -> None:
        """Mark records replayed; empty the file once nothing in it waits."""
        with self._mutex:
            for record in done:
                self._memory.pop(record.rid, None)
            left = len(self._memory)
            if self.path is not None:
                try:
                    with self._locked() as file:
                        markers = b"".join(
                            (json.dumps({"op": "done", "rid": r.rid}) + "\n").encode() for r in done
                        )
                        file.seek(0, os.SEEK_END)
                        if markers:
                            os.write(file.fileno(), markers)
                        waiting = _read(file)
                        if not waiting:
                            file.truncate(0)  # everything in it was replayed: a crash here loses nothing
                        os.fsync(file.fileno())
                        left += len(waiting)
                except OSError:
                    left += 1  # unreadable now: look again at the next replay
            self.waiting = left > 0

    @contextlib.contextmanager
    def _locked(self) -> Iterator[IO[Any]]:
        assert self.path is not None
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as file:
            if fcntl is not None:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            yield file  # closing the file drops the lock


def _read(file: IO[Any]) -> dict[str, Unsettled]:
    file.seek(0)
    records: dict[str, Unsettled] = {}
    for line in file:
        parsed = _parse(line)
        if isinstance(parsed, str):
            records.pop(parsed, None)
        elif parsed is not None:
            records[parsed.rid] = parsed
    return records


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def default_journal_path(name: str) -> str:
    """Where a store without a file of its own (Redis) journals: the user's state directory."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "cascadepolicy", name + JOURNAL_SUFFIX)


class JournaledStore:
    """Base of the stores that can be unreachable: `settle` and `release` (and their async twins)
    journal what the backend refused and replay it once the backend answers.

    A subclass implements `_apply` and `_aapply`: send one record to the backend, raising
    `StoreError` when it cannot. Its other operations call `_catch_up` (or `_acatch_up`) before
    (`answered=False`) and after (`answered=True`) they reach the backend.
    """

    journal: Journal

    def _apply(self, record: Unsettled) -> None:
        raise NotImplementedError

    async def _aapply(self, record: Unsettled) -> None:
        raise NotImplementedError

    def settle(self, reservation_id: str, actual: Mapping[str, float], *, now: float) -> None:
        self._send(Unsettled("settle", reservation_id, _floats(actual), now))

    def release(self, reservation_id: str, *, now: float) -> None:
        self._send(Unsettled("release", reservation_id, {}, now))

    async def asettle(self, reservation_id: str, actual: Mapping[str, float], *, now: float) -> None:
        await self._asend(Unsettled("settle", reservation_id, _floats(actual), now))

    async def arelease(self, reservation_id: str, *, now: float) -> None:
        await self._asend(Unsettled("release", reservation_id, {}, now))

    def unsettled(self, key_prefix: str = "") -> dict[str, float]:
        """Spend per counter key that is journaled and not yet in the store; needs no connection."""
        return self.journal.amounts(key_prefix)

    def _send(self, record: Unsettled) -> None:
        self._catch_up(answered=False)
        try:
            self._apply(record)
        except StoreError as error:
            raise self.journal.keep(record, error) from error
        self._catch_up(answered=True)

    async def _asend(self, record: Unsettled) -> None:
        await self._acatch_up(answered=False)
        sending = asyncio.ensure_future(self._aapply_or_keep(record))
        try:
            await asyncio.shield(sending)
        except asyncio.CancelledError:
            if not sending.done():
                keep_running(sending)  # the caller went away; the spend is still recorded or journaled
            raise
        await self._acatch_up(answered=True)

    async def _aapply_or_keep(self, record: Unsettled) -> None:
        try:
            await self._aapply(record)
        except StoreError as error:
            raise self.journal.keep(record, error) from error

    def _catch_up(self, *, answered: bool) -> None:
        if self.journal.due(answered=answered):
            self.journal.replay(self._apply)

    async def _acatch_up(self, *, answered: bool) -> None:
        if self.journal.due(answered=answered):
            await self.journal.areplay(self._aapply)


_running: set[asyncio.Future[Any]] = set()


def keep_running(task: asyncio.Future[Any]) -> None:
    """Let `task` finish although nobody awaits it (the loop keeps only a weak reference)."""
    _running.add(task)
    task.add_done_callback(_running.discard)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved: no "never retrieved" noise


def _floats(actual: Mapping[str, float]) -> dict[str, float]:
    # Converted before anything is sent, so a bad figure fails the call, not half a settlement.
    return {key: float(amount) for key, amount in actual.items()}
