"""`cascadepolicy validate`: check policy files (files, directories, globs) and report every diagnostic."""

from __future__ import annotations

import argparse
import sys

from cascadepolicy.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    SubParsers,
    add_allow_outside,
    expand_paths,
)
from cascadepolicy.errors import UsageError


def run(args: argparse.Namespace) -> int:
    from cascadepolicy.cli.reporters import report_github, report_json, report_text
    from cascadepolicy.loading.loader import check_file

    files = expand_paths(args.paths)
    if not files:
        raise UsageError("no policy files found in " + ", ".join(args.paths))
    results = [check_file(path, allow_outside=args.allow_outside) for path in files]
    if args.format == "json":
        report_json(results, sys.stdout)
    elif args.format == "github":
        report_github(results, sys.stdout)
    else:
        report_text(results, sys.stdout, verbose=args.verbose)
    failed = any(r.errors for r in results) or (args.strict and any(r.warnings for r in results))
    return EXIT_FAILED if failed else EXIT_OK


def register(sub: SubParsers) -> None:
    p = sub.add_parser("validate", help="check policy files (files, directories, globs)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", choices=("text", "json", "github"), default="text")
    p.add_argument("--strict", action="store_true", help="fail on warnings too")
    p.add_argument("-v", "--verbose", action="store_true", help="list clean files too")
    add_allow_outside(p)
    p.set_defaults(func=run)
