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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import functools
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

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
from cascadepolicy.errors import ConditionError, ProviderError, RequestError
from cascadepolicy.guardrails.redaction import Redactor
from cascadepolicy.language.model import ContextField, QualityCheck
from cascadepolicy.providers.calls import CallResult, MockAnswer, ModelCaller
from cascadepolicy.quality.base import Check, CompositeScore, Draft, Links
from cascadepolicy.quality.composite import score_draft
from cascadepolicy.quality.registry import link_check
from cascadepolicy.runtime.admission import Admitter, Reservation
from cascadepolicy.runtime.decision import Decision, ModelCall, RouteRecord, Validation
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
    mocks: Mapping[str, MockAnswer] | None
    stream_to: Callable[[str], None] | None
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
    with the decision and each warning sentence), `mocks` (model id or litellm
    model name → answer text or exception, for offline runs), `sleep` (for
    retry backoff), `async_workers` (threads serving `acomplete`), `offline`
    (nothing leaves the process: models without a mock fail, and checks that
    need the network are answered by `guardrail_verdicts` or reported as not
    run, failing closed; `explain` and `test` build their engines so).
    """

    def __init__(self, policy: Policy, *, store: Store | None = None, clock: Callable[[], float] = time.time,
                 decision_log: str | None | Literal["policy"] = "policy", on_warning: Callable[[Decision, str], None] | None = None,
                 mocks: Mapping[str, MockAnswer] | None = None, sleep: Callable[[float], None] = time.sleep,
                 async_workers: int = 64, offline: bool = False) -> None:
        self.policy = policy
        spec = policy.spec
        self.clock = clock
        self.on_warning = on_warning
        self.mocks = mocks
        self.decision_log = spec.audit.decision_log if decision_log == "policy" else decision_log
        self._log_lock = threading.Lock()
        self._local = threading.local()  # the request a judge call belongs to, per thread
        self.async_workers = async_workers
        self._async_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.offline = offline
        self.caller = ModelCaller(spec.models, policy.prices, sleep=sleep, offline=offline)
        self.detectors = Detectors(spec.features)
        self.plan = compile_plan(policy, count_tokens=text_tokens, build_check=self._check_builder())
        self.guardrails = GuardrailRunner((*self.plan.input_guards, *self.plan.output_guards), self._judge_fn, offline=offline)
        self.store = store if store is not None else _open_policy_store(policy)
        self.admitter = Admitter(policy, self.store, self.plan.limits)
        self.worst_case = WorstCase(self.plan)
        self.policy_info = {"name": spec.name, "version": spec.version, "hash": policy.content_hash, "file": policy.file}

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

        links = Links(judge=self._judge_fn, resolve=resolve)
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

    def _judge_fn(self, model_id: str, prompt: str) -> tuple[str, float]:
        run: _Run = self._local.run
        position: int = self._local.step
        planned: PlannedStep = self._local.planned
        purpose: Purpose = self._local.purpose  # a validator's judge, or a grounding guardrail's
        messages = [{"role": "user", "content": prompt}]
        # the plan's call for this judge: of those of one model, the largest bound (they differ only by rubric)
        calls = [c for c in planned.judges(purpose) if c.model == model_id]
        bound = max(calls, key=lambda c: c.prompt.extra) if calls else None
        call = self._call(run, position, model_id, messages, "judge", bound)
        if call is None:
            raise ProviderError(f"judge model {model_id!r} failed", model=model_id)
        return call.text, call.cost

    # ------------------------------------------------------------ public API

    def complete(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                 context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                 mocks: Mapping[str, MockAnswer] | None = None, stream: bool = False,
                 guardrail_verdicts: Mapping[str, Any] | None = None) -> Any:
        """Run one request. With `stream=True` returns a `StreamingResult` to iterate.

        `mocks` answers model calls offline (model id or litellm name → text or
        exception); `guardrail_verdicts` forces guardrail outcomes by rule id
        (True/False, a Verdict, or an exception) — both for tests and `explain`.
        """
        options: dict[str, Any] = dict(user=user, tier=tier, context=context, metadata=metadata, mocks=mocks,
                                       verdicts=guardrail_verdicts)
        if stream:
            return StreamingResult(self, messages, options)
        return self._complete(messages, stream_to=None, **options)

    async def acomplete(self, messages: Sequence[Mapping[str, Any]], **kwargs: Any) -> Result:
        """The async twin of `complete`; the request runs in one of the engine's worker threads.

        The engine has its own pool (`async_workers`, default 64) rather than
        asyncio's default one, which allows only a handful of requests in
        flight on a small machine while each waits for its provider.
        """
        if self._async_pool is None:
            with self._log_lock:
                if self._async_pool is None:
                    self._async_pool = concurrent.futures.ThreadPoolExecutor(self.async_workers, "cascadepolicy-async")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._async_pool, functools.partial(self.complete, messages, **kwargs))

    def close(self) -> None:
        if self._async_pool is not None:
            self._async_pool.shutdown(wait=False)
        self.store.close()

    # ------------------------------------------------------------ the graph walk

    def _complete(self, messages: Sequence[Mapping[str, Any]], *, user: str | None, tier: str | None,
                  context: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None,
                  mocks: Mapping[str, MockAnswer] | None, stream_to: Callable[[str], None] | None,
                  verdicts: Mapping[str, Any] | None = None) -> Result:
        from cascadepolicy.providers.calls import litellm_module

        litellm_module()  # imported once per process, outside the request's latency
        started = time.perf_counter()
        run = self._new_run(messages, user=user, tier=tier, context=context, metadata=metadata, mocks=mocks,
                            stream_to=stream_to, verdicts=verdicts)
        decision = run.decision
        try:
            result = self._walk(run)
        finally:
            decision.latency_ms = (time.perf_counter() - started) * 1000
        self._log(decision)
        return result

    def _new_run(self, messages: Sequence[Mapping[str, Any]], *, user: str | None, tier: str | None,
                 context: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None,
                 mocks: Mapping[str, MockAnswer] | None = None, stream_to: Callable[[str], None] | None = None,
                 verdicts: Mapping[str, Any] | None = None) -> _Run:
        context = dict(context or {})
        metadata = dict(metadata or {})
        working = _check_messages(messages)
        tier = tier or _nested(context, "user", "tier") or self.policy.spec.default_tier
        decision = Decision(policy=self.policy_info, user=user, tier=tier)
        values = RequestValues(working, self.detectors, user=user, tier=tier, context=context, metadata=metadata)
        extra = {"documents": metadata.get("documents", ()), "verdicts": dict(verdicts or {})}
        return _Run(decision, working, extra, values, Redactor(), mocks if mocks is not None else self.mocks, stream_to)

    def _walk(self, run: _Run) -> Result:
        decided = self._decide(run)
        if isinstance(decided, Result):
            return decided
        steps, reservation = decided
        decision = run.decision
        assert decision.admission is not None
        try:
            result = self._cascade(run, steps)
        except BaseException:
            self.admitter.release(reservation, self.clock())
            raise
        if not run.usage_usd:
            self.admitter.release(reservation, self.clock())
        else:
            warnings, over = self.admitter.settle(reservation, run.usage(), self.clock())
            decision.admission.warnings += warnings
            decision.admission.over_reserved = over
        decision.admission.settled_usd = decision.cost
        if result.decision.outcome == "answered":
            decision.trace += ["settle", "answered"]
        return result

    def _decide(self, run: _Run) -> Result | tuple[tuple[PlannedStep, ...], Reservation | None]:
        """Everything before the first model call: request checks, input guardrails, routing and admission.

        Returns the blocked result, or the steps to run and the admission's reservation.
        """
        decision = run.decision
        decision.trace.append("start")
        refusal = self._check_request(run)
        if refusal:
            return self._blocked(run, refusal)
        reason = self.guardrails.run_input(run.messages, run.extra, run.redactor, decision)
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
        record, reservation = self.admitter.reserve(planned, now)
        degrade_to = self.admitter.degrade_target(record, planned) if planned else None
        degraded_target: PlannedTarget | None = self.plan.degrade_to.get(degrade_to) if degrade_to is not None else None
        if degraded_target is not None and degraded_target is not target:
            decision.trace.append(degraded_target.admit)
            self.admitter.release(reservation, now)
            steps, refusal = self.plan.allowed(degraded_target, decision.tier)
            if refusal:
                return self._blocked(run, refusal)
            planned = self.admitter.plan(user=decision.user, tier=decision.tier,
                                         worst=self.worst_case(degraded_target, decision.tier, prompt_tokens, documents), now=now)
            degraded, reservation = self.admitter.reserve(planned, now)
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
              planned: Call | None, stream_to: Callable[[str], None] | None = None) -> CallResult | None:
        if run.reserved is not None:
            refusal = self._over_reserved(run.reserved, planned, messages)
            if refusal is not None:
                spec = self.policy.spec.models[model_id]
                run.decision.calls.append(ModelCall(step, model_id, spec.model, purpose, "error", error=refusal))
                return None
        try:
            result = self.caller.call(model_id, messages, mocks=run.mocks, stream_to=stream_to,
                                      allowed=self.plan.tier_models.get(run.decision.tier or ""))
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

    def _cascade(self, run: _Run, steps: tuple[PlannedStep, ...]) -> Result:
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
            live = run.stream_to if (last and run.stream_to and not step.accept and not self.guardrails.output) else None
            reasks = 0
            while True:
                planned = step.reask(reasks) if reasks <= step.max_reasks else None
                call = self._call(run, position, step.model, messages, "draft" if reasks == 0 else "reask", planned, live)
                if call is None:
                    previous_reason = f"step {position + 1} ({step.model}) failed: {decision.calls[-1].error}"
                    break
                self._local.run, self._local.step, self._local.planned, self._local.purpose = run, position, step, "grounding"
                outcome = self.guardrails.run_output(call.text, position, run.extra, run.redactor, decision, reasks) \
                    if step.guardrails else None
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
                self._local.run, self._local.step, self._local.planned, self._local.purpose = run, position, step, "judge"
                composite = score_draft(step.accept.built, Draft(text, last_user_text(run.messages), call.logprobs, complexity))
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
    """Iterate to receive the answer's text as it is produced.

    Drafts that must pass validation or output guardrails are buffered until
    they are accepted and then delivered in one piece; a final step with no
    checks is streamed token by token as the provider sends it. After the
    iteration, `result` holds the full `Result` with its decision record.
    """

    _DONE = object()

    def __init__(self, engine: Engine, messages: Sequence[Mapping[str, Any]], kwargs: dict[str, Any]) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._streamed: list[str] = []
        self.result: Result | None = None
        self._error: BaseException | None = None

        def work() -> None:
            try:
                self.result = engine._complete(messages, stream_to=self._emit, **kwargs)
            except BaseException as exc:  # handed to the iterating thread
                self._error = exc
            finally:
                self._queue.put(self._DONE)

        self._thread = threading.Thread(target=work, name="cascadepolicy-stream", daemon=True)
        self._thread.start()

    def _emit(self, chunk: str) -> None:
        self._streamed.append(chunk)
        self._queue.put(chunk)

    def __iter__(self) -> Iterator[str]:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                break
            yield item
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self.result is not None
        if not self._streamed and self.result.content:
            yield self.result.content  # a buffered (validated) answer is delivered whole


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


__all__ = ["Engine", "Result", "StreamingResult"]
