"""The parser and the top-level handler of the `cascadepolicy` command.

Every subcommand returns an exit code: 0 ok, 1 policy errors or failed tests,
2 usage error, 3 internal bug. Expected problems are `CascadePolicyError`s
and print a sentence (`UsageError` exits 2); anything else is a bug, reported
with a "please report" message (and a traceback only with `--traceback`).
Subcommands import what they need when they run, so `validate` never pays
for litellm.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

# By module path, not `from cascadepolicy.cli import ...`: the package imports this module.
import cascadepolicy.cli.demo as demo
import cascadepolicy.cli.diff as diff
import cascadepolicy.cli.explain as explain
import cascadepolicy.cli.fmt as fmt
import cascadepolicy.cli.graph as graph
import cascadepolicy.cli.init as init
import cascadepolicy.cli.replay as replay
import cascadepolicy.cli.report as report
import cascadepolicy.cli.run as run
import cascadepolicy.cli.schema as schema
import cascadepolicy.cli.test as test
import cascadepolicy.cli.usage as usage
import cascadepolicy.cli.validate as validate
from cascadepolicy.cli.common import EXIT_BUG, EXIT_FAILED, EXIT_USAGE
from cascadepolicy.errors import CascadePolicyError, UsageError

SUBCOMMANDS = (validate, schema, graph, replay, report, explain, run, usage, demo, test, fmt, init, diff)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cascadepolicy", description="Validate, test, explain and run LLM call policies.")
    parser.add_argument("--traceback", action="store_true", help="show Python tracebacks of internal errors")
    parser.add_argument("--version", action="version", version="cascadepolicy 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in SUBCOMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # pydantic scans every installed distribution for plugins the first time a
    # model validates (~100 ms of a 300 ms `validate`); the CLI uses none.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
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
