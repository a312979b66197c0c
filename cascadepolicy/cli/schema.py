"""`cascadepolicy schema`: the JSON Schema of policy files (or of test suites)."""

from __future__ import annotations

import argparse
import sys

from cascadepolicy.cli.common import EXIT_OK, SubParsers


def run(args: argparse.Namespace) -> int:
    from cascadepolicy.loading.schema_export import schema_text

    sys.stdout.write(schema_text(args.kind))
    return EXIT_OK


def register(sub: SubParsers) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of policy files (or of test suites)")
    p.add_argument("kind", nargs="?", choices=("policy", "test"), default="policy")
    p.set_defaults(func=run)
