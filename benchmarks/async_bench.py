"""Many concurrent async requests through the engine against bare litellm.

    python benchmarks/async_bench.py [--n 400,2000] [--delay 0.5] [--workloads plain,tool,stream] [--json FILE]

A stub OpenAI-compatible server (tests/stub_openai.py, its own process on
127.0.0.1) answers every chat completion after `--delay` seconds. For each N,
N requests are started at once and awaited together, first as bare
`litellm.acompletion` calls to the stub, then through the engine with a
one-step policy (memory store, a daily budget, no guardrails) that calls the
same stub; the two sides alternate per round so machine load hits both
alike. Three workloads (`--workloads`): `plain` through `engine.acomplete`;
`tool`, a request offering a tool that the stub answers with a tool call,
through `engine.acompletion(tools=...)`; `stream`, read chunk by chunk with
`async for` through `engine.acompletion(stream=True)`. Printed per N: the wall time of each side, their ratio (target <= 1.15)
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


TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look something up.",
                                           "parameters": {"type": "object", "properties": {}}}}]


def workloads(engine: Any, litellm: Any, api_base: str) -> dict[str, tuple[Callable[[int], Awaitable[Any]],
                                                                         Callable[[int], Awaitable[Any]]]]:
    """Each workload's two sides: bare litellm and the engine, asking the stub the same thing."""
    bare_kwargs = {"model": "openai/stub", "api_base": api_base, "api_key": "no-key", "messages": MESSAGES,
                   "max_tokens": 50, "timeout": 120}

    async def bare(i: int) -> Any:
        return await litellm.acompletion(**bare_kwargs)

    async def engine_plain(i: int) -> Any:
        result = await engine.acomplete(MESSAGES, user=f"u{i % 50}")
        if result.decision.outcome != "answered":
            raise RuntimeError(f"request {i}: {result.decision.outcome} ({result.reason})")
        return result

    async def bare_tools(i: int) -> Any:
        response = await litellm.acompletion(**bare_kwargs, tools=TOOLS)
        assert response.choices[0].message.tool_calls
        return response

    async def engine_tools(i: int) -> Any:
        response = await engine.acompletion(MESSAGES, user=f"u{i % 50}", tools=TOOLS)
        assert response.choices[0].message.tool_calls
        return response

    async def bare_stream(i: int) -> Any:
        return [chunk async for chunk in await litellm.acompletion(**bare_kwargs, stream=True)]

    async def engine_stream(i: int) -> Any:
        return [chunk async for chunk in await engine.acompletion(MESSAGES, user=f"u{i % 50}", stream=True)]

    return {"plain (acomplete)": (bare, engine_plain), "tool call (acompletion, tools=)": (bare_tools, engine_tools),
            "stream (acompletion, stream=True)": (bare_stream, engine_stream)}


async def run(ns: list[int], rounds: int, api_base: str, chosen: list[str]) -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # as the engine sets it: no price-map download
    import litellm

    litellm.suppress_debug_info = True
    # Both sides queue on litellm's aiohttp pool (500 connections per host) above N=500; its
    # warning per waiting request would bury the figures.
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    os.environ["STUB_API_BASE"] = api_base
    engine = cascadepolicy.loads(POLICY, "async-bench.yaml").engine(store=MemoryStore(), decision_log=None)
    sides = {name: pair for name, pair in workloads(engine, litellm, api_base).items() if name.split()[0] in chosen}
    figures: dict[str, Any] = {}
    for name, (bare, through_engine) in sides.items():
        # Per workload, the bare side first: threads litellm starts (its streaming starts many)
        # outlive their requests and count in every later peak of this process, either side's.
        bare_peaks = {(name, n): (await _timed(n, bare))[1] for n in ns}
        await _timed(20, through_engine)  # warm the engine path: imports, connection pools
        for n in ns:
            bare_walls, engine_walls, engine_peaks = [], [], []
            for _ in range(rounds):
                bare_walls.append((await _timed(n, bare))[0])
                wall, peak = await _timed(n, through_engine)
                engine_walls.append(wall)
                engine_peaks.append(peak)
            figures[f"{name} N={n}"] = {
                "bare_s": statistics.median(bare_walls), "engine_s": statistics.median(engine_walls),
                "ratio": statistics.median(engine_walls) / statistics.median(bare_walls),
                "bare_peak_threads": bare_peaks[(name, n)], "engine_peak_threads": max(engine_peaks),
            }
    engine.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="400,2000", help="comma-separated numbers of concurrent requests")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds the stub server waits before answering")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default="plain,tool,stream", help="comma-separated: plain, tool, stream")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    ns = [int(n) for n in args.n.split(",")]
    api_base, stop = start_stub(args.delay, tool_calls=True)  # a tool call for requests that offer tools
    try:
        figures = asyncio.run(run(ns, args.rounds, api_base, args.workloads.split(",")))
    finally:
        stop()
    print(f"against a stub answering after {args.delay} s; median of {args.rounds} rounds")
    for name, f in figures.items():
        print(f"  {name:42s} bare litellm {f['bare_s']:.2f} s, {f['bare_peak_threads']} threads   "
              f"engine {f['engine_s']:.2f} s, {f['engine_peak_threads']} threads   "
              f"ratio {f['ratio']:.2f} (target <= 1.15; threads <= 16)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
