"""The decision path of `saas.yaml` in one or more checkouts, by process time.

    python benchmarks/decision_path.py [CHECKOUT ...] [--runs 7] [--n 1000]

For each checkout (default: this one; others as `git worktree add /tmp/x REV`),
in a fresh process: everything `engine.complete` does before the first model
call (message checks, input guardrails, routing, worst case, admission
reserve) and the release, on prompts the process has not seen. Printed: the
lowest of `--runs` process-time means over `--n` requests, in µs, which is
steadier than wall time on a shared machine. This is how the cost of each
change to the request path was attributed commit by commit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MEASURE = r"""
import itertools, os, sys, time
root, runs, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, root)
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import cascadepolicy
from cascadepolicy.state import MemoryStore
policy = cascadepolicy.load(root + "/policies/saas.yaml")
prompts = (f"What is the capital of France, and how many people live there? (request {i})" for i in itertools.count())
ask = lambda: [{"role": "user", "content": next(prompts)}]
try:  # the runtime with effects and a transport (this session onwards)
    from cascadepolicy.providers.transport import MockTransport
    from cascadepolicy.runtime.drivers import run
    engine = policy.engine(store=MemoryStore(), decision_log=None, transport=MockTransport({}))
    admitter = engine.admission.admitter if hasattr(engine, "admission") else engine.admitter
    start = getattr(engine, "_new_request", None) or engine._new_run
    def decide():
        request = start(ask(), user="bench", tier="pro", context=None, metadata={"feature": "chat"}, stream=False)
        _, reservation = run(engine._decide(request), engine.io)
        run(admitter.release(reservation, engine.clock()), engine.io)
except ImportError:  # the runtime before it
    engine = policy.engine(store=MemoryStore(), decision_log=None)
    def decide():
        request = engine._new_run(ask(), user="bench", tier="pro", context=None, metadata={"feature": "chat"})
        _, reservation = engine._decide(request)
        engine.admitter.release(reservation, engine.clock())
for _ in range(300):
    decide()
best = float("inf")
for _ in range(runs):
    started = time.process_time()
    for _ in range(n):
        decide()
    best = min(best, (time.process_time() - started) / n * 1e6)
print(f"{best:.1f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", default=[str(ROOT)])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    for checkout in args.checkouts:
        out = subprocess.run([sys.executable, "-c", MEASURE, str(Path(checkout).resolve()), str(args.runs), str(args.n)],
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        print(f"{checkout}: decision path {out} us")


if __name__ == "__main__":
    main()
