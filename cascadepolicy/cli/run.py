"""`cascadepolicy run`: one real request through a policy (calls the models)."""

from __future__ import annotations

import argparse
import sys

from cascadepolicy.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    SubParsers,
    add_allow_outside,
    guard,
    json_arg,
    load_policy,
)


def run(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy, args.allow_outside)
    engine = policy.engine()
    messages = [{"role": "user", "content": args.prompt}]
    context = json_arg(args.context, "--context")
    metadata = json_arg(args.metadata, "--metadata")
    if args.stream:
        streaming = engine.complete(messages, user=args.user, tier=args.tier, context=context, metadata=metadata, stream=True)
        for chunk in streaming:
            if args.format == "text":
                sys.stdout.write(chunk)
                sys.stdout.flush()
        assert streaming.result is not None  # set when the iteration ends
        result = streaming.result
        if args.format == "text":
            sys.stdout.write("\n")
    else:
        result = engine.complete(messages, user=args.user, tier=args.tier, context=context, metadata=metadata)
        if args.format == "text" and result.content is not None:
            sys.stdout.write(result.content + "\n")
    if args.format == "json":
        sys.stdout.write(result.decision.to_json(indent=2) + "\n")
    else:
        d = result.decision
        print("---", file=sys.stderr)
        for call in d.calls:
            print(f"{call.model_id} ({call.model}) {call.purpose}: {call.outcome}, {call.prompt_tokens}+{call.completion_tokens} tokens, "
                  f"${call.cost:.6f}, {call.latency_ms:.0f} ms" + (f" — {call.error}" if call.error else ""), file=sys.stderr)
            for anomaly in call.anomalies:
                print(f"    provider anomaly, {anomaly}", file=sys.stderr)
        for v in d.validations:
            if v.threshold is None:  # no score: the step failed or an output guardrail rejected it
                print(f"step {v.step + 1} → escalated: {v.escalation_reason}", file=sys.stderr)
            else:
                print(f"step {v.step + 1} score {v.score:.2f} (min {v.threshold}) → {'accepted' if v.accepted else 'escalated'}",
                      file=sys.stderr)
        print(f"{d.outcome}{' — ' + d.reason if d.reason else ''}; cost ${d.cost:.6f}; {d.latency_ms:.0f} ms; decision {d.decision_id}",
              file=sys.stderr)
    engine.close()
    return EXIT_OK if result.decision.outcome == "answered" else EXIT_FAILED


def register(sub: SubParsers) -> None:
    p = sub.add_parser("run", help="one real request through the policy")
    p.add_argument("policy")
    p.add_argument("--prompt", required=True)
    p.add_argument("--user")
    p.add_argument("--tier")
    p.add_argument("--context", help="request context as a JSON object")
    p.add_argument("--metadata", help="request metadata as a JSON object")
    p.add_argument("--stream", action="store_true")
    p.add_argument("--format", choices=("text", "json"), default="text")
    add_allow_outside(p)
    p.set_defaults(func=guard(run))
