"""`cascadepolicy test`: policy test suites (`*_test.yaml`), run offline through the engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cascadepolicy.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    SubParsers,
    add_allow_outside,
    expand_paths,
)
from cascadepolicy.errors import UsageError


def _suites_below(root: Path) -> list[Path]:
    """Suites under `root`, not descending into hidden, virtualenv or dependency directories."""
    found = []
    for path in sorted(root.rglob("*_test.y*ml")):
        parts = path.relative_to(root).parts[:-1]
        if not any(p.startswith(".") or p in ("node_modules", "venv", "site-packages", "__pycache__") for p in parts):
            found.append(path)
    return found


def run(args: argparse.Namespace) -> int:
    from cascadepolicy.testing.report import report_json, report_junit, report_text
    from cascadepolicy.testing.runner import load_suite, run_suite

    files = expand_paths(args.paths, tests=True) if args.paths else _suites_below(Path("."))
    if not files:
        raise UsageError("no test suites (*_test.yaml) found in " + ", ".join(args.paths or ["."]))
    results = [run_suite(load_suite(path, allow_outside=args.allow_outside), only=args.case, import_custom=args.import_custom)
               for path in files]
    show_coverage = args.coverage or args.min_coverage is not None
    out = sys.stdout
    if args.output:
        out = open(args.output, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        if args.format == "json":
            report_json(results, out, coverage=show_coverage)
        elif args.format == "junit":
            report_junit(results, out, coverage=show_coverage)
        else:
            report_text(results, out, coverage=show_coverage, verbose=args.verbose)
    finally:
        if out is not sys.stdout:
            out.close()
    failed = not all(r.ok for r in results)
    if args.min_coverage is not None:
        for r in results:
            if r.coverage is not None and r.coverage.percent + 1e-9 < args.min_coverage:
                print(f"{r.file}: coverage {r.coverage.percent:.1f}% is below --min-coverage {args.min_coverage:g}%", file=sys.stderr)
                failed = True
    return EXIT_FAILED if failed else EXIT_OK


def register(sub: SubParsers) -> None:
    p = sub.add_parser("test", help="run policy test suites (*_test.yaml) offline through the compiled graph")
    p.add_argument("paths", nargs="*", metavar="PATH", help="suite files, directories or globs (default: .)")
    p.add_argument("--format", choices=("text", "json", "junit"), default="text")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--coverage", action="store_true", help="list routes, cascade steps, guardrails and limits no case exercised")
    p.add_argument("--min-coverage", type=float, metavar="N", help="fail when a suite covers less than N %% of its policy")
    p.add_argument("-k", "--case", metavar="TEXT", help="run only cases whose name contains TEXT")
    p.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    p.add_argument("--import-custom", action="store_true",
                   help="import and run the policy's custom guardrail and validator functions (by default they are only "
                        "located, and a case reaching one fails it); only for policies you trust")
    add_allow_outside(p)
    p.set_defaults(func=run)
