"""Threads, real processes and asyncio tasks hammering one user's limits: nothing over, nothing lost."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from cascadepolicy.state import Charge, Store

from . import hammer
from .conftest import ALL_KINDS, spec_for
from .hammer import KEYS, Record
from .specs import StoreSpec

ROUNDS, PER_ROUND = 24, 2
SPAWN = multiprocessing.get_context("spawn")

SHARED_KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=SHARED_KINDS)
def shared_spec(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> StoreSpec:
    return spec_for(request.param, request, tmp_path)


def window_sums(records: Sequence[Record], window: float, amount: str) -> list[float]:
    """For every round t, the final amount admitted in the window (t - window, t]."""
    kept = [r for r in records if r.admitted and not r.released]
    return [
        sum(
            1 if amount == "requests" else getattr(r, amount)
            for r in kept
            if t - window < r.round <= t
        )
        for t in range(ROUNDS)
    ]


def assert_invariants(store: Store, records: Sequence[Record]) -> None:
    admitted = [r for r in records if r.admitted]
    assert len(records) == len({(r.worker, r.round) for r in records}) * PER_ROUND
    assert admitted and len(admitted) < len(records), "the limits must be contended"
    # no window of the stated length ever admitted more than its limit
    assert max(window_sums(records, hammer.REQUEST_WINDOW, "requests")) <= hammer.REQUESTS
    assert max(window_sums(records, hammer.TOKEN_WINDOW, "tokens")) <= hammer.TOKENS
    spent = sum(r.usd for r in records)
    assert spent <= hammer.BUDGET * (1 + 1e-9)
    # the store holds exactly what the workers spent: nothing lost, nothing counted twice
    now = float(ROUNDS - 1)
    usage = {u.key: u for u in store.usage("u-1|", now=now)}

    def used(key: str) -> float:  # a counter with nothing left in its window is forgotten
        return usage[key].used if key in usage else 0.0

    req_key, tok_key, usd_key = KEYS
    assert used(usd_key) == pytest.approx(spent, rel=1e-9)
    assert used(tok_key) == window_sums(records, hammer.TOKEN_WINDOW, "tokens")[-1]
    assert used(req_key) == window_sums(records, hammer.REQUEST_WINDOW, "requests")[-1]
    assert all(u.reserved == 0 for u in usage.values())


def test_eight_threads_never_overshoot(store: Store) -> None:
    records = hammer.hammer_threads(store, threads=8, rounds=ROUNDS, per_round=PER_ROUND)
    assert len(records) == 8 * ROUNDS * PER_ROUND
    assert_invariants(store, records)


def test_four_processes_never_overshoot(shared_spec: StoreSpec, tmp_path: os.PathLike[str]) -> None:
    barrier = SPAWN.Barrier(4)
    outs = [os.path.join(tmp_path, f"worker-{i}.json") for i in range(4)]
    workers = [
        SPAWN.Process(
            target=hammer.hammer_process,
            args=(shared_spec, i, ROUNDS, PER_ROUND, barrier, outs[i]),
        )
        for i in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    records = hammer.load_records(outs)
    assert len(records) == 4 * ROUNDS * PER_ROUND
    store = shared_spec.open()
    try:
        assert_invariants(store, records)
    finally:
        store.close()


def test_a_worker_killed_mid_request_leaves_no_permanent_reservation(
    shared_spec: StoreSpec,
) -> None:
    parent, child = SPAWN.Pipe()
    worker = SPAWN.Process(target=hammer.reserve_then_hang, args=(shared_spec, child))
    worker.start()
    try:
        assert parent.poll(60), "the worker never reserved"
        rid = parent.recv()
        assert rid
    finally:
        worker.kill()  # SIGKILL, between reserve and settle
        worker.join(timeout=30)
    assert worker.exitcode == -9
    req_key, tok_key, usd_key = KEYS
    store = shared_spec.open()  # a fresh client, as after a restart
    try:
        held = {u.key: u for u in store.usage("u-1|", now=2.0)}
        assert {k: held[k].reserved for k in KEYS} == {req_key: 1, tok_key: 500, usd_key: 0.5}
        whole_budget = hammer.charges(100, hammer.BUDGET)
        assert not store.reserve(whole_budget, now=2.0, ttl=10).admitted
        expired_at = 1.0 + hammer.TTL
        after = {u.key: u for u in store.usage("u-1|", now=expired_at)}
        assert (after[usd_key].used, after[usd_key].reserved) == (0, 0)
        assert store.reserve(whole_budget, now=expired_at, ttl=10).admitted
    finally:
        store.close()


# -- asyncio: many tasks, no thread per waiting request -------------------------

TASKS, REQUESTS_PER_TASK = 200, 3


async def hammer_tasks(store: Any) -> tuple[list[float], int, int]:
    """200 tasks reserving a worst case of one budget, then settling below it or releasing.

    Returns every settled amount, how many reservations were refused, and the
    most threads alive at any await point.
    """
    rng = random.Random(7)
    _, _, usd_key = KEYS
    settled: list[float] = []
    refused = 0
    threads = threading.active_count()

    async def one(worker: int) -> None:
        nonlocal refused, threads
        for _ in range(REQUESTS_PER_TASK):
            worst = rng.uniform(0.01, 0.05)
            charge = [Charge(usd_key, hammer.BUDGET, worst, None, hammer.PERIOD_END, "$3 per day")]
            admission = await store.areserve(charge, now=1.0, ttl=hammer.TTL)
            threads = max(threads, threading.active_count())
            if admission.reservation_id is None:
                refused += 1
                continue
            await asyncio.sleep(0)  # the model call
            if rng.random() < 0.1:
                await store.arelease(admission.reservation_id, now=1.0)
            else:
                actual = worst * rng.random()
                await store.asettle(admission.reservation_id, {usd_key: actual}, now=1.0)
                settled.append(actual)
            threads = max(threads, threading.active_count())

    await asyncio.gather(*(one(i) for i in range(TASKS)))
    return settled, refused, threads


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_two_hundred_tasks_never_overspend_one_budget(
    kind: str, request: pytest.FixtureRequest, tmp_path: os.PathLike[str]
) -> None:
    native = spec_for(kind, request, tmp_path).open_native()
    before = threading.active_count()

    async def run() -> tuple[list[float], int, int, list[Any]]:
        try:
            settled, refused, threads = await hammer_tasks(native)
            return settled, refused, threads, await native.ausage("u-1|", now=2.0)
        finally:
            await native.aclose()

    settled, refused, threads, usage = asyncio.run(run())
    assert refused and settled, "the budget must be contended"
    assert sum(settled) <= hammer.BUDGET * (1 + 1e-9)
    [row] = usage
    assert row.used == pytest.approx(sum(settled), rel=1e-9) and row.reserved == 0
    # Waiting requests queue; they hold no thread (SQLite runs the queue on one worker).
    assert threads - before <= 1
