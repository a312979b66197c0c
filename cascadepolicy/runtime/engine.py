"""The runtime: executes the compiled evaluation graph for one request at a time.

    input guardrails → route → admission (reserve the worst case) → cascade steps
    (call → output guardrails → validate → accept or escalate) → settle → Result

The engine is built once per policy (`policy.engine()`): it compiles the
policy's plan (`cascadepolicy.compile.plan`: routes, targets, steps and every
call a step may make, with the validators' checks linked here) and walks it,
so every node id in a decision's trace is a plan node, drawn by `graph` with
the source location of its policy element. Admission reserves the plan's
worst case for the request (`compile.worst_case`), and a call whose prompt is
longer than the plan reserved for it is not sent (a backstop: the plan's
bounds hold by construction). Each request yields exactly one `Decision`; the model it names as
final is the model whose answer is returned. Fail closed: an unknown tier, a
condition that cannot be evaluated, an unreachable store or a failing
guardrail refuse the request with a reason unless the policy opts out.

One implementation of the request path serves the blocking and the async API:
the walk (`_walk` and the nodes it calls) is a generator that yields effects
(`cascadepolicy.effects`: send a model call, call the store, sleep before a
retry, run blocking code) and never performs I/O itself; `complete` runs it
with the blocking driver and `acomplete` with the async one
(`runtime.drivers`). Judge calls, of validators and grounding guardrails, are
model calls of the walk like any other, so they are billed, bounded by the plan
and async under `acomplete`. Model calls go through the engine's transport
(`providers.transport`), which is also where tests give answers in advance.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

from cascadepolicy.compile.plan import (
    ESCALATION_MESSAGE,
    FEEDBACK_MAX_TOKENS,
    REASK_FALLBACK_MESSAGE,
    REASON_MAX_TOKENS,
    Call,
    CheckBuilder,
    PlannedRoute,
    PlannedStep,
    PlannedTarget,
    Purpose,
    compile_plan,
    documents_tokens,
)
from cascadepolicy.compile.worst_case import TOKENIZER_MARGIN, Usage, WorstCase
from cascadepolicy.effects import JudgeRequest, Send, Steps, relay
from cascadepolicy.errors import ConditionError, ProviderError, RequestError
from cascadepolicy.guardrails.redaction import Redactor
from cascadepolicy.language.model import ContextField, QualityCheck
from cascadepolicy.providers.calls import CallResult, ModelCaller
from cascadepolicy.providers.transport import Transport
from cascadepolicy.quality.base import Check, CompositeScore, Draft, Links
from cascadepolicy.quality.composite import scoring
from cascadepolicy.quality.registry import link_check
from cascadepolicy.runtime.admission import Admitter, Reservation
from cascadepolicy.runtime.decision import Decision, ModelCall, RouteRecord, Validation
from cascadepolicy.runtime.drivers import IO, Outcome, adrive, drive
from cascadepolicy.runtime.drivers import run as run_walk
from cascadepolicy.runtime.features import (
    Detectors,
    RequestValues,
    clip_tokens,
    count_prompt_tokens,
    last_user_text,
    text_tokens,
)
from cascadepolicy.runtime.guards import GuardrailRunner
from cascadepolicy.state.base import Store

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy


@dataclass
class Result:
    """What `complete` returns: the answer (or refusal) and its decision record."""

    content: str | None
    model: str | None  # litellm model name that produced `content`
    model_id: str | None  # the policy's id for that model
    cost: float
    decision: Decision
    blocked: bool = False
    reason: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.decision.outcome == "answered"


@dataclass
class _Run:
    """Mutable state of one request while it moves through the graph."""

    decision: Decision
    messages: list[dict[str, Any]]
    extra: dict[str, Any]
    values: RequestValues
    redactor: Redactor
    transport: Transport
    stream: bool  # the caller reads the answer as a stream
    # with a reservation: the request's prompt and documents tokens its calls' prompts are held to
    reserved: tuple[int, int] | None = None
    usage_tokens: dict[str, float] = field(default_factory=dict)
    usage_usd: dict[str, float] = field(default_factory=dict)

    def charge(self, call: CallResult) -> None:
        self.usage_tokens[call.model_id] = self.usage_tokens.get(call.model_id, 0.0) + call.prompt_tokens + call.completion_tokens
        self.usage_usd[call.model_id] = self.usage_usd.get(call.model_id, 0.0) + call.cost

    def usage(self) -> Usage:
        return Usage(dict(self.usage_tokens), dict(self.usage_usd))


class Engine:
    """Runs requests through a compiled policy.

    Options: `store` (a `cascadepolicy.state` store; default: the policy's),
    `clock` (epoch seconds, injectable for tests), `decision_log` (a JSONL file
    path; None for no log; default: the policy's `audit.decision_log`), `on_warning` (called
    with the decision and each warning sentence), `transport` (where model
    calls go: `LiteLLMTransport` by default; a `MockTransport` answers them,
    and forces guardrail verdicts, for tests and offline runs), `sleep` (the
    wait before a retry, blocking; `acomplete` awaits `asyncio.sleep` unless
    this is given), `offline` (nothing leaves the process: models the
    transport does not answer fail, and checks that need the network are
    answered by the transport's verdicts or reported as not run, failing
    closed; `explain` and `test` build their engines so).
    """

    def __init__(self, policy: Policy, *, store: Store | None = None, clock: Callable[[], float] = time.time,
                 decision_log: str | None | Literal["policy"] = "policy", on_warning: Callable[[Decision, str], None] | None = None,
                 transport: Transport | None = None, sleep: Callable[[float], None] | None = None,
                 offline: bool = False) -> None:
        self.policy = policy
        spec = policy.spec
        self.clock = clock
        self.on_warning = on_warning
        self.transport = transport if transport is not None else Transport()
        self.decision_log = spec.audit.decision_log if decision_log == "policy" else decision_log
        self._log_lock = threading.Lock()
        self.offline = offline
        self.caller = ModelCaller(spec.models, policy.prices, offline=offline)
        self.detectors = Detectors(spec.features)
        self.plan = compile_plan(policy, count_tokens=text_tokens, build_check=self._check_builder())
        self.guardrails = GuardrailRunner((*self.plan.input_guards, *self.plan.output_guards), offline=offline)
        self.store = store if store is not None else _open_policy_store(policy)
        self.admitter = Admitter(policy, self.store, self.plan.limits)
        self.worst_case = WorstCase(self.plan)
        self.policy_info = {"name": spec.name, "version": spec.version, "hash": policy.content_hash, "file": policy.file}
        self.io = IO(self.transport, self.store, sleep or time.sleep, None if sleep is None else _awaitable(sleep))

    def using(self, transport: Transport) -> Engine:
        """This engine with another transport: the same plan, store and log (per-case answers in tests, replay)."""
        other = copy.copy(self)
        other.transport = transport
        other.io = IO(transport, self.store, self.io.sleep, self.io.async_sleep)
        return other

    # ------------------------------------------------------------ compile

    def _check_builder(self) -> CheckBuilder:
        """How the plan gets the validators' checks: each set linked once, on first use."""
        linked: dict[str, tuple[tuple[Check, float, bool], ...]] = {}

        def build(name: str, index: int, spec: QualityCheck) -> Check:
            if name not in linked:
                linked[name] = self._build_validators(name)
            return linked[name][index][0]
        return build

    def _build_validators(self, name: str) -> tuple[tuple[Check, float, bool], ...]:
        # The loader compiled every check (what `validate` reported on); linking adds only the judge's
        # model call and the import of the code a policy names, which validating never does.
        from cascadepolicy.loading.callables import CallableProblem, resolve

        links = Links(judge=_judged_by_the_walk, resolve=resolve)
        built = []
        for index, compiled in enumerate(self.policy.validators[name]):
            try:
                built.append((link_check(compiled.check, links), compiled.weight, compiled.required))
            except CallableProblem as exc:
                from cascadepolicy.diagnostics import Diagnostic
                from cascadepolicy.errors import PolicyError

                raise PolicyError([Diagnostic("ref-custom-callable", exc.message, self.policy.location(("validators", name, index, "function")),
                                              hint=exc.hint)]) from exc
        return tuple(built)

    def _judge(self, run: _Run, position: int, planned: PlannedStep, purpose: Purpose,
               request: JudgeRequest) -> Generator[Any, Any, tuple[str, float]]:
        """A judge's model call (a validator's, or a grounding guardrail's): (reply, cost)."""
        messages = [{"role": "user", "content": request.prompt}]
        # the plan's call for this judge: of those of one model, the largest bound (they differ only by rubric)
        calls = [c for c in planned.judges(purpose) if c.model == request.model]
        bound = max(calls, key=lambda c: c.prompt.extra) if calls else None
        call = yield from self._call(run, position, request.model, messages, "judge", bound)
        if call is None:
            raise ProviderError(f"judge model {request.model!r} failed", model=request.model)
        return call.text, call.cost

    def _with_judges(self, run: _Run, position: int, planned: PlannedStep, purpose: Purpose, steps: Steps) -> Steps:
        """Run `steps`, answering each `JudgeRequest` it yields with the judge's model call."""
        def judge(effect: Any) -> Steps | None:
            return self._judge(run, position, planned, purpose, effect) if isinstance(effect, JudgeRequest) else None
        return relay(steps, judge)

    # ------------------------------------------------------------ public API

    @overload
    def complete(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                 context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                 stream: Literal[False] = False) -> Result: ...

    @overload
    def complete(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                 context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                 stream: Literal[True]) -> StreamingResult: ...

    def complete(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                 context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                 stream: bool = False) -> Result | StreamingResult:
        """Run one request in this thread; with `stream=True` see `stream`."""
        if stream:
            return self.stream(messages, user=user, tier=tier, context=context, metadata=metadata)
        run = self._new_run(messages, user=user, tier=tier, context=context, metadata=metadata, stream=False)
        return run_walk(self._logged(run), self.io)  # type: ignore[no-any-return]

    def stream(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
               context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None) -> StreamingResult:
        """Run one request, its answer read as a stream of text (see `StreamingResult`)."""
        run = self._new_run(messages, user=user, tier=tier, context=context, metadata=metadata, stream=True)
        return StreamingResult(drive(self._logged(run), self.io))

    @overload
    async def acomplete(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                        context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                        stream: Literal[False] = False) -> Result: ...

    @overload
    async def acomplete(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                        context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                        stream: Literal[True]) -> AsyncStreamingResult: ...

    async def acomplete(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                        context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                        stream: bool = False) -> Result | AsyncStreamingResult:
        """The async twin of `complete`: model calls through `litellm.acompletion`, the store's async
        interface and `asyncio.sleep`, all on the running event loop. Cancelling the task settles
        what the request spent, or releases its reservation, exactly once. With `stream=True`
        returns an `AsyncStreamingResult` to read with `async for`."""
        if stream:
            return self.astream(messages, user=user, tier=tier, context=context, metadata=metadata)
        run = self._new_run(messages, user=user, tier=tier, context=context, metadata=metadata, stream=False)
        outcome = Outcome()
        async for _ in adrive(self._logged(run), self.io, outcome):
            pass
        return outcome.result  # type: ignore[no-any-return]

    def astream(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None) -> AsyncStreamingResult:
        """The async twin of `stream`: `async for text in engine.astream(...)`."""
        run = self._new_run(messages, user=user, tier=tier, context=context, metadata=metadata, stream=True)
        return AsyncStreamingResult(self._logged(run), self.io)

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------ the graph walk

    def _logged(self, run: _Run) -> Generator[Any, Any, Result]:
        """The walk of one request, timed and written to the decision log however it ends."""
        from cascadepolicy.providers.calls import litellm_module

        litellm_module()  # imported once per process, outside the request's latency
        started = time.perf_counter()
        try:
            return (yield from self._walk(run))
        finally:
            run.decision.latency_ms = (time.perf_counter() - started) * 1000
            self._log(run.decision)

    def _new_run(self, messages: Sequence[Mapping[str, Any]], *, user: str | None, tier: str | None,
                 context: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None, stream: bool) -> _Run:
        context = dict(context or {})
        metadata = dict(metadata or {})
        working = _check_messages(messages)
        tier = tier or _nested(context, "user", "tier") or self.policy.spec.default_tier
        decision = Decision(policy=self.policy_info, user=user, tier=tier)
        values = RequestValues(working, self.detectors, user=user, tier=tier, context=context, metadata=metadata)
        extra = {"documents": metadata.get("documents", ())}
        return _Run(decision, working, extra, values, Redactor(), self.transport, stream)

    def _walk(self, run: _Run) -> Generator[Any, Any, Result]:
        decided = yield from self._decide(run)
        if isinstance(decided, Result):
            return decided
        steps, reservation = decided
        decision = run.decision
        assert decision.admission is not None
        try:
            result = yield from self._cascade(run, steps)
        except BaseException as exc:
            # A failure, a cancelled task or a consumer that left: what was spent is settled, else
            # the reservation released, exactly once; then the exception goes on.
            if isinstance(exc, asyncio.CancelledError):
                decision.outcome, decision.reason = "error", "the caller went away before the answer was complete"
            yield from self._close_reservation(run, reservation)
            raise
        yield from self._close_reservation(run, reservation)
        if result.decision.outcome == "answered":
            decision.trace += ["settle", "answered"]
        return result

    def _close_reservation(self, run: _Run, reservation: Reservation | None) -> Generator[Any, Any, None]:
        decision = run.decision
        assert decision.admission is not None
        if not run.usage_usd:
            yield from self.admitter.release(reservation, self.clock())
        else:
            warnings, over = yield from self.admitter.settle(reservation, run.usage(), self.clock())
            decision.admission.warnings += warnings
            decision.admission.over_reserved = over
        decision.admission.settled_usd = decision.cost

    def _decide(self, run: _Run) -> Generator[Any, Any, Result | tuple[tuple[PlannedStep, ...], Reservation | None]]:
        """Everything before the first model call: request checks, input guardrails, routing and admission.

        Returns the blocked result, or the steps to run and the admission's reservation.
        """
        decision = run.decision
        decision.trace.append("start")
        refusal = self._check_request(run)
        if refusal:
            return self._blocked(run, refusal)
        reason = yield from self.guardrails.run_input(run.messages, run.extra, run.redactor, decision, run.transport)
        if reason:
            return self._blocked(run, reason)
        route = self._route(run)
        if isinstance(route, str):
            return self._blocked(run, route)
        target = route.target
        if target is None:
            decision.trace.append(route.block_node)
            return self._blocked(run, route.block or "blocked by the route")
        steps, refusal = self.plan.allowed(target, decision.tier)
        if refusal:
            return self._blocked(run, refusal)
        decision.trace.append(target.admit)
        now = self.clock()
        limited = self.admitter.applies(decision.tier)
        prompt_tokens = run.values["request.tokens"] if limited else 0
        documents = documents_tokens(run.extra["documents"], text_tokens) if limited and self.plan.grounding_judges else 0
        planned = self.admitter.plan(user=decision.user, tier=decision.tier,
                                     worst=self.worst_case(target, decision.tier, prompt_tokens, documents), now=now)
        record, reservation = yield from self.admitter.reserve(planned, now)
        degrade_to = self.admitter.degrade_target(record, planned) if planned else None
        degraded_target: PlannedTarget | None = self.plan.degrade_to.get(degrade_to) if degrade_to is not None else None
        if degraded_target is not None and degraded_target is not target:
            decision.trace.append(degraded_target.admit)
            yield from self.admitter.release(reservation, now)
            steps, refusal = self.plan.allowed(degraded_target, decision.tier)
            if refusal:
                return self._blocked(run, refusal)
            planned = self.admitter.plan(user=decision.user, tier=decision.tier,
                                         worst=self.worst_case(degraded_target, decision.tier, prompt_tokens, documents), now=now)
            degraded, reservation = yield from self.admitter.reserve(planned, now)
            degraded.degraded_to = degraded_target.id
            degraded.warnings = record.warnings + degraded.warnings
            record = degraded
            decision.route = RouteRecord(route.index, route.name, "degraded", degraded_target.record,
                                         route.location, tried=decision.route.tried if decision.route else [])
        decision.admission = record
        for warning in record.warnings:
            if self.on_warning:
                self.on_warning(decision, warning)
        if not record.admitted:
            decision.retry_after = record.retry_after
            why = f"refused by {record.refused_by}" if record.refused_by else "refused by admission"
            if record.retry_after is not None:
                why += f"; retry after {record.retry_after:.0f}s"
            return self._blocked(run, why)
        if limited and reservation is not None:
            run.reserved = (prompt_tokens, documents)
        return steps, reservation

    # ------------------------------------------------------------ nodes

    def _check_request(self, run: _Run) -> str | None:
        spec = self.policy.spec
        decision = run.decision
        if spec.tiers:
            if decision.tier is None:
                return "the request names no tier and the policy has no default_tier"
            if decision.tier not in spec.tiers:
                return f"unknown tier {decision.tier!r}; the policy defines {', '.join(spec.tiers)}"
        for name, field_spec in spec.context.items():
            present = name in run.values.given
            if isinstance(field_spec, ContextField):
                if field_spec.required and not present:
                    return f"the request has no value for the required context field {name!r}"
                if present and field_spec.enum and run.values.given[name] not in field_spec.enum:
                    return f"context field {name!r} is {run.values.given[name]!r}, not one of {', '.join(field_spec.enum)}"
        return None

    def _route(self, run: _Run) -> PlannedRoute | str:
        decision = run.decision
        tried: list[dict[str, Any]] = []
        for route in self.plan.routes:
            decision.trace.append(route.node)
            if route.condition is None:
                decision.route = RouteRecord(route.index, route.name, "default", route.record, route.location, tried=tried)
                return route
            try:
                matched = route.condition.evaluate(run.values)
            except ConditionError as exc:
                tried.append({"index": route.index, "condition": route.condition.source, "error": str(exc)})
                if route.on_error == "skip":
                    continue
                decision.route = RouteRecord(route.index, route.name, "conditional", route.record, route.location,
                                             route.condition.source, tried=tried)
                return f"route {route.index + 1} ({route.location}): {exc}"
            if matched:
                decision.route = RouteRecord(route.index, route.name, "conditional", route.record, route.location,
                                             route.condition.source, route.condition.trace(run.values), tried)
                return route
            tried.append({"index": route.index, "condition": route.condition.source, "matched": False,
                          "values": route.condition.trace(run.values)})
        return "no route matched"  # unreachable: validation requires a default route

    def _call(self, run: _Run, step: int, model_id: str, messages: list[dict[str, Any]], purpose: str,
              planned: Call | None, stream: bool = False) -> Generator[Any, Any, CallResult | None]:
        if run.reserved is not None:
            refusal = self._over_reserved(run.reserved, planned, messages)
            if refusal is not None:
                spec = self.policy.spec.models[model_id]
                run.decision.calls.append(ModelCall(step, model_id, spec.model, purpose, "error", error=refusal))
                return None
        in_flight: list[Send] = []  # the attempt on its way, if the caller goes away during it

        def watch(effect: Any) -> None:
            in_flight[:] = [effect] if isinstance(effect, Send) else []
        try:
            result = yield from relay(self.caller.call(model_id, messages, transport=run.transport, stream=stream,
                                                       allowed=self.plan.tier_models.get(run.decision.tier or "")), watch)
        except asyncio.CancelledError:
            if in_flight:
                self._charge_in_flight(run, step, in_flight[0].model_id, in_flight[0].kwargs["messages"], purpose)
            raise
        except ProviderError as exc:
            attempts = [a.__dict__ for a in getattr(exc, "attempts", [])]
            spec = self.policy.spec.models[model_id]
            billed: CallResult | None = getattr(exc, "billed", None)  # a stream cut after some output
            if billed is None:
                run.decision.calls.append(ModelCall(step, model_id, spec.model, purpose, "error", error=str(exc), attempts=attempts))
                return None
            run.decision.calls.append(ModelCall(step, billed.model_id, billed.litellm_model, purpose, "error", billed.prompt_tokens,
                                                billed.completion_tokens, billed.cost, billed.latency_ms, str(exc), attempts,
                                                list(billed.anomalies)))
            run.charge(billed)
            run.decision.cost += billed.cost
            return None
        attempts = [a.__dict__ for a in result.attempts]
        run.decision.calls.append(ModelCall(step, result.model_id, result.litellm_model, purpose, "ok", result.prompt_tokens,
                                            result.completion_tokens, result.cost, result.latency_ms, attempts=attempts,
                                            anomalies=list(result.anomalies)))
        run.charge(result)
        run.decision.cost += result.cost
        return result

    def _charge_in_flight(self, run: _Run, step: int, model_id: str, messages: list[dict[str, Any]], purpose: str) -> None:
        """A call the caller went away from: billed at its worst case (the provider may finish the answer)."""
        spec = self.policy.spec.models[model_id]
        prompt, completion = count_prompt_tokens(messages), spec.max_tokens
        cost = self.policy.prices[model_id].cost(prompt, completion)
        run.decision.calls.append(ModelCall(step, model_id, spec.model, purpose, "cancelled", prompt, completion, cost,
                                            error="the caller went away during the call; billed at its worst case"))
        run.charge(CallResult(model_id, spec.model, "", prompt, completion, cost, 0.0, None, None))
        run.decision.cost += cost

    @staticmethod
    def _over_reserved(reserved: tuple[int, int], planned: Call | None, messages: list[dict[str, Any]]) -> str | None:
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

    def _cascade(self, run: _Run, steps: tuple[PlannedStep, ...]) -> Generator[Any, Any, Result]:
        decision = run.decision
        previous: CallResult | None = None
        previous_reason: str | None = None
        complexity: str | None = None
        for position, step in enumerate(steps):
            last = position == len(steps) - 1
            decision.trace.append(step.node)
            messages = list(run.messages)
            if step.pass_draft and previous is not None:
                # the reason quotes checks, guardrails and provider errors: clipped, as the plan reserves
                reason = clip_tokens(previous_reason or "", REASON_MAX_TOKENS)
                messages += [{"role": "assistant", "content": previous.text},
                             {"role": "user", "content": clip_tokens(ESCALATION_MESSAGE.format(reason=reason), FEEDBACK_MAX_TOKENS)}]
            live = last and run.stream and not step.accept and not self.guardrails.output
            reasks = 0
            while True:
                planned = step.reask(reasks) if reasks <= step.max_reasks else None
                call = yield from self._call(run, position, step.model, messages, "draft" if reasks == 0 else "reask", planned, live)
                if call is None:
                    previous_reason = f"step {position + 1} ({step.model}) failed: {decision.calls[-1].error}"
                    break
                outcome = (yield from self._with_judges(run, position, step, "grounding", self.guardrails.run_output(
                    call.text, position, run.extra, run.redactor, decision, reasks, run.transport))) if step.guardrails else None
                if outcome is not None and outcome.action == "reask":
                    reasks += 1
                    feedback = clip_tokens(outcome.feedback or REASK_FALLBACK_MESSAGE, FEEDBACK_MAX_TOKENS)
                    messages = messages + [{"role": "assistant", "content": call.text}, {"role": "user", "content": feedback}]
                    continue
                break
            if call is None:
                if last:
                    return self._failed(run, previous_reason or "the model call failed")
                decision.validations.append(Validation(position, step.model, 0.0, None, False, escalation_reason=previous_reason))
                continue
            if outcome is not None and outcome.action == "block":
                return self._blocked(run, outcome.reason or "blocked by an output guardrail")
            if outcome is not None and outcome.action == "escalate":
                reason = f"rejected by {outcome.reason}"
                if last:
                    return self._blocked(run, f"the last step's answer was {reason}")
                decision.validations.append(Validation(position, step.model, 0.0, None, False, escalation_reason=reason))
                previous, previous_reason = call, reason
                continue
            text = outcome.text if outcome is not None else call.text
            if step.accept:
                if complexity is None:
                    complexity = str(run.values["request.complexity"])
                threshold = step.accept.threshold(complexity)
                draft = Draft(text, last_user_text(run.messages), call.logprobs, complexity)
                composite = yield from self._with_judges(run, position, step, "judge", scoring(step.accept.built, draft))
                decision.trace.append(step.accept.node)
                accepted = composite.score >= threshold
                # Check details may quote the answer: the record keeps them with PII masked.
                mask = functools.partial(self.guardrails.mask_record, redactor=run.redactor)
                rejection = None if accepted else mask(_escalation_reason(composite, threshold))
                decision.validations.append(Validation(position, step.model, round(composite.score, 4), threshold, accepted,
                                                       [_check_record(r, mask) for r in composite.results],
                                                       composite.gate_failed, None if last else rejection))
                if not accepted and not last:
                    previous, previous_reason = call, rejection
                    continue
            return self._answered(run, call, text)
        return self._failed(run, previous_reason or "no step produced an answer")

    # ------------------------------------------------------------ endings

    def _answered(self, run: _Run, call: CallResult, text: str) -> Result:
        decision = run.decision
        decision.outcome = "answered"
        if self.policy.spec.audit.include_text:
            # What the model received is unchanged; the record's copy has every PII finding masked.
            decision.messages = [self.guardrails.mask_record_message(m, run.redactor) for m in run.messages]
            decision.answer = self.guardrails.mask_record(text, run.redactor)
        decision.final_model = call.litellm_model
        decision.final_model_id = call.model_id
        return Result(text, call.litellm_model, call.model_id, decision.cost, decision)

    def _blocked(self, run: _Run, reason: str) -> Result:
        decision = run.decision
        decision.trace.append("blocked")
        decision.outcome = "blocked"
        decision.reason = reason
        return Result(None, None, None, decision.cost, decision, blocked=True, reason=reason, retry_after=decision.retry_after)

    def _failed(self, run: _Run, reason: str) -> Result:
        decision = run.decision
        decision.trace.append("failed")
        decision.outcome = "error"
        decision.reason = reason
        return Result(None, None, None, decision.cost, decision, reason=reason)

    def _log(self, decision: Decision) -> None:
        if not self.decision_log:
            return
        line = decision.to_json()
        with self._log_lock, open(self.decision_log, "a", encoding="utf-8") as sink:
            sink.write(line + "\n")


class StreamingResult:
    """Iterate to receive the answer's text as it is produced; the request runs as you iterate.

    Drafts that must pass validation or output guardrails are buffered until
    they are accepted and then delivered in one piece; a final step with no
    checks is streamed chunk by chunk as the provider sends it. After the
    iteration, `result` holds the full `Result` with its decision record.
    Closing the iterator early (or leaving a `for` loop) settles what the
    request spent, or releases its reservation.
    """

    def __init__(self, steps: Generator[str, None, Result]) -> None:
        self._steps = steps
        self.result: Result | None = None

    def __iter__(self) -> Iterator[str]:
        streamed = False
        try:
            while True:
                try:
                    text = next(self._steps)
                except StopIteration as done:
                    self.result = done.value
                    break
                streamed = True
                yield text
        finally:
            self._steps.close()  # a consumer that left early: the walk settles (drivers.drive)
        if not streamed and self.result is not None and self.result.content:
            yield self.result.content  # a buffered (validated) answer is delivered whole


class AsyncStreamingResult:
    """`async for text in engine.astream(...)`: `StreamingResult` on the event loop."""

    def __init__(self, walk: Steps, io: IO) -> None:
        self._outcome = Outcome()
        self._steps = adrive(walk, io, self._outcome)
        self.result: Result | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        streamed = False
        try:
            async for text in self._steps:
                streamed = True
                yield text
        finally:
            await self._steps.aclose()
        self.result = self._outcome.result
        if not streamed and self.result is not None and self.result.content:
            yield self.result.content


def _awaitable(sleep: Callable[[float], Any]) -> Callable[[float], Any]:
    async def wait(seconds: float) -> None:
        sleep(seconds)
    return wait


def _judged_by_the_walk(model: str, prompt: str) -> tuple[str, float]:
    raise AssertionError("an engine's judge calls are model calls of the walk (Engine._judge), never direct")


def _open_policy_store(policy: Policy) -> Store:
    from cascadepolicy.state import open_store

    store = policy.spec.store
    if store.kind == "sqlite":
        import os

        directory = os.path.dirname(store.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        return open_store("sqlite", path=store.path)
    if store.kind == "redis":
        return open_store("redis", url=store.url, key_prefix=store.key_prefix)
    return open_store("memory")


def _check_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence) or not messages:
        raise RequestError("messages must be a non-empty list of {'role': ..., 'content': ...} mappings")
    working = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message:
            raise RequestError(f"message {index} must be a mapping with a 'role' and 'content'")
        # Redaction and reasks replace a message's content, never edit it in place; a text
        # message needs only its own dict, so the caller's messages stay untouched.
        working.append(dict(message) if isinstance(message.get("content"), str) else copy.deepcopy(dict(message)))
    return working


def _nested(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def _check_record(result: Any, mask: Callable[[str], str]) -> dict[str, Any]:
    return {"check": result.check, "score": round(result.score, 4), "passed": result.passed, "skipped": result.skipped,
            "detail": mask(result.detail) if isinstance(result.detail, str) else result.detail, "cost": result.cost}


def _escalation_reason(composite: CompositeScore, threshold: float) -> str:
    if composite.gate_failed:
        failed = next((r for r in composite.results if r.check == composite.gate_failed), None)
        return f"required check {composite.gate_failed!r} failed" + (f": {failed.detail}" if failed and failed.detail else "")
    weak = [r for r in composite.results if not r.passed and not r.skipped]
    detail = "; ".join(f"{r.check}: {r.detail}" for r in weak[:3])
    return f"score {composite.score:.2f} below {threshold:.2f}" + (f" ({detail})" if detail else "")


__all__ = ["AsyncStreamingResult", "Engine", "Result", "StreamingResult"]
