"""Validate time of hostile YAML shapes, as a ratio to an ordinary policy of the same size.

    python benchmarks/parse_bench.py [--size BYTES] [--repeat 3] [--json FILE]

Each shape (many merge keys, aliases of aliases, deep nesting, many keys,
long scalars, many documents, and documents just inside each parsing limit;
see tests/hostile_yaml.py) and an ordinary, valid policy of the same size
(models and tiers with comments and descriptions) are validated in this
process with `check_text`, as `cascadepolicy validate` does, interleaved
`--repeat` times; the median of each is printed with its ratio to the
ordinary policy's median, because these machines are noisy. Bounded parsing
means no ratio is much above 1: the shapes are refused at the first event
past a limit, or cost what ordinary YAML of their size costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hostile_yaml import all_shapes  # noqa: E402

from cascadepolicy.loading.loader import check_text  # noqa: E402
from cascadepolicy.loading.source import MAX_FILE_BYTES  # noqa: E402


def validate(text: str) -> tuple[float, str]:
    start = time.perf_counter()
    result = check_text(text, "bench.yaml")
    elapsed = time.perf_counter() - start
    errors = sorted({d.code for d in result.diagnostics if d.is_error})
    return elapsed, ", ".join(errors) or "valid"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=MAX_FILE_BYTES - 4096, help="bytes per document (default: just under the 1 MiB cap)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per shape (default 3)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()

    shapes = dict(all_shapes(args.size))
    times: dict[str, list[float]] = {name: [] for name in shapes}
    outcomes: dict[str, str] = {}
    for _ in range(args.repeat):  # interleaved, so drifts in machine load hit every shape alike
        for name, text in shapes.items():
            elapsed, outcomes[name] = validate(text)
            times[name].append(elapsed)
    baseline = statistics.median(times["ordinary policy"])
    rows = []
    print(f"validate time, median of {args.repeat}, against an ordinary policy of about {args.size:,} bytes")
    print(f"{'shape':28} {'bytes':>9} {'seconds':>8} {'ratio':>6}  outcome")
    for name, text in shapes.items():
        median = statistics.median(times[name])
        rows.append({"shape": name, "bytes": len(text.encode()), "seconds": median, "ratio": median / baseline, "outcome": outcomes[name]})
        print(f"{name:28} {len(text.encode()):>9,} {median:>8.3f} {median / baseline:>6.2f}  {outcomes[name]}")
    worst = max((r for r in rows if r["shape"] != "ordinary policy"), key=lambda r: r["ratio"])
    print(f"worst ratio: {worst['ratio']:.2f} ({worst['shape']})")
    if args.json:
        Path(args.json).write_text(json.dumps({"size": args.size, "repeat": args.repeat, "rows": rows}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
