"""Many concurrent async requests through the engine against bare litellm.

    python benchmarks/async_bench.py [--n 400,2000] [--delay 0.5] [--json FILE]

A stub OpenAI-compatible server (tests/stub_openai.py, its own process on
127.0.0.1) answers every chat completion after `--delay` seconds. For each N,
N requests are started at once and awaited together, first as bare
`litellm.acompletion` calls to the stub, then through `engine.acomplete` with a
one-step policy (memory store, a daily budget, no guardrails) that calls the
same stub; the two sides alternate per round so machine load hits both
alike. Printed per N: the wall time of each side, their ratio (target <= 1.15)
and the peak number of threads of this process while the requests were in
flight (target <= 16), sampled on the event loop every 5 ms; the bare side's
peak is taken before the engine is built. Above N = 500 both sides wait on
litellm's own connection pool (500 per host), so the larger N measures that
queue as much as the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from stub_openai import start_stub  # noqa: E402

import cascadepolicy  # noqa: E402
from cascadepolicy.state import MemoryStore  # noqa: E402

POLICY = """
version: 1
name: async-bench
models:
  stub:
    model: openai/stub
    api_base: ${STUB_API_BASE}
    max_tokens: 50
    timeout: 120s
    pricing: {input_per_million: 1.0, output_per_million: 2.0}
default_tier: all
tiers:
  all:
    budget: {usd: 1000000, per: day}
routes:
  - default: {model: stub}
"""
MESSAGES = [{"role": "user", "content": "Say something short."}]


async def _peak_threads(stop: asyncio.Event) -> int:
    peak = threading.active_count()
    while not stop.is_set():
        peak = max(peak, threading.active_count())
        await asyncio.sleep(0.005)
    return peak


async def _timed(n: int, one: Callable[[int], Awaitable[Any]]) -> tuple[float, int]:
    stop = asyncio.Event()
    sampler = asyncio.create_task(_peak_threads(stop))
    started = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    wall = time.perf_counter() - started
    stop.set()
    peak = await sampler
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise RuntimeError(f"{len(failures)} of {n} requests failed; first: {failures[0]!r}")
    return wall, peak


async def run(ns: list[int], rounds: int, api_base: str) -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # as the engine sets it: no price-map download
    import litellm

    litellm.suppress_debug_info = True
    # Both sides queue on litellm's aiohttp pool (500 connections per host) above N=500; its
    # warning per waiting request would bury the figures.
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    os.environ["STUB_API_BASE"] = api_base
    engine = cascadepolicy.loads(POLICY, "async-bench.yaml").engine(store=MemoryStore(), decision_log=None)

    async def bare(i: int) -> Any:
        return await litellm.acompletion(model="openai/stub", api_base=api_base, api_key="no-key",
                                         messages=MESSAGES, max_tokens=50, timeout=120)

    async def through_engine(i: int) -> Any:
        result = await engine.acomplete(MESSAGES, user=f"u{i % 50}")
        if result.decision.outcome != "answered":
            raise RuntimeError(f"request {i}: {result.decision.outcome} ({result.reason})")
        return result

    # Bare calls first, before the engine exists: threads the engine starts outlive
    # its requests and would count in the bare side's peak afterwards.
    bare_peaks = {n: (await _timed(n, bare))[1] for n in ns}
    await _timed(20, through_engine)  # warm the engine path: imports, connection pools
    figures: dict[str, Any] = {}
    for n in ns:
        bare_walls, engine_walls, engine_peaks = [], [], []
        for _ in range(rounds):
            bare_walls.append((await _timed(n, bare))[0])
            wall, peak = await _timed(n, through_engine)
            engine_walls.append(wall)
            engine_peaks.append(peak)
        figures[str(n)] = {
            "bare_s": statistics.median(bare_walls), "engine_s": statistics.median(engine_walls),
            "ratio": statistics.median(engine_walls) / statistics.median(bare_walls),
            "bare_peak_threads": bare_peaks[n], "engine_peak_threads": max(engine_peaks),
        }
    engine.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="400,2000", help="comma-separated numbers of concurrent requests")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds the stub server waits before answering")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    ns = [int(n) for n in args.n.split(",")]
    api_base, stop = start_stub(args.delay)
    try:
        figures = asyncio.run(run(ns, args.rounds, api_base))
    finally:
        stop()
    print(f"{len(ns)} workloads against a stub answering after {args.delay} s; median of {args.rounds} rounds")
    for n, f in figures.items():
        print(f"  N={n:>5}  bare litellm.acompletion {f['bare_s']:.2f} s, {f['bare_peak_threads']} threads   "
              f"engine.acomplete {f['engine_s']:.2f} s, {f['engine_peak_threads']} threads   "
              f"ratio {f['ratio']:.2f} (target <= 1.15; threads <= 16)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
