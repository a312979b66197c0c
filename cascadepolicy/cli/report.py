"""`cascadepolicy report`: spend, outcomes, escalations, blocks and savings from a decision log; optionally a plot.

Reads the log only (`cascadepolicy.reporting`): no policy, no engine, no litellm.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cascadepolicy.cli.common import EXIT_OK, SubParsers
from cascadepolicy.errors import UsageError

# Below this a log reads in about a second: a bar would only flicker.
PROGRESS_MIN_BYTES = 64 * 1024 * 1024


def _progress(path: Path, wanted: bool) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    """A byte-counting tqdm bar on stderr for a large log read from a terminal; (update, close)."""
    size = path.stat().st_size
    if not (wanted and sys.stderr.isatty() and size >= PROGRESS_MIN_BYTES):
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=size, desc="report", unit="B", unit_scale=True, leave=False, file=sys.stderr)
    return bar.update, bar.close


def run(args: argparse.Namespace) -> int:
    from cascadepolicy.reporting.spend import parse_since, spend_report
    from cascadepolicy.reporting.spend_plot import plot, require_matplotlib
    from cascadepolicy.reporting.spend_text import format_text

    path = Path(args.log)
    if not path.is_file():
        raise UsageError(f"{args.log} is not a file; give the JSONL decision log the policy's audit.decision_log writes")
    if args.plot:
        require_matplotlib()
    since = parse_since(args.since, time.time()) if args.since else None
    update, close = _progress(path, not args.no_progress)
    try:
        report = spend_report(path, by=args.by, since=since, top=args.top, on_bytes=update)
    finally:
        close()
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(format_text(report))
    if args.plot:
        plot(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr if args.format == "json" else sys.stdout)
    return EXIT_OK


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def register(sub: SubParsers) -> None:
    p = sub.add_parser("report", help="spend, outcomes, escalations, block reasons and savings from a decision log")
    p.add_argument("log", metavar="DECISIONS.jsonl", help="the JSONL decision log (the policy's audit.decision_log)")
    p.add_argument("--since", help="only records from then on: a duration back from now (7d, 36h, 90m) "
                                   "or an ISO date/time (UTC unless it gives an offset)")
    p.add_argument("--by", choices=("tier", "user", "model", "route"), default="tier",
                   help="group the table (and the plot's spend) by tier, user, answering model or route (default tier)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--top", type=_positive, default=10, help="how many block reasons to list (default 10)")
    p.add_argument("--plot", metavar="FILE.png", help="draw spend over time per group and outcomes over time "
                                                      "(needs the plot extra: matplotlib)")
    p.add_argument("--no-progress", action="store_true",
                   help=f"no progress bar (shown on a terminal for logs of {PROGRESS_MIN_BYTES // 2**20} MiB or more)")
    p.set_defaults(func=run)
