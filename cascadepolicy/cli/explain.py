"""`cascadepolicy explain`: one request through a policy, offline, step by step.

The request file may give the models' answers and guardrail verdicts; a
check that needs the network and has no verdict is reported as not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from cascadepolicy.cli.common import EXIT_OK, SubParsers, add_allow_outside, guard, load_policy
from cascadepolicy.errors import UsageError
from cascadepolicy.loading.callables import without_imports


def _read_request(path: str) -> dict[str, Any]:
    from cascadepolicy.loading.source import load_file

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


def run(args: argparse.Namespace) -> int:
    from cascadepolicy.providers.transport import MockTransport
    from cascadepolicy.state import MemoryStore

    policy = load_policy(args.policy, args.allow_outside)
    request = _read_request(args.request)
    answers = request.get("answers") or {}
    mocks = {model: str(answer) for model, answer in answers.items()}
    for model_id in policy.spec.models:
        mocks.setdefault(model_id, f"(offline answer of {model_id}: give `answers` in the request file to control it)")
    verdicts = _request_verdicts(args.request, request.get("guardrails"), [g.id for g in policy.spec.guardrails])
    # Offline: a check that needs the network is answered by the request's `guardrails` or reported as not run.
    with contextlib.nullcontext() if args.import_custom else without_imports():
        engine = policy.engine(store=MemoryStore(), decision_log=None, transport=MockTransport(mocks, verdicts), offline=True)
    result = engine.complete(request["messages"], user=request.get("user"), tier=request.get("tier"),
                             context=request.get("context"), metadata=request.get("metadata"))
    if args.format == "json":
        sys.stdout.write(json.dumps(policy.masker.data(result.decision.to_dict()), default=str, indent=2) + "\n")
    else:
        sys.stdout.write(explain_text(policy, result))
    return EXIT_OK


def register(sub: SubParsers) -> None:
    p = sub.add_parser("explain", help="one request through the graph, offline, step by step")
    p.add_argument("policy")
    p.add_argument("--request", required=True,
                   help="JSON or YAML file: messages, user, tier, context, metadata, answers, guardrails (id: pass|fire|error)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--import-custom", action="store_true",
                   help="import and run the policy's custom guardrails and validators (trust the policy's code)")
    add_allow_outside(p)
    p.set_defaults(func=guard(run))
