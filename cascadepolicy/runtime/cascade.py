"""The cascade: the admitted request's steps, from the first draft to the answer or the last refusal.

    request → input guardrails → route → admission → ▶ cascade steps (call → output guardrails → validate →
    accept or escalate) → settle → Result

Each step calls its model (the model caller's retries and fallbacks, those
the tier allows), runs the output guardrails on the draft (a `reask` calls
again with the feedback appended, up to the rule's `max_reasks`), then scores
it with the step's validators. An accepted draft is the answer; a rejected
one, a failed call or an escalating guardrail moves on to the next step (with
the draft and the reason when the step has `pass_draft`). Judge calls, of
validators and grounding guardrails, are model calls of the cascade like the
drafts: bounded by the plan, billed to the request.

A call whose prompt is longer than the plan reserved for it is not sent (the
backstop `over_reserved`), and a call the caller went away from is billed at
its worst case. Like every node of the walk, this one only yields effects.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from cascadepolicy.compile.plan import (
    ESCALATION_MESSAGE,
    FEEDBACK_MAX_TOKENS,
    REASK_FALLBACK_MESSAGE,
    REASON_MAX_TOKENS,
    Call,
    PlannedStep,
    Purpose,
)
from cascadepolicy.compile.worst_case import TOKENIZER_MARGIN
from cascadepolicy.effects import JudgeRequest, Send, Steps, relay
from cascadepolicy.errors import ProviderError
from cascadepolicy.providers.calls import CallResult, Identity, ModelCaller
from cascadepolicy.quality.base import CompositeScore, Draft, ToolCall
from cascadepolicy.quality.composite import scoring
from cascadepolicy.runtime.decision import ModelCall, Validation
from cascadepolicy.runtime.features import clip_tokens, count_prompt_tokens, last_user_text
from cascadepolicy.runtime.guards import GuardrailRunner
from cascadepolicy.runtime.request import Request
from cascadepolicy.runtime.results import Result, answered, blocked, failed


@dataclass(frozen=True)
class Cascade:
    """Runs a request's steps. `tier_models`: the plan's models per tier (fallbacks outside it are not called);
    `keep_text`: the policy's `audit.include_text`."""

    caller: ModelCaller
    guardrails: GuardrailRunner
    tier_models: Mapping[str, frozenset[str] | None]
    keep_text: bool

    def run(self, request: Request, steps: tuple[PlannedStep, ...]) -> Generator[Any, Any, Result]:
        decision = request.decision
        previous: CallResult | None = None
        previous_reason: str | None = None
        complexity: str | None = None
        for position, step in enumerate(steps):
            last = position == len(steps) - 1
            decision.trace.append(step.node)
            messages = list(request.messages)
            if step.pass_draft and previous is not None:
                # the reason quotes checks, guardrails and provider errors: clipped, as the plan reserves
                reason = clip_tokens(previous_reason or "", REASON_MAX_TOKENS)
                messages += [{"role": "assistant", "content": previous.text},
                             {"role": "user", "content": clip_tokens(ESCALATION_MESSAGE.format(reason=reason), FEEDBACK_MAX_TOKENS)}]
            # restoring placeholders needs the whole answer: one may be split across chunks
            live = last and request.stream and not step.accept and not self.guardrails.output and not request.redactor.restores
            reasks = 0
            while True:
                planned = step.reask(reasks) if reasks <= step.max_reasks else None
                call = yield from self.call(request, position, step.model, messages, "draft" if reasks == 0 else "reask", planned, live)
                if call is None:
                    previous_reason = f"step {position + 1} ({step.model}) failed: {decision.calls[-1].error}"
                    break
                outcome = (yield from self._with_judges(request, position, step, "grounding", self.guardrails.run_output(
                    call.text, position, request.extra, request.redactor, decision, reasks, request.transport,
                    tool_calls=call.tool_calls))) if step.guardrails else None
                if outcome is not None and outcome.action == "reask":
                    reasks += 1
                    feedback = clip_tokens(outcome.feedback or REASK_FALLBACK_MESSAGE, FEEDBACK_MAX_TOKENS)
                    messages = messages + [{"role": "assistant", "content": call.text}, {"role": "user", "content": feedback}]
                    continue
                break
            if call is None:
                if last:
                    return failed(request, previous_reason or "the model call failed")
                decision.validations.append(Validation(position, step.model, 0.0, None, False, escalation_reason=previous_reason))
                continue
            if outcome is not None and outcome.action == "block":
                return blocked(request, outcome.reason or "blocked by an output guardrail")
            if outcome is not None and outcome.action == "escalate":
                reason = f"rejected by {outcome.reason}"
                if last:
                    return blocked(request, f"the last step's answer was {reason}")
                decision.validations.append(Validation(position, step.model, 0.0, None, False, escalation_reason=reason))
                previous, previous_reason = call, reason
                continue
            text = outcome.text if outcome is not None else call.text
            tool_calls = outcome.tool_calls if outcome is not None else call.tool_calls
            if step.accept:
                if complexity is None:
                    complexity = str(request.values["request.complexity"])
                threshold = step.accept.threshold(complexity)
                params = request.params
                draft = Draft(text, last_user_text(request.messages), call.logprobs, complexity,
                              tool_calls=tuple(ToolCall(c.id, c.name, c.arguments) for c in tool_calls),
                              tools=params.get("tools") or (), tool_choice=params.get("tool_choice"),
                              response_format=params.get("response_format"))
                checks = step.accept.built if request.format_check is None else (
                    *step.accept.built, (request.format_check, 1.0, True))  # the caller will parse it: required
                composite = yield from self._with_judges(request, position, step, "judge", scoring(checks, draft))
                decision.trace.append(step.accept.node)
                accepted = composite.score >= threshold
                # Check details may quote the answer: the record keeps them with PII masked.
                mask = functools.partial(self.guardrails.mask_record, redactor=request.redactor)
                rejection = None if accepted else mask(escalation_reason(composite, threshold))
                decision.validations.append(Validation(position, step.model, round(composite.score, 4), threshold, accepted,
                                                       [check_record(r, mask) for r in composite.results],
                                                       composite.gate_failed, None if last else rejection))
                if not accepted and not last:
                    previous, previous_reason = call, rejection
                    continue
            return answered(request, call, text, tool_calls, keep_text=self.keep_text, guardrails=self.guardrails)
        return failed(request, previous_reason or "no step produced an answer")

    # ------------------------------------------------------------ model calls

    def call(self, request: Request, step: int, model_id: str, messages: list[dict[str, Any]], purpose: str,
             planned: Call | None, stream: bool = False) -> Generator[Any, Any, CallResult | None]:
        """One model call of step `step` (its fallbacks included), recorded and charged; None when it failed."""
        decision = request.decision
        started = time.time()
        if request.reserved is not None:
            refusal = over_reserved(request.reserved, planned, messages)
            if refusal is not None:
                spec = self.caller.models[model_id]
                decision.calls.append(ModelCall(step, model_id, spec.model, purpose, "error", error=refusal, started=started))
                return None
        in_flight: list[Send] = []  # the attempt on its way, if the caller goes away during it

        def watch(effect: Any) -> None:
            in_flight[:] = [effect] if isinstance(effect, Send) else []
        answer = purpose in ("draft", "reask")  # a judge gets none of the request's parameters
        try:
            result = yield from relay(self.caller.call(model_id, messages, transport=request.transport, stream=stream,
                                                       allowed=self.tier_models.get(decision.tier or ""),
                                                       params=request.params if answer else None,
                                                       identity=identity(request)), watch)
        except asyncio.CancelledError:
            if in_flight:
                self._charge_in_flight(request, step, in_flight[0].model_id, in_flight[0].kwargs["messages"], purpose, started)
            raise
        except ProviderError as exc:
            request.last_error = exc
            attempts = [a.__dict__ for a in getattr(exc, "attempts", [])]
            spec = self.caller.models[model_id]
            billed: CallResult | None = getattr(exc, "billed", None)  # a stream cut after some output
            if billed is None:
                decision.calls.append(ModelCall(step, model_id, spec.model, purpose, "error", error=str(exc), attempts=attempts,
                                                started=started))
                return None
            decision.calls.append(ModelCall(step, billed.model_id, billed.litellm_model, purpose, "error", billed.prompt_tokens,
                                            billed.completion_tokens, billed.cost, billed.latency_ms, str(exc), attempts,
                                            list(billed.anomalies), started))
            request.charge(billed)
            decision.cost += billed.cost
            return None
        attempts = [a.__dict__ for a in result.attempts]
        decision.calls.append(ModelCall(step, result.model_id, result.litellm_model, purpose, "ok", result.prompt_tokens,
                                        result.completion_tokens, result.cost, result.latency_ms, attempts=attempts,
                                        anomalies=list(result.anomalies), started=started))
        request.charge(result)
        decision.cost += result.cost
        return result

    def _charge_in_flight(self, request: Request, step: int, model_id: str, messages: list[dict[str, Any]], purpose: str,
                          started: float) -> None:
        """A call the caller went away from: billed at its worst case (the provider may finish the answer)."""
        spec = self.caller.models[model_id]
        prompt, completion = count_prompt_tokens(messages), spec.max_tokens
        cost = self.caller.prices[model_id].cost(prompt, completion)
        request.decision.calls.append(ModelCall(step, model_id, spec.model, purpose, "cancelled", prompt, completion, cost,
                                                error="the caller went away during the call; billed at its worst case",
                                                started=started))
        request.charge(CallResult(model_id, spec.model, "", prompt, completion, cost, 0.0, None, None))
        request.decision.cost += cost

    # ------------------------------------------------------------ judges

    def _judge(self, request: Request, position: int, planned: PlannedStep, purpose: Purpose,
               judged: JudgeRequest) -> Generator[Any, Any, tuple[str, float]]:
        """A judge's model call (a validator's, or a grounding guardrail's): (reply, cost)."""
        messages = [{"role": "user", "content": judged.prompt}]
        # the plan's call for this judge: of those of one model, the largest bound (they differ only by rubric)
        calls = [c for c in planned.judges(purpose) if c.model == judged.model]
        bound = max(calls, key=lambda c: c.prompt.extra) if calls else None
        call = yield from self.call(request, position, judged.model, messages, "judge", bound)
        if call is None:
            raise ProviderError(f"judge model {judged.model!r} failed", model=judged.model)
        return call.text, call.cost

    def _with_judges(self, request: Request, position: int, planned: PlannedStep, purpose: Purpose, steps: Steps) -> Steps:
        """Run `steps`, answering each `JudgeRequest` it yields with the judge's model call."""
        def judge(effect: Any) -> Steps | None:
            return self._judge(request, position, planned, purpose, effect) if isinstance(effect, JudgeRequest) else None
        return relay(steps, judge)


