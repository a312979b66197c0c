"""`cascadepolicy demo`: the math-tutor policy replayed over the bundled GSM8K sample."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cascadepolicy.cli.common import EXIT_OK, SubParsers, guard, load_policy


def run(args: argparse.Namespace) -> int:
    from importlib import resources

    from cascadepolicy.runtime.replay import Replayer, format_report, read_records

    root = Path(__file__).resolve().parents[2]  # the checkout: policies/ beside the package
    policy_path = root / "policies" / "math-tutor.yaml"
    data = resources.files("cascadepolicy").joinpath("data").joinpath("gsm8k_sample.jsonl")
    policy = load_policy(str(policy_path))
    print(f"Replaying {policy_path.name} over the bundled GSM8K sample ({data.name}; MIT-licensed GSM8K questions, "
          "answers recorded by RouteLLM, Apache-2.0)...\n")
    with resources.as_file(data) as path:
        records = read_records(path)
    replayer = Replayer(policy)
    report = replayer.report(replayer.run(records, progress=sys.stderr.isatty()), sweep=True)
    sys.stdout.write(format_report(report))
    return EXIT_OK


def register(sub: SubParsers) -> None:
    p = sub.add_parser("demo", help="replay the math-tutor policy over a bundled GSM8K sample")
    p.set_defaults(func=guard(run))
