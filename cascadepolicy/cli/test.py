"""Authoring subcommands: test, fmt, init, diff.

The policy-as-code loop: write a policy (`init`), keep it tidy (`fmt`), prove
what it does (`test`) and review what a change does (`diff`). Each registers
its parser and a function returning an exit code; the CLI module adds them
through `REGISTRARS`. Heavy imports (the engine, litellm) happen inside the
functions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cascadepolicy.cli import EXIT_FAILED, EXIT_OK, UsageError, add_allow_outside, expand_paths

SubParsers = Any


# ---------------------------------------------------------------- test

def cmd_test(args: argparse.Namespace) -> int:
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


def _suites_below(root: Path) -> list[Path]:
    """Suites under `root`, not descending into hidden, virtualenv or dependency directories."""
    found = []
    for path in sorted(root.rglob("*_test.y*ml")):
        parts = path.relative_to(root).parts[:-1]
        if not any(p.startswith(".") or p in ("node_modules", "venv", "site-packages", "__pycache__") for p in parts):
            found.append(path)
    return found


def register_test(sub: SubParsers) -> None:
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
    p.set_defaults(func=cmd_test)


# ---------------------------------------------------------------- fmt

def cmd_fmt(args: argparse.Namespace) -> int:
    from cascadepolicy.fmt import format_file

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


def register_fmt(sub: SubParsers) -> None:
    p = sub.add_parser("fmt", help="format policy and suite files canonically, keeping comments and key order")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--check", action="store_true", help="change nothing; print a diff and exit 1 when a file would change")
    p.set_defaults(func=cmd_fmt)


# ---------------------------------------------------------------- init

def cmd_init(args: argparse.Namespace) -> int:
    from cascadepolicy.init_templates import TEMPLATES, write_template

    if args.list:
        for name, template in TEMPLATES.items():
            print(f"{name}: {template.description}")
        return EXIT_OK
    if args.template not in TEMPLATES:
        raise UsageError(f"unknown template {args.template!r}; choose one of {', '.join(TEMPLATES)}")
    written = write_template(args.template, Path(args.dir), force=args.force)
    for path in written:
        print(f"wrote {path}")
    policy = written[0]
    print(f"next: cascadepolicy validate --strict {policy} && cascadepolicy test {written[1]}")
    return EXIT_OK


def register_init(sub: SubParsers) -> None:
    p = sub.add_parser("init", help="write a commented starter policy and its test suite")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR")
    p.add_argument("--template", default="starter", help="template name (see --list)")
    p.add_argument("--list", action="store_true", help="list the templates")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=cmd_init)


# ---------------------------------------------------------------- diff

def cmd_diff(args: argparse.Namespace) -> int:
    from cascadepolicy.diff import diff_policies, format_diff
    from cascadepolicy.loader import check_file
    from cascadepolicy.scrub import Masker

    policies = []
    for path in (args.old, args.new):
        if not Path(path).is_file():
            raise UsageError(f"{path} does not exist")
        result = check_file(path, allow_outside=args.allow_outside)
        if result.policy is None:
            for d in result.diagnostics:
                print(d.format(), file=sys.stderr)
            return EXIT_FAILED
        policies.append(result.policy)
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


def register_diff(sub: SubParsers) -> None:
    p = sub.add_parser("diff", help="behaviour changes between two versions of a policy")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when the behaviour changed")
    add_allow_outside(p)
    p.set_defaults(func=cmd_diff)


REGISTRARS = [register_test, register_fmt, register_init, register_diff]
