"""`cascadepolicy replay`: a recorded-responses file through a policy, offline; a cost/quality report.

Given a decision log instead (the engine's JSONL records, with `audit.include_text`), the policy is a
candidate and the report says how its routes, blocks and worst-case spend differ from the recorded
decisions (`runtime.shadow_replay`); the file's first record tells which.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cascadepolicy.cli.common import (
    EXIT_OK,
    SubParsers,
    add_allow_outside,
    guard,
    json_arg,
    load_policy,
)
from cascadepolicy.errors import UsageError

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy


def run(args: argparse.Namespace) -> int:
    from cascadepolicy.runtime.replay import Replayer, format_report, plot, read_records
    from cascadepolicy.runtime.shadow_replay import is_decision_log

    policy = load_policy(args.policy, args.allow_outside)
    if is_decision_log(args.data):
        return _decision_log(policy, args)
    records = read_records(args.data, limit=args.limit)
    replayer = Replayer(policy, cascade=args.cascade, tier=args.tier, context=json_arg(args.context, "--context"),
                        interval=args.interval)
    outcomes = replayer.run(records, progress=not args.no_progress and sys.stderr.isatty())
    report = replayer.report(outcomes, sweep=args.sweep or bool(args.plot))
    sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n" if args.format == "json" else format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    if args.plot:
        plot(report, args.plot)
        print(f"wrote {args.plot}")
    return EXIT_OK


def _decision_log(policy: Policy, args: argparse.Namespace) -> int:
    from cascadepolicy.runtime.shadow_replay import ShadowReplayer, format_shadow_report

    for flag, given in (("--cascade", args.cascade), ("--sweep", args.sweep), ("--plot", args.plot)):
        if given:
            raise UsageError(f"{flag} is for a recorded-responses file; {args.data} is a decision log, replayed "
                             "through the policy as a candidate (routes, blocks and worst-case spend)")
    replayer = ShadowReplayer(policy, context=json_arg(args.context, "--context"), tier=args.tier)
    report = replayer.run(args.data, limit=args.limit, progress=not args.no_progress and sys.stderr.isatty())
    text = json.dumps(report.to_dict(), indent=2) + "\n"
    sys.stdout.write(text if args.format == "json" else format_shadow_report(report, args.data))
    if args.json:
        Path(args.json).write_text(text, encoding="utf-8")
    return EXIT_OK


def register(sub: SubParsers) -> None:
    p = sub.add_parser("replay", help="run a recorded-responses file through a policy (cost/quality report), or a "
                                      "decision log through a candidate policy (route, block and spend changes)")
    p.add_argument("policy")
    p.add_argument("data", help="JSONL file of {messages, responses: {model: {content, correct|score}}}, or a decision "
                                "log written with audit.include_text")
    p.add_argument("--cascade", help="cascade whose first/last models are the baselines (default: the default route's)")
    p.add_argument("--tier", help="tier of the replayed requests")
    p.add_argument("--context", help="request context as a JSON object")
    p.add_argument("--limit", type=int, help="replay only the first N records")
    p.add_argument("--interval", type=float, default=60.0, help="simulated seconds between recorded requests (default 60)")
    p.add_argument("--sweep", action="store_true", help="vary the first step's threshold; report CPT(50%%), CPT(80%%), APGR")
    p.add_argument("--plot", metavar="FILE.png", help="draw the cost/quality curve (implies --sweep)")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--format", choices=("text", "json"), default="text", help="the report printed (default text)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_allow_outside(p)
    p.set_defaults(func=guard(run))
