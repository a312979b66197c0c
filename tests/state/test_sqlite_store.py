"""What only the SQLite store promises: threads take turns in batches, each op isolated in its batch.

The contract and concurrency suites check the counts; these check the
mechanism: operations queued while another thread holds the turn run together
in one transaction, an op that fails inside a batch undoes only its own writes,
and a forked child gets a working store of its own.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from cascadepolicy.state import SQLiteStore
from cascadepolicy.state.combining import Op

from .test_contract import budget, req, usage_of

WAIT = 30.0  # generous bound on waiting for another thread; never reached when all is well


def test_operations_queued_behind_a_turn_run_as_one_batch(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    batches: list[int] = []
    run_batch = store._combiner._run_batch

    def recorded(batch: list[Op[sqlite3.Connection]]) -> None:
        batches.append(len(batch))
        run_batch(batch)

    store._combiner._run_batch = recorded  # type: ignore[method-assign]
    holding, go_on = threading.Event(), threading.Event()

    def hold_the_turn(db: sqlite3.Connection) -> None:
        holding.set()
        assert go_on.wait(WAIT)

    def write_then_fail(db: sqlite3.Connection) -> None:
        db.execute("UPDATE counters SET total = 1e9")
        raise ValueError("a bug in one operation")

    results: dict[str, Any] = {}

    def call(name: str, fn: Any) -> None:
        try:
            results[name] = fn()
        except Exception as error:
            results[name] = error

    holder = threading.Thread(target=call, args=("hold", lambda: store._combiner.call(hold_the_turn)))
    holder.start()
    assert holding.wait(WAIT)
    queued = [
        threading.Thread(target=call, args=(f"reserve{i}", lambda: store.reserve([req(limit=10), budget(0.1)], now=1, ttl=30)))
        for i in range(3)
    ]
    queued.insert(1, threading.Thread(target=call, args=("fail", lambda: store._combiner.call(write_then_fail))))
    for i, thread in enumerate(queued):
        thread.start()
        for _ in range(int(WAIT * 1000)):  # each one waits in the queue, in this order
            if len(store._combiner._queue) == i + 1:
                break
            threading.Event().wait(0.001)
    go_on.set()
    for thread in [holder, *queued]:
        thread.join(WAIT)
    assert batches[-2:] == [1, 4]  # the held turn, then everything queued behind it at once
    assert isinstance(results["fail"], ValueError)
    assert all(results[f"reserve{i}"].admitted for i in range(3))
    # the failing op's write was undone, the others' were kept
    assert usage_of(store, "u|req", now=2) == (0.0, 3.0)
    assert usage_of(store, "u|usd|day:1", now=2) == pytest.approx((0.0, 0.3))
    store.close()


def _reserve_in_child(store: SQLiteStore) -> None:
    assert store.reserve([req(limit=10)], now=1, ttl=30).admitted
    store.close()


def test_a_forked_child_uses_its_own_connection(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    assert store.reserve([req(limit=10)], now=0, ttl=30).admitted  # the parent's connection is open
    child = multiprocessing.get_context("fork").Process(target=_reserve_in_child, args=(store,))
    child.start()
    child.join(WAIT)
    assert child.exitcode == 0
    assert usage_of(store, "u|req", now=2) == (0.0, 2.0)
    store.close()


def test_close_closes_the_connection_and_the_store_reopens(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    store.reserve([req()], now=0, ttl=30)
    connection = store._conn
    assert connection is not None
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        connection.execute("SELECT 1")
    assert usage_of(store, "u|req", now=1) == (0.0, 1.0)
    store.close()

