"""The `cascadepolicy` command line: a thin layer over the library.

One function per subcommand, each returning an exit code: 0 ok, 1 policy
errors or failed tests, 2 usage error, 3 internal bug. Expected problems are
`CascadePolicyError`s and print a sentence; anything else is a bug, reported
with a "please report" message (and a traceback only with `--traceback`).
Subcommands import what they need when they run, so `validate` never pays
for litellm.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3
POLICY_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = ("_test.yaml", "_test.yml")


class UsageError(Exception):
    """Bad command-line input: exit 2."""


def expand_paths(paths: Sequence[str], *, tests: bool = False) -> list[Path]:
    """Files, directories (searched recursively) and globs, in a stable order.

    In directories, policy suites (`*_test.yaml`) are skipped when looking for
    policies and are the only files taken when looking for tests.
    """
    found: list[Path] = []
    for raw in paths:
        matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True))] if glob.has_magic(raw) else [Path(raw)]
        if not matches:
            raise UsageError(f"no file matches {raw!r}")
        for path in matches:
            if path.is_dir():
                for child in sorted(path.rglob("*")):
                    if child.is_file() and child.suffix in POLICY_SUFFIXES and child.name.endswith(TEST_SUFFIXES) == tests:
                        found.append(child)
            elif path.exists():
                found.append(path)
            else:
                raise UsageError(f"{raw} does not exist")
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------- commands

def cmd_validate(args: argparse.Namespace) -> int:
    from cascadepolicy.loader import check_file
    from cascadepolicy.reporters import report_github, report_json, report_text

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


def cmd_schema(args: argparse.Namespace) -> int:
    from cascadepolicy.schema_export import schema_text

    sys.stdout.write(schema_text(args.kind))
    return EXIT_OK


# ---------------------------------------------------------------- parser

def add_allow_outside(parser: argparse.ArgumentParser) -> None:
    """`--allow-outside DIR`, for every command that loads a policy."""
    parser.add_argument("--allow-outside", action="append", default=[], metavar="DIR",
                        help="let `extends` read files in DIR, outside the policy's repository (repeatable); "
                             "only for directories you trust")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cascadepolicy", description="Validate, test, explain and run LLM call policies.")
    parser.add_argument("--traceback", action="store_true", help="show Python tracebacks of internal errors")
    parser.add_argument("--version", action="version", version="cascadepolicy 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check policy files (files, directories, globs)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", choices=("text", "json", "github"), default="text")
    p.add_argument("--strict", action="store_true", help="fail on warnings too")
    p.add_argument("-v", "--verbose", action="store_true", help="list clean files too")
    add_allow_outside(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of policy files (or of test suites)")
    p.add_argument("kind", nargs="?", choices=("policy", "test"), default="policy")
    p.set_defaults(func=cmd_schema)

    from cascadepolicy import authoring_commands, commands

    for register in (*commands.REGISTRARS, *authoring_commands.REGISTRARS):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # pydantic scans every installed distribution for plugins the first time a
    # model validates (~100 ms of a 300 ms `validate`); the CLI uses none.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from cascadepolicy.errors import CascadePolicyError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"cascadepolicy: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CascadePolicyError as exc:
        print(f"cascadepolicy: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # anything else is our bug
        if args.traceback:
            traceback.print_exc()
        print(f"cascadepolicy: internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in cascadepolicy; please report it with the command you ran "
              "(run again with --traceback for details).", file=sys.stderr)
        return EXIT_BUG