def identity(request: Request) -> Identity:
    """What every model call of the request carries for litellm's callbacks: the user, and the decision it belongs to."""
    decision = request.decision
    route = decision.route
    metadata = {"cascadepolicy_decision_id": decision.decision_id, "cascadepolicy_policy": decision.policy.get("name"),
                "cascadepolicy_route": (route.name or str(route.index + 1)) if route is not None else None,
                "cascadepolicy_tier": decision.tier}
    if request.telemetry is not None:  # litellm's OpenTelemetry callback nests its spans under the request's
        metadata["litellm_parent_otel_span"] = request.telemetry.span
    return Identity(decision.user, metadata)


def over_reserved(reserved: tuple[int, int], planned: Call | None, messages: list[dict[str, Any]]) -> str | None:
    """Why a call may not be sent: its prompt is longer than what the plan reserved for it.

    The plan's bounds hold by construction; this is the backstop that keeps a call the plan did not
    foresee (or text longer than it allowed for) from spending past the reservation.
    """
    limit = 0 if planned is None else math.ceil(planned.prompt.tokens(*reserved) * TOKENIZER_MARGIN)
    tokens = count_prompt_tokens(messages)
    if tokens <= limit:
        return None
    return (f"not sent: its prompt of {tokens} tokens is longer than the {limit} reserved for this call "
            "(the admission's worst case)")


def check_record(result: Any, mask: Callable[[str], str]) -> dict[str, Any]:
    """A check's result as the decision record keeps it: its detail with PII masked."""
    return {"check": result.check, "score": round(result.score, 4), "passed": result.passed, "skipped": result.skipped,
            "detail": mask(result.detail) if isinstance(result.detail, str) else result.detail, "cost": result.cost}


def escalation_reason(composite: CompositeScore, threshold: float) -> str:
    """Why a draft was rejected: the required check that failed, or the score and the weakest checks."""
    if composite.gate_failed:
        failed_check = next((r for r in composite.results if r.check == composite.gate_failed), None)
        return f"required check {composite.gate_failed!r} failed" + (f": {failed_check.detail}" if failed_check and failed_check.detail else "")
    weak = [r for r in composite.results if not r.passed and not r.skipped]
    detail = "; ".join(f"{r.check}: {r.detail}" for r in weak[:3])
    return f"score {composite.score:.2f} below {threshold:.2f}" + (f" ({detail})" if detail else "")
