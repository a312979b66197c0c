"""`cascadepolicy fmt`: policy and suite files formatted canonically, comments and key order kept."""

from __future__ import annotations

import argparse
import sys

from cascadepolicy.cli.common import EXIT_FAILED, EXIT_OK, SubParsers, expand_paths
from cascadepolicy.errors import UsageError


def run(args: argparse.Namespace) -> int:
    from cascadepolicy.loading.fmt import format_file

    files = expand_paths(args.paths) + expand_paths(args.paths, tests=True)
    files = sorted(dict.fromkeys(f for f in files if f.is_file()))
    if not files:
        raise UsageError("no YAML files found in " + ", ".join(args.paths))
    status = EXIT_OK
    changed = 0
    for path in files:
        outcome = format_file(path, check=args.check)
        for d in outcome.diagnostics:
            print(d.format(), file=sys.stderr)
            status = EXIT_FAILED
        if outcome.changed:
            changed += 1
            if args.check:
                sys.stdout.write(outcome.diff)
                status = EXIT_FAILED
            else:
                print(f"formatted {path}")
    if args.check and changed:
        print(f"{changed} file(s) would be reformatted; run `cascadepolicy fmt {' '.join(args.paths)}`", file=sys.stderr)
    return status


def register(sub: SubParsers) -> None:
    p = sub.add_parser("fmt", help="format policy and suite files canonically, keeping comments and key order")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--check", action="store_true", help="change nothing; print a diff and exit 1 when a file would change")
    p.set_defaults(func=run)
