"""What the subcommands share: exit codes, path expansion, `--allow-outside`,
loading a policy with its diagnostics printed, and JSON arguments.

Every subcommand module imports this one and nothing of the CLI besides;
`cli.main` imports the subcommands. Heavy imports (the engine, litellm)
stay inside the functions that need them, so `validate` never pays for them.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cascadepolicy.errors import UsageError

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3
POLICY_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = ("_test.yaml", "_test.yml")

SubParsers = Any  # argparse's _SubParsersAction, private in typeshed
Run = Callable[[argparse.Namespace], int]


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


def add_allow_outside(parser: argparse.ArgumentParser) -> None:
    """`--allow-outside DIR`, for every command that loads a policy."""
    parser.add_argument("--allow-outside", action="append", default=[], metavar="DIR",
                        help="let `extends` read files in DIR, outside the policy's repository (repeatable); "
                             "only for directories you trust")


def load_policy(path: str, allow_outside: Sequence[str] | None = None) -> Policy:
    """The policy at `path`; when it has errors, they are printed and the command exits 1 (see `guard`)."""
    from cascadepolicy.loading.loader import check_file

    result = check_file(path, allow_outside=allow_outside or ())
    if result.policy is None:
        for d in result.diagnostics:
            print(d.format(), file=sys.stderr)
        raise _Failed()
    return result.policy


class _Failed(Exception):
    """The policy has errors; they were printed."""


def guard(run: Run) -> Run:
    """`run`, exiting 1 when `load_policy` found errors (already printed)."""
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except _Failed:
            return EXIT_FAILED
    return guarded


def json_arg(text: str | None, what: str) -> dict[str, Any]:
    """A command-line JSON object (`--context`, `--metadata`); {} when absent."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object")
    return value
