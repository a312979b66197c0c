"""Settlements are never lost: a store that cannot be reached journals them and replays them.

SQLite is made unavailable for real (another connection holds the write lock
past `busy_timeout`), Redis by stopping a real `redis-server` and starting it
again on the same port and data directory. Each case runs through the sync
API and through the async twin.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import start_redis_server

from cascadepolicy.errors import StoreError
from cascadepolicy.state import SQLiteStore, journal
from cascadepolicy.state.journal import Journal, Unsettled

from .specs import ThroughAsync
from .test_contract import budget, req, usage_of

USD = "u|usd|day:1"


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def through(api: str, native: Any) -> Any:
    return ThroughAsync(native) if api == "async" else native


@contextlib.contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another connection holds the write lock: the store's transactions time out."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.execute("COMMIT")
        blocker.close()


def test_a_settlement_sqlite_cannot_take_is_journaled_then_replayed(tmp_path: Path, api: str) -> None:
    db = tmp_path / "state.db"
    native = SQLiteStore(db, busy_timeout=0.2)
    store = through(api, native)
    try:
        rid = store.reserve([req(limit=3), budget(0.5)], now=0, ttl=30).reservation_id
        with sqlite_locked(db):
            with pytest.raises(StoreError, match=r"locked; the settlement .* is journaled in .*state\.db\.unsettled\.jsonl"):
                store.settle(rid, {USD: 0.3}, now=1)
            assert native.unsettled("u|") == {USD: 0.3}
            with pytest.raises(StoreError):
                store.reserve([req(limit=3)], now=2, ttl=30)  # still locked: fail closed
        # Back, but nothing replayed yet: usage shows the gap.
        [row] = [u for u in store.usage("u|usd", now=2)]
        assert (row.used, row.reserved, row.pending) == (0.0, 0.5, 0.3)
        assert row.remaining == pytest.approx(1.0 - 0.5 - 0.3)
        # The next operation replays it.
        assert store.reserve([req(limit=3)], now=3, ttl=30).admitted
        assert usage_of(store, USD, now=4) == pytest.approx((0.3, 0.0))
        assert native.unsettled() == {} and (tmp_path / "state.db.unsettled.jsonl").stat().st_size == 0
    finally:
        store.close()


def test_a_release_sqlite_cannot_take_is_replayed_too(tmp_path: Path, api: str) -> None:
    db = tmp_path / "state.db"
    store = through(api, SQLiteStore(db, busy_timeout=0.2))
    try:
        rid = store.reserve([req(limit=1)], now=0, ttl=300).reservation_id
        with sqlite_locked(db), pytest.raises(StoreError, match="the release .* is journaled"):
            store.release(rid, now=1)
        assert store.reserve([budget(0.1)], now=2, ttl=30).admitted  # replays the release
        assert store.reserve([req(limit=1)], now=3, ttl=30).admitted  # the request it held is free
    finally:
        store.close()


def test_a_replay_repeated_after_a_crash_charges_once(tmp_path: Path, api: str) -> None:
    db = tmp_path / "state.db"
    journal_file = tmp_path / "state.db.unsettled.jsonl"
    first = SQLiteStore(db, busy_timeout=0.2)
    rid = first.reserve([req(limit=3), budget(0.5)], now=0, ttl=30).reservation_id
    assert rid
    with sqlite_locked(db), pytest.raises(StoreError):
        first.settle(rid, {USD: 0.3}, now=1)
    kept = journal_file.read_bytes()
    assert json.loads(kept) == {"op": "settle", "rid": rid, "actual": {USD: 0.3}, "now": 1}
    first.reserve([req(limit=3)], now=2, ttl=30)  # replays, and empties the journal
    first.close()
    assert journal_file.stat().st_size == 0
    journal_file.write_bytes(kept)  # as if the process died before marking it replayed
    second = through(api, SQLiteStore(db, busy_timeout=0.2))  # a new process finds it
    try:
        assert second.usage(USD, now=3)[0].pending == 0.3
        second.reserve([req(limit=3)], now=3, ttl=30)
        assert usage_of(second, USD, now=4) == pytest.approx((0.3, 0.0))  # once, not 0.6
    finally:
        second.close()


def test_an_unwritable_journal_keeps_records_in_memory(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    (tmp_path / "a-file").write_text("")
    store = SQLiteStore(db, busy_timeout=0.2, journal=tmp_path / "a-file" / "unsettled.jsonl")
    try:
        rid = store.reserve([budget(0.5)], now=0, ttl=30).reservation_id
        assert rid
        with sqlite_locked(db), pytest.raises(StoreError, match="kept in this process's memory .*cannot be written"):
            store.settle(rid, {USD: 0.25}, now=1)
        assert store.unsettled() == {USD: 0.25}
        store.reserve([req()], now=2, ttl=30)
        assert usage_of(store, USD, now=3) == (0.25, 0.0) and store.unsettled() == {}
    finally:
        store.close()


def test_the_journal_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "MAX_UNSETTLED", 2)
    kept = Journal(str(tmp_path / "unsettled.jsonl"))
    failure = StoreError("the store is down")
    messages = [str(kept.keep(Unsettled("settle", f"r{i}", {USD: 0.1}, 1.0), failure)) for i in range(3)]
    assert ["journaled in" in m for m in messages] == [True, True, False]
    assert messages[2].endswith("is lost: 2 unsettled records already wait")
    assert [r.rid for r in kept.pending()] == ["r0", "r1"]


def test_torn_and_foreign_lines_in_a_journal_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "unsettled.jsonl"
    good = Unsettled("settle", "r1", {USD: 0.2}, 5.0)
    path.write_bytes(b'{"op": "settle", "rid": 7}\n[]\n' + good.line() + b'{"op": "settle", "rid": "r2", "act')
    assert Journal(str(path)).pending() == [good]


def test_the_usage_command_shows_pending_spend(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    policy = tmp_path / "p.yaml"
    policy.write_text(
        f"version: 1\nname: p\nmodels: {{m: {{model: gpt-4o-mini, max_tokens: 5}}}}\n"
        f"store: {{kind: sqlite, path: {db}}}\nroutes: [{{default: {{model: m}}}}]\n"
    )
    key = "p|user:u|budget"
    store = SQLiteStore(db)
    store.reserve([budget(0.5, key=key, end=4e9)], now=time.time(), ttl=3600)
    store.close()
    Journal(f"{db}.unsettled.jsonl").keep(Unsettled("settle", "r9", {key: 0.25}, 1.0), StoreError("down"))
    usage = [sys.executable, "-m", "cascadepolicy", "usage", str(policy), "--user", "u"]
    out = subprocess.run([*usage, "--format", "json"], capture_output=True, text=True, cwd=tmp_path, check=True)
    [row] = json.loads(out.stdout)
    assert (row["used"], row["reserved"], row["pending"], row["remaining"]) == (0, 0.5, 0.25, 0.25)
    out = subprocess.run(usage, capture_output=True, text=True, cwd=tmp_path, check=True)
    assert "pending 0.25 (journaled" in out.stdout


# -- Redis stopped and restarted -------------------------------------------------


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A redis-server that keeps its data across a stop and a start on the same port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tmp_path / "redis-data"
    workdir.mkdir()
    running: list[Any] = []

    def start() -> str:
        url, stop = start_redis_server(port=port, workdir=str(workdir))
        running.append(stop)
        return url

    def stop() -> None:
        running.pop()()

    url = start()
    try:
        yield url, (start, stop)
    finally:
        for stop_one in running:
            stop_one()


@pytest.mark.redis
def test_a_settlement_made_while_redis_is_down_is_replayed_after_restart(
    restartable_redis: tuple[str, Any], tmp_path: Path, api: str, redis_url: str
) -> None:
    from cascadepolicy.state.redis_store import RedisStore

    url, (start, stop) = restartable_redis
    native = RedisStore(url, key_prefix="j:", journal=str(tmp_path / "unsettled.jsonl"), socket_timeout=1)
    store = through(api, native)
    try:
        rid = store.reserve([req(limit=3), budget(0.5)], now=0, ttl=30).reservation_id
        stop()
        with pytest.raises(StoreError, match=r"Redis state store .* failed: .*the settlement .* is journaled in"):
            store.settle(rid, {USD: 0.3}, now=1)
        assert native.unsettled() == {USD: 0.3}
        with pytest.raises(StoreError):
            store.reserve([req(limit=3)], now=2, ttl=30)  # still down: fail closed
        start()
        assert store.reserve([req(limit=3)], now=3, ttl=30).admitted
        assert usage_of(store, USD, now=4) == pytest.approx((0.3, 0.0))
        assert usage_of(store, "u|req", now=4) == (1.0, 1.0)  # the data survived the restart
        assert native.unsettled() == {} and os.path.getsize(tmp_path / "unsettled.jsonl") == 0
    finally:
        store.close()
