"""The hostile policies of issue 11 through `cascadepolicy validate`, each timed against an ordinary one.

    python benchmarks/hostile_shapes.py

Each shape is written into a temporary repository and validated by the CLI in
a subprocess, as CI would; printed are the exit code, the wall time, its ratio
to validating an ordinary policy in the same run, and the first diagnostic.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = "version: 1\nname: s\nmodels: {m: {model: gpt-4o-mini}}\n"
DEFAULT_ROUTE = "routes: [{default: {model: m}}]\n"


def merge_keys(count: int) -> str:
    lines = ["x-a: &a {k: 1}", "context:"] + [f"  f{i}: {{<<: *a, v: 2}}" for i in range(count)]
    return BASE + DEFAULT_ROUTE + "\n".join(lines) + "\n"


SHAPES = {
    "ordinary": BASE + DEFAULT_ROUTE,
    "pow-const": BASE + 'routes: [{when: "4000000**4000000 > 1", model: m}, {default: {model: m}}]\n',
    "pow-request": BASE + 'routes: [{when: "(request.tokens+3999990)**4000000 > 1", model: m}, {default: {model: m}}]\n',
    "format-width": BASE + "routes: [{when: \"len('%0999999999d' % request.tokens) > 1\", model: m}, {default: {model: m}}]\n",
    "merge-5000": merge_keys(5000),
    "merge-10000": merge_keys(10000),
    "extends-nul": BASE + DEFAULT_ROUTE + 'extends: "a\\0b"\n',
    "extends-long": BASE + DEFAULT_ROUTE + "extends: " + "a" * 6000 + "\n",
    "extends-abs": BASE + DEFAULT_ROUTE + "extends: /etc/passwd\n",
    "extends-up": BASE + DEFAULT_ROUTE + "extends: ../../../../etc/hostname\n",
    "per-overflow": BASE + DEFAULT_ROUTE + "default_tier: free\n"
                    "tiers: {free: {rate: [{requests: 1, per: 99999999999999999999w}]}}\n",
}


def validate(path: Path) -> tuple[int, float, str]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cascadepolicy", "validate", str(path)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return proc.returncode, seconds, lines[0] if lines else ""


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        repo = Path(name)
        (repo / ".git").mkdir()
        results = {}
        for shape, text in SHAPES.items():
            path = repo / f"{shape}.yaml"
            path.write_text(text, encoding="utf-8")
            results[shape] = validate(path)
    baseline = results["ordinary"][1]
    print(f"validate of an ordinary policy: {baseline:.2f} s (the ratios' baseline)")
    for shape, (code, seconds, first) in results.items():
        print(f"  {shape:13s} exit {code}  {seconds:5.2f} s  ratio {seconds / baseline:4.2f}  {first[:110]}")


if __name__ == "__main__":
    main()
