"""`cascadepolicy init`: a commented starter policy and its test suite (templates in `cli.templates`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cascadepolicy.cli.common import EXIT_OK, SubParsers
from cascadepolicy.errors import UsageError


def run(args: argparse.Namespace) -> int:
    from cascadepolicy.cli.templates import TEMPLATES, write_template

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


def register(sub: SubParsers) -> None:
    p = sub.add_parser("init", help="write a commented starter policy and its test suite")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR")
    p.add_argument("--template", default="starter", help="template name (see --list)")
    p.add_argument("--list", action="store_true", help="list the templates")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=run)
