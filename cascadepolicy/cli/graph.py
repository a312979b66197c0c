"""`cascadepolicy graph`: the compiled evaluation graph of a policy, as text or Mermaid."""

from __future__ import annotations

import argparse
import sys

from cascadepolicy.cli.common import EXIT_OK, SubParsers, add_allow_outside, guard, load_policy


def run(args: argparse.Namespace) -> int:
    from cascadepolicy.compile.graph import build_graph

    graph = build_graph(load_policy(args.policy, args.allow_outside))
    sys.stdout.write(graph.to_mermaid() if args.format == "mermaid" else graph.to_text())
    return EXIT_OK


def register(sub: SubParsers) -> None:
    p = sub.add_parser("graph", help="print the compiled evaluation graph (text or Mermaid)")
    p.add_argument("policy")
    p.add_argument("--format", choices=("text", "mermaid"), default="text")
    add_allow_outside(p)
    p.set_defaults(func=guard(run))
