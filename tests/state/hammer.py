"""Workers that hammer one user's limits, for the concurrency tests.

Time is logical: a barrier makes every worker (thread or spawned process)
finish round r before any starts round r+1, and every request of round r runs
at now=r. So the store sees a clock that never goes backwards, as with real
synchronised clocks, while the interleaving inside a round is left to the OS.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Protocol

from cascadepolicy.state import Charge, Store

from .specs import StoreSpec

REQUESTS, REQUEST_WINDOW = 10, 5.0
TOKENS, TOKEN_WINDOW = 6000, 7.0
BUDGET, PERIOD_END = 3.0, 10_000.0
TTL = 100.0
KEYS = ("u-1|free|req|5", "u-1|free|tok|7", "u-1|budget|day:1")
BARRIER_TIMEOUT = 60.0


class Barrier(Protocol):
    def wait(self, timeout: float | None = None) -> int: ...


@dataclass(frozen=True)
class Record:
    worker: int
    round: int
    admitted: bool
    released: bool = False
    tokens: int = 0
    usd: float = 0.0


def charges(tokens: int, usd: float) -> list[Charge]:
    req_key, tok_key, usd_key = KEYS
    return [
        Charge(req_key, REQUESTS, 1, REQUEST_WINDOW, None, "10 requests per 5s"),
        Charge(tok_key, TOKENS, tokens, TOKEN_WINDOW, None, "6000 tokens per 7s"),
        Charge(usd_key, BUDGET, usd, None, PERIOD_END, "$3 per day"),
    ]


def hammer(
    store: Store, worker: int, rounds: int, per_round: int, barrier: Barrier
) -> list[Record]:
    """Random worst-case reservations, settled to smaller actual figures or released."""
    rng = random.Random(1000 + worker)
    _, tok_key, usd_key = KEYS
    records = []
    for round_ in range(rounds):
        barrier.wait(timeout=BARRIER_TIMEOUT)
        now = float(round_)
        for _ in range(per_round):
            worst_tokens, worst_usd = rng.randint(50, 900), rng.uniform(0.02, 0.3)
            admission = store.reserve(charges(worst_tokens, worst_usd), now=now, ttl=TTL)
            rid = admission.reservation_id
            if rid is None:
                records.append(Record(worker, round_, admitted=False))
            elif rng.random() < 0.1:  # the model call failed
                store.release(rid, now=now)
                records.append(Record(worker, round_, admitted=True, released=True))
            else:
                tokens, usd = rng.randint(0, worst_tokens), worst_usd * rng.random()
                store.settle(rid, {tok_key: tokens, usd_key: usd}, now=now)
                records.append(Record(worker, round_, True, tokens=tokens, usd=usd))
    return records


def hammer_threads(store: Store, threads: int, rounds: int, per_round: int) -> list[Record]:
    barrier = threading.Barrier(threads)
    results: list[list[Record]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            results[worker] = hammer(store, worker, rounds, per_round, barrier)
        except BaseException as error:  # surfaced by the test below
            errors.append(error)
            barrier.abort()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return [record for worker in results for record in worker]


def hammer_process(
    spec: StoreSpec, worker: int, rounds: int, per_round: int, barrier: Barrier, out: str
) -> None:
    """Entry point of a spawned worker process: its records go to the file `out`."""
    store = spec.open()
    try:
        records = hammer(store, worker, rounds, per_round, barrier)
    except BaseException:
        barrier_abort = getattr(barrier, "abort", None)
        if barrier_abort is not None:
            barrier_abort()
        raise
    finally:
        store.close()
    with open(out, "w") as file:
        json.dump([asdict(r) for r in records], file)


def load_records(paths: Sequence[str]) -> list[Record]:
    records = []
    for path in paths:
        with open(path) as file:
            records += [Record(**raw) for raw in json.load(file)]
    return records


def reserve_then_hang(spec: StoreSpec, conn: Connection) -> None:
    """Reserve, report the reservation id, and wait forever for a settle that never comes."""
    store = spec.open()
    admission = store.reserve(charges(500, 0.5), now=1.0, ttl=TTL)
    conn.send(admission.reservation_id)
    conn.recv()  # the parent SIGKILLs us here
