"""The `cascadepolicy` command line: a thin layer over the library.

`main` (in `cli.main`) builds the parser and runs the top-level handler; each
subcommand is a module with `register(subparsers)` and `run(args) -> int`;
`cli.common` holds what they share. This file only re-exports `main`, the
console script's entry point.
"""

from __future__ import annotations

from cascadepolicy.cli.main import main

__all__ = ["main"]
