"""Admission + settlement latency and throughput of each state store.

    python benchmarks/store_bench.py [--json FILE] [--quick]

One operation is what the engine does per request: `reserve` three charges (a
request window, a token window, a daily USD budget) and `settle` two of them.
Each store runs single-threaded, with 4 processes sharing it (the memory store
cannot be shared: its 4 processes each own one), and with 16 threads of one
process sharing one store object: back to back (`16_threads`, saturated: every
thread queues behind the others), and with a simulated model call of
CALL_SECONDS (±50%, at random) between reserve and settle (`16_threads_call`,
16 requests in flight; the call is not counted in the latency). A real `redis-server` is
started on 127.0.0.1 via tests/redis_server.py. Figures are also printed as
ratios against baselines measured in the same run (an empty Python function
call, a bare dict update), because these machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from redis_server import RedisUnavailable, start_redis_server  # noqa: E402

from cascadepolicy.state import Charge, MemoryStore, SQLiteStore, Store  # noqa: E402

# (store, mode) -> (figure, at most µs); other modes have no target
TARGETS = {
    ("memory", "single"): ("median_us", 20.0),
    ("sqlite", "single"): ("median_us", 1000.0),
    ("redis", "single"): ("median_us", 1000.0),
    ("sqlite", "16_threads"): ("p99_us", 5000.0),
}
THREADS = 16
CALL_SECONDS = 0.05
KEYS = ("bench:u-1|pro|req|3600", "bench:u-1|pro|tok|60", "bench:u-1|budget|day:1")


def open_bench_store(kind: str, location: str | None) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        assert location is not None
        return SQLiteStore(location)
    from cascadepolicy.state.redis_store import RedisStore

    assert location is not None
    return RedisStore(location, key_prefix="bench:")


def request_charges(i: int) -> list[Charge]:
    req, tok, usd = KEYS
    return [
        Charge(req, 1e12, 1, 3600.0, None, "requests per hour"),
        Charge(tok, 1e12, 800 + i % 200, 60.0, None, "tokens per minute"),
        Charge(usd, 1e12, 0.02, None, 4e9, "USD per day"),
    ]


def run_ops(
    store: Store, n: int, clock_offset: float, call: float = 0.0
) -> tuple[list[int], float, float]:
    """n reserve+settle operations (with `call` seconds between them, not counted);
    returns per-op ns, wall start and end (epoch s)."""
    _, tok, usd = KEYS
    latencies = []
    jitter = random.Random()
    start = time.time()
    for i in range(n):
        now = clock_offset + i * 0.001
        charges = request_charges(i)
        t0 = time.perf_counter_ns()
        admission = store.reserve(charges, now=now, ttl=120.0)
        assert admission.reservation_id is not None
        if call:
            t1 = time.perf_counter_ns()
            time.sleep(call * jitter.uniform(0.5, 1.5))  # arrivals spread out, as real traffic's
            t0 += time.perf_counter_ns() - t1
        store.settle(admission.reservation_id, {tok: 500, usd: 0.01}, now=now)
        latencies.append(time.perf_counter_ns() - t0)
    return latencies, start, time.time()


def process_worker(kind: str, location: str | None, n: int, barrier: Any, out: Any) -> None:
    store = open_bench_store(kind, location)
    run_ops(store, 50, 0.0)  # warm up: connections, scripts, page cache
    barrier.wait()
    # a shared clock: every process stamps its requests with the wall time
    out.put(run_ops(store, n, time.time()))
    store.close()


def baseline_ns(fn: Callable[[], None], n: int = 200_000) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - t0) / n


def baselines() -> dict[str, float]:
    def empty() -> None:
        pass

    counts: dict[str, float] = {}

    def dict_update() -> None:
        counts["k"] = counts.get("k", 0.0) + 1.0

    return {"empty_call_ns": baseline_ns(empty), "dict_update_ns": baseline_ns(dict_update)}


def summarise(latencies: list[int], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "ops": len(latencies),
        "median_us": statistics.median(ordered) / 1000,
        "p99_us": ordered[int(len(ordered) * 0.99) - 1] / 1000,
        "throughput_ops_s": len(latencies) / seconds,
    }


def bench_single(kind: str, location: str | None, n: int) -> dict[str, float]:
    store = open_bench_store(kind, location)
    try:
        run_ops(store, 50, 0.0)
        latencies, start, end = run_ops(store, n, time.time())
    finally:
        store.close()
    return summarise(latencies, end - start)


def bench_processes(kind: str, location: str | None, n: int, procs: int = 4) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    workers = [
        ctx.Process(target=process_worker, args=(kind, location, n // procs, barrier, out))
        for _ in range(procs)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    latencies = [ns for lat, _, _ in results for ns in lat]
    seconds = max(end for _, _, end in results) - min(start for _, start, _ in results)
    return summarise(latencies, seconds)


def bench_threads(
    kind: str, location: str | None, n: int, call: float = 0.0, threads: int = THREADS
) -> dict[str, float]:
    """`threads` threads of this process sharing one store, n operations in all."""
    store = open_bench_store(kind, location)
    barrier = threading.Barrier(threads)
    results: list[tuple[list[int], float, float]] = []

    def worker() -> None:
        run_ops(store, 20, 0.0)  # warm up
        barrier.wait()
        results.append(run_ops(store, n // threads, time.time(), call))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    try:
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    finally:
        store.close()
    latencies = [ns for lat, _, _ in results for ns in lat]
    seconds = max(end for _, _, end in results) - min(start for _, start, _ in results)
    return summarise(latencies, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--quick", action="store_true", help="fewer operations (a smoke run)")
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    sizes = {
        "memory": int(40_000 * scale),
        "sqlite": int(4_000 * scale),
        "redis": int(4_000 * scale),
    }

    report: dict[str, Any] = {
        "baselines": baselines(),
        "stores": {},
        "targets_us": {f"{kind} {mode} {figure}": at_most for (kind, mode), (figure, at_most) in TARGETS.items()},
    }
    tmp = tempfile.mkdtemp(prefix="store-bench-")
    locations: dict[str, str | None] = {"memory": None, "sqlite": os.path.join(tmp, "bench.db")}
    stop: Callable[[], None] | None = None
    try:
        locations["redis"], stop = start_redis_server()
    except RedisUnavailable as error:
        print(f"skipping redis: {error}", file=sys.stderr)
    try:
        for kind, location in locations.items():
            if kind == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(location + suffix).unlink(missing_ok=True)  # type: ignore[operator]
            report["stores"][kind] = {
                "single": bench_single(kind, location, sizes[kind]),
                "4_processes": bench_processes(kind, location, sizes[kind]),
                "16_threads": bench_threads(kind, location, sizes[kind]),
                # each thread waits CALL_SECONDS per op: fewer ops keep the run short
                "16_threads_call": bench_threads(kind, location, min(sizes[kind], int(1600 * scale)), CALL_SECONDS),
            }
    finally:
        if stop is not None:
            stop()

    base = report["baselines"]
    print(
        f"baselines: empty call {base['empty_call_ns']:.0f} ns,"
        f" dict update {base['dict_update_ns']:.0f} ns"
    )
    header = (
        f"{'store':8} {'mode':16} {'median µs':>10} {'p99 µs':>9} {'ops/s':>9}"
        f" {'x empty call':>13} {'x dict upd':>11}  target"
    )
    print(header)
    for kind, modes in report["stores"].items():
        for mode, fig in modes.items():
            fig["x_empty_call"] = fig["median_us"] * 1000 / base["empty_call_ns"]
            fig["x_dict_update"] = fig["median_us"] * 1000 / base["dict_update_ns"]
            target = ""
            if (kind, mode) in TARGETS:
                figure, at_most = TARGETS[kind, mode]
                fig["meets_target"] = fig[figure] <= at_most
                target = f"{figure.removesuffix('_us')} ≤ {at_most:.0f} µs {'✓' if fig['meets_target'] else '✗'}"
            print(
                f"{kind:8} {mode:16} {fig['median_us']:10.1f} {fig['p99_us']:9.1f}"
                f" {fig['throughput_ops_s']:9.0f} {fig['x_empty_call']:13.0f}"
                f" {fig['x_dict_update']:11.0f}  {target}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
