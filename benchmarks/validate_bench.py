"""Cold-start cost of `cascadepolicy validate`, as a ratio to a bare interpreter.

Each run is a fresh `python -m cascadepolicy validate` process, which is what
CI and pre-commit hooks pay. Timings on shared machines are noisy, so the
script reports medians and the ratio to `python -c pass` measured in the
same run, interleaved, rather than absolute numbers alone.

    python benchmarks/validate_bench.py [--repeat 15] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLICIES = sorted(p for p in (ROOT / "policies").glob("*.yaml") if not p.name.endswith("_test.yaml"))
ENV = {**os.environ, "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}


def wall(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per case (default 15)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="validate-bench-") as tmp:
        many = Path(tmp) / "many"
        many.mkdir()
        for index in range(100):
            source = POLICIES[index % len(POLICIES)]
            shutil.copy(source, many / f"{index:03d}-{source.name}")
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "validate 1 file": [sys.executable, "-m", "cascadepolicy", "validate", str(ROOT / "policies" / "saas.yaml")],
            "validate 100 files": [sys.executable, "-m", "cascadepolicy", "validate", str(many)],
        }
        for argv in cases.values():  # warm the OS file cache and .pyc files
            wall(argv, ROOT)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeat):  # interleaved, so drifts in machine load hit every case alike
            for name, argv in cases.items():
                times[name].append(wall(argv, ROOT))

    base = statistics.median(times["python -c pass"])
    rows = []
    for name, samples in times.items():
        median = statistics.median(samples)
        rows.append({"case": name, "median_s": round(median, 4), "min_s": round(min(samples), 4),
                     "max_s": round(max(samples), 4), "ratio_to_python": round(median / base, 2), "runs": len(samples)})
    print(f"{'case':<22}{'median':>10}{'min':>10}{'max':>10}{'x python':>10}")
    for row in rows:
        print(f"{row['case']:<22}{row['median_s'] * 1000:>8.0f}ms{row['min_s'] * 1000:>8.0f}ms"
              f"{row['max_s'] * 1000:>8.0f}ms{row['ratio_to_python']:>10.1f}")
    per_file = (statistics.median(times["validate 100 files"]) - statistics.median(times["validate 1 file"])) / 99
    print(f"marginal cost per extra file: {per_file * 1000:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"python": sys.version.split()[0], "rows": rows,
                                               "marginal_per_file_s": round(per_file, 5)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
