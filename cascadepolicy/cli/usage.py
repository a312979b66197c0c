"""`cascadepolicy usage`: counts, remaining budget and reset times from the policy's store."""

from __future__ import annotations

import argparse
import json
import time

from cascadepolicy.cli.common import EXIT_OK, SubParsers, add_allow_outside, guard, load_policy
from cascadepolicy.errors import UsageError


def run(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy, args.allow_outside)
    engine = policy.engine()
    prefix = f"{policy.name}|" + (f"user:{args.user}|" if args.user else "")
    now = time.time()
    if args.reset:
        if not args.user:
            raise UsageError("--reset needs --user ID")
        count = engine.store.reset(prefix)
        print(f"cleared {count} counter(s) of user {args.user}")
        engine.close()
        return EXIT_OK
    rows = engine.store.usage(prefix, now=now)
    if args.format == "json":
        print(json.dumps([{**r.__dict__, "remaining": r.remaining} for r in rows], indent=2))
    else:
        if not rows:
            print("no counters yet")
        for r in rows:
            resets = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.resets_at)) if r.resets_at else "-"
            pending = f", pending {r.pending:g} (journaled while the store was unreachable)" if r.pending else ""
            print(f"{r.label or r.key}: used {r.used:g}, reserved {r.reserved:g}{pending}, remaining {r.remaining:g}, resets {resets}")
    engine.close()
    return EXIT_OK


def register(sub: SubParsers) -> None:
    p = sub.add_parser("usage", help="current counts, remaining budget and reset times from the store")
    p.add_argument("policy")
    p.add_argument("--user")
    p.add_argument("--reset", action="store_true", help="clear the counters of --user")
    p.add_argument("--format", choices=("text", "json"), default="text")
    add_allow_outside(p)
    p.set_defaults(func=guard(run))
