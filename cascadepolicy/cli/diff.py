"""`cascadepolicy diff`: the behaviour changes between two versions of a policy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cascadepolicy.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    SubParsers,
    add_allow_outside,
    guard,
    load_policy,
)
from cascadepolicy.errors import UsageError


def run(args: argparse.Namespace) -> int:
    from cascadepolicy.compile.diff import diff_policies, format_diff
    from cascadepolicy.scrub import Masker

    policies = []
    for path in (args.old, args.new):
        if not Path(path).is_file():
            raise UsageError(f"{path} does not exist")
        policies.append(load_policy(path, args.allow_outside))
    report = diff_policies(policies[0], policies[1])
    masker = Masker.of(*(p.source_map for p in policies))  # values from the environment show as their references
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps(masker.data(report.to_dict()), indent=2, default=str) + "\n")
    else:
        sys.stdout.write(masker.text(format_diff(report)))
    if args.exit_code and not report.empty:
        return EXIT_FAILED
    return EXIT_OK


def register(sub: SubParsers) -> None:
    p = sub.add_parser("diff", help="behaviour changes between two versions of a policy")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when the behaviour changed")
    add_allow_outside(p)
    p.set_defaults(func=guard(run))
