"""Subcommands beyond `validate` and `schema`: graph, replay, explain, run, usage, demo.

Each registers its parser and a function returning an exit code; the CLI
module adds them. Heavy imports (the engine, litellm) happen inside the
functions, so `cascadepolicy validate` never pays for them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cascadepolicy.callables import without_imports
from cascadepolicy.cli import EXIT_FAILED, EXIT_OK, UsageError, add_allow_outside

SubParsers = Any


def _load(path: str, allow_outside: list[str] | None = None) -> Any:
    from cascadepolicy.loader import check_file

    result = check_file(path, allow_outside=allow_outside or ())
    if result.policy is None:
        for d in result.diagnostics:
            print(d.format(), file=sys.stderr)
        raise _Failed()
    return result.policy


class _Failed(Exception):
    """The policy has errors; they were printed."""


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except _Failed:
            return EXIT_FAILED
    return run


def _json_arg(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object")
    return value


# ---------------------------------------------------------------- graph

def cmd_graph(args: argparse.Namespace) -> int:
    from cascadepolicy.graph import build_graph

    graph = build_graph(_load(args.policy, args.allow_outside))
    sys.stdout.write(graph.to_mermaid() if args.format == "mermaid" else graph.to_text())
    return EXIT_OK


def register_graph(sub: SubParsers) -> None:
    p = sub.add_parser("graph", help="print the compiled evaluation graph (text or Mermaid)")
    p.add_argument("policy")
    p.add_argument("--format", choices=("text", "mermaid"), default="text")
    add_allow_outside(p)
    p.set_defaults(func=_guard(cmd_graph))


# ---------------------------------------------------------------- replay

def cmd_replay(args: argparse.Namespace) -> int:
    from cascadepolicy.replay import Replayer, format_report, plot, read_records

    policy = _load(args.policy, args.allow_outside)
    records = read_records(args.data, limit=args.limit)
    replayer = Replayer(policy, cascade=args.cascade, tier=args.tier, context=_json_arg(args.context, "--context"),
                        interval=args.interval)
    outcomes = replayer.run(records, progress=not args.no_progress and sys.stderr.isatty())
    report = replayer.report(outcomes, sweep=args.sweep or bool(args.plot))
    sys.stdout.write(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    if args.plot:
        plot(report, args.plot)
        print(f"wrote {args.plot}")
    return EXIT_OK


def register_replay(sub: SubParsers) -> None:
    p = sub.add_parser("replay", help="run a recorded-responses file through a policy: cost/quality report")
    p.add_argument("policy")
    p.add_argument("data", help="JSONL file of {messages, responses: {model: {content, correct|score}}}")
    p.add_argument("--cascade", help="cascade whose first/last models are the baselines (default: the default route's)")
    p.add_argument("--tier", help="tier of the replayed requests")
    p.add_argument("--context", help="request context as a JSON object")
    p.add_argument("--limit", type=int, help="replay only the first N records")
    p.add_argument("--interval", type=float, default=60.0, help="simulated seconds between recorded requests (default 60)")
    p.add_argument("--sweep", action="store_true", help="vary the first step's threshold; report CPT(50%%), CPT(80%%), APGR")
    p.add_argument("--plot", metavar="FILE.png", help="draw the cost/quality curve (implies --sweep)")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_allow_outside(p)
    p.set_defaults(func=_guard(cmd_replay))


# ---------------------------------------------------------------- explain

def _read_request(path: str) -> dict[str, Any]:
    from cascadepolicy.source import load_file

    if path.endswith(".json"):
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: {exc}") from exc
    else:
        document, problems = load_file(Path(path))
        if document is None:
            raise UsageError("; ".join(d.format() for d in problems))
        data = document.data
    if not isinstance(data, dict) or "messages" not in data:
        raise UsageError(f"{path} must hold a mapping with `messages` (and optionally user, tier, context, metadata, answers, guardrails)")
    return data


def _request_verdicts(path: str, given: Any, known: list[str]) -> dict[str, Any]:
    """The request file's `guardrails`: per guardrail id, `pass`, `fire` or `error`, as in a suite's fixtures."""
    from cascadepolicy.testing.fixtures import guardrail_verdicts

    if given is None:
        return {}
    if not isinstance(given, dict):
        raise UsageError(f"{path}: `guardrails` must map guardrail ids to pass, fire or error")
    for rule_id, value in given.items():
        if rule_id not in known:
            raise UsageError(f"{path}: `guardrails` names {str(rule_id)[:80]!r}, which is not a guardrail of the policy "
                             f"(known: {', '.join(known) or 'none'})")
        if value not in ("pass", "fire", "error") and not isinstance(value, bool):
            raise UsageError(f"{path}: `guardrails.{rule_id}` must be pass, fire or error")
    return guardrail_verdicts(given)


def explain_text(policy: Any, result: Any) -> str:
    """The decision, step by step; policy values as written, so none interpolated from the environment is shown."""
    d = result.decision
    spec = policy.spec
    lines = [f"policy {policy.written(('name',), policy.name)} ({policy.file}, hash {policy.content_hash[:12]})",
             f"tier: {d.tier}   user: {d.user}"]
    for g in (g for g in d.guardrails if g.stage == "input"):
        lines.append(f"guardrail {g.id} [{g.check}]: {'FIRED' if g.fired else 'pass'} → {g.action}  ({g.reason})")
    if d.route:
        for tried in d.route.tried:
            outcome = tried.get("error") or ("no match" if not tried.get("matched") else "match")
            condition = policy.written(("routes", tried["index"], "when"), tried["condition"])
            lines.append(f"route {tried['index'] + 1}: `{condition}` with {tried.get('values', {})} → {outcome}")
        condition = policy.written(("routes", d.route.index, "when"), d.route.condition) if d.route.condition else None
        cond = f"`{condition}` with {d.route.values}" if condition else "(default)"
        lines.append(f"route {d.route.index + 1} taken ({d.route.location}) {cond} → {d.route.target}"
                     + (f" [{d.route.kind}]" if d.route.kind == "degraded" else ""))
    if d.admission:
        for limit in d.admission.limits:
            lines.append(f"limit {limit.label}: used {limit.used:g} + {limit.amount:g} of {limit.limit:g} → {limit.status}")
        for warning in d.admission.warnings:
            lines.append(f"warning: {warning}")
    for call in d.calls:
        model = policy.written(("models", call.model_id, "model"), call.model) if call.model_id in spec.models else call.model
        lines.append(f"call step {call.step + 1} {call.model_id} ({model}) {call.purpose}: {call.outcome}, "
                     f"{call.prompt_tokens}+{call.completion_tokens} tokens, ${call.cost:.6f}" + (f" — {call.error}" if call.error else ""))
    for v in d.validations:
        verdict = "accepted" if v.accepted else "rejected"
        lines.append(f"validate step {v.step + 1} {v.model_id}: score {v.score:.3f} vs {v.threshold} → {verdict}"
                     + (f" ({v.escalation_reason})" if v.escalation_reason else ""))
        for check in v.checks:
            lines.append(f"    {check['check']}: {check['score']:.2f}{' skipped' if check['skipped'] else ''} {check['detail']}")
    for g in (g for g in d.guardrails if g.stage == "output"):
        lines.append(f"output guardrail {g.id} step {(g.step or 0) + 1}: {'FIRED' if g.fired else 'pass'} → {g.action}")
    lines.append(f"outcome: {d.outcome}" + (f" — {d.reason}" if d.reason else "") + (f", final model {d.final_model_id} ({d.final_model})" if d.final_model else ""))
    lines.append(f"cost: ${d.cost:.6f}")
    lines.append("path: " + " → ".join(d.trace))
    return policy.masker.text("\n".join(lines) + "\n")


def cmd_explain(args: argparse.Namespace) -> int:
    from cascadepolicy.state import MemoryStore

    policy = _load(args.policy, args.allow_outside)
    request = _read_request(args.request)
    answers = request.get("answers") or {}
    mocks = {model: str(answer) for model, answer in answers.items()}
    for model_id in policy.spec.models:
        mocks.setdefault(model_id, f"(offline answer of {model_id}: give `answers` in the request file to control it)")
    verdicts = _request_verdicts(args.request, request.get("guardrails"), [g.id for g in policy.spec.guardrails])
    # Offline: a check that needs the network is answered by the request's `guardrails` or reported as not run.
    with contextlib.nullcontext() if args.import_custom else without_imports():
        engine = policy.engine(store=MemoryStore(), decision_log=None, mocks=mocks, offline=True)
    result = engine.complete(request["messages"], user=request.get("user"), tier=request.get("tier"),
                             context=request.get("context"), metadata=request.get("metadata"), guardrail_verdicts=verdicts)
    if args.format == "json":
        sys.stdout.write(json.dumps(policy.masker.data(result.decision.to_dict()), default=str, indent=2) + "\n")
    else:
        sys.stdout.write(explain_text(policy, result))
    return EXIT_OK


def register_explain(sub: SubParsers) -> None:
    p = sub.add_parser("explain", help="one request through the graph, offline, step by step")
    p.add_argument("policy")
    p.add_argument("--request", required=True,
                   help="JSON or YAML file: messages, user, tier, context, metadata, answers, guardrails (id: pass|fire|error)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--import-custom", action="store_true",
                   help="import and run the policy's custom guardrails and validators (trust the policy's code)")
    add_allow_outside(p)
    p.set_defaults(func=_guard(cmd_explain))


# ---------------------------------------------------------------- run

def cmd_run(args: argparse.Namespace) -> int:
    policy = _load(args.policy, args.allow_outside)
    engine = policy.engine()
    messages = [{"role": "user", "content": args.prompt}]
    context = _json_arg(args.context, "--context")
    metadata = _json_arg(args.metadata, "--metadata")
    if args.stream:
        streaming = engine.complete(messages, user=args.user, tier=args.tier, context=context, metadata=metadata, stream=True)
        for chunk in streaming:
            if args.format == "text":
                sys.stdout.write(chunk)
                sys.stdout.flush()
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


def register_run(sub: SubParsers) -> None:
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
    p.set_defaults(func=_guard(cmd_run))


# ---------------------------------------------------------------- usage

def cmd_usage(args: argparse.Namespace) -> int:
    policy = _load(args.policy, args.allow_outside)
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


def register_usage(sub: SubParsers) -> None:
    p = sub.add_parser("usage", help="current counts, remaining budget and reset times from the store")
    p.add_argument("policy")
    p.add_argument("--user")
    p.add_argument("--reset", action="store_true", help="clear the counters of --user")
    p.add_argument("--format", choices=("text", "json"), default="text")
    add_allow_outside(p)
    p.set_defaults(func=_guard(cmd_usage))


# ---------------------------------------------------------------- demo

def cmd_demo(args: argparse.Namespace) -> int:
    from importlib import resources

    from cascadepolicy.replay import Replayer, format_report, read_records

    root = Path(__file__).resolve().parent.parent
    policy_path = root / "policies" / "math-tutor.yaml"
    data = resources.files("cascadepolicy").joinpath("data").joinpath("gsm8k_sample.jsonl")
    policy = _load(str(policy_path))
    print(f"Replaying {policy_path.name} over the bundled GSM8K sample ({data.name}; MIT-licensed GSM8K questions, "
          "answers recorded by RouteLLM, Apache-2.0)...\n")
    with resources.as_file(data) as path:
        records = read_records(path)
    replayer = Replayer(policy)
    report = replayer.report(replayer.run(records, progress=sys.stderr.isatty()), sweep=True)
    sys.stdout.write(format_report(report))
    return EXIT_OK


def register_demo(sub: SubParsers) -> None:
    p = sub.add_parser("demo", help="replay the math-tutor policy over a bundled GSM8K sample")
    p.set_defaults(func=_guard(cmd_demo))


REGISTRARS = [register_graph, register_replay, register_explain, register_run, register_usage, register_demo]
