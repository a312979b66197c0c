"""The engine: a policy compiled once, and the request path composed from its nodes.

    Engine.completion / acompletion (runtime.surface) · complete / stream / acomplete / astream
      └─ walk: request checks (runtime.request) → input guardrails (runtime.guards) → route (runtime.routing)
               → admission: reserve the worst case (runtime.admission) → cascade steps: call → output
               guardrails → validate → accept or escalate (runtime.cascade) → settle or release
               → answered · blocked · failed (runtime.results)
         then: a shadow policy's decision path (runtime.shadow) → decision log → spans and
               metrics (runtime.telemetry) → alert webhooks (runtime.alerts)

The engine is built once per policy (`policy.engine()`): it compiles the
policy's plan (`cascadepolicy.compile.plan`: routes, targets, steps and every
call a step may make), links the code the policy names (`runtime.link`),
opens the store, and composes the nodes above into one walk, so every node id
in a decision's trace is a plan node, drawn by `graph` with the source
location of its policy element. Each request yields exactly one `Decision`;
the model it names as final is the model whose answer is returned. Fail
closed: an unknown tier, a condition that cannot be evaluated, an unreachable
store or a failing guardrail refuse the request with a reason unless the
policy opts out.

One implementation of the request path serves the blocking and the async API:
the walk (`_walk` and the nodes it calls) is a generator that yields effects
(`cascadepolicy.effects`: send a model call, call the store, sleep before a
retry, run blocking code) and never performs I/O itself; `complete` runs it
with the blocking driver and `acomplete` with the async one
(`runtime.drivers`), and `stream`/`astream` hand it to the consumer's
iteration (`runtime.streaming`). Model calls go through the engine's transport
(`providers.transport`), which is also where tests give answers in advance.
"""

from __future__ import annotations

import asyncio
import copy
import os
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from cascadepolicy.compile.plan import PlannedStep, compile_plan
from cascadepolicy.compile.worst_case import WorstCase
from cascadepolicy.errors import RequestError, StoreError
from cascadepolicy.providers.calls import ModelCaller
from cascadepolicy.providers.transport import Transport
from cascadepolicy.runtime.admission import Admission, Admitter, Reservation
from cascadepolicy.runtime.alerts import Alerts
from cascadepolicy.runtime.cascade import Cascade
from cascadepolicy.runtime.decision import Decision
from cascadepolicy.runtime.drivers import IO, Outcome, adrive, drive
from cascadepolicy.runtime.drivers import run as run_walk
from cascadepolicy.runtime.features import Detectors, text_tokens
from cascadepolicy.runtime.guards import GuardrailRunner
from cascadepolicy.runtime.link import Linker
from cascadepolicy.runtime.request import Request, check_params, check_request
from cascadepolicy.runtime.results import Result, blocked
from cascadepolicy.runtime.routing import route
from cascadepolicy.runtime.shadow import Shadow
from cascadepolicy.runtime.shadow import bind as bind_shadow
from cascadepolicy.runtime.streaming import AsyncStreamingResult, StreamingResult
from cascadepolicy.runtime.surface import (
    AsyncCompletionStream,
    CompletionStream,
    response_of,
    stream_usage,
)
from cascadepolicy.runtime.telemetry import Telemetry, telemetry_option
from cascadepolicy.state.base import Store

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy


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
    closed; `explain` and `test` build their engines so), `telemetry` (OpenTelemetry traces and
    metrics, `runtime.telemetry`: None for the global providers once the application sets one,
    a `Telemetry` with explicit providers, or False for none), `shadow` (a candidate policy, loaded, or
    a `runtime.shadow.Shadow`: its decision path runs beside each request, never calling a model, and
    `decision.shadow` records how it differs).
    """

    def __init__(self, policy: Policy, *, store: Store | None = None, clock: Callable[[], float] = time.time,
                 decision_log: str | None | Literal["policy"] = "policy", on_warning: Callable[[Decision, str], None] | None = None,
                 transport: Transport | None = None, sleep: Callable[[float], None] | None = None,
                 offline: bool = False, telemetry: Telemetry | bool | None = None,
                 shadow: Shadow | Policy | None = None) -> None:
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
        self.linker = Linker(policy)
        self.plan = compile_plan(policy, count_tokens=text_tokens, build_check=self.linker.build_check)
        self.guardrails = GuardrailRunner((*self.plan.input_guards, *self.plan.output_guards), offline=offline,
                                          resolve=self.linker.guardrail_function)
        self.store = store if store is not None else _open_policy_store(policy)
        self.admission = Admission(self.plan, Admitter(policy, self.store, self.plan.limits), WorstCase(self.plan), clock, on_warning)
        self.cascade = Cascade(self.caller, self.guardrails, self.plan.tier_models, spec.audit.include_text)
        self.policy_info = {"name": spec.name, "version": spec.version, "hash": policy.content_hash, "file": policy.file}
        self.io = IO(self.transport, self.store, sleep or time.sleep, None if sleep is None else _awaitable(sleep))
        self.telemetry = telemetry_option(telemetry)
        self.shadow = bind_shadow(shadow, self) if shadow is not None else None
        self.alerts = Alerts(policy, self.plan.limits, clock, offline=offline)

    def using(self, transport: Transport) -> Engine:
        """This engine with another transport: the same plan, store and log (per-case answers in tests, replay)."""
        other = copy.copy(self)
        other.transport = transport
        other.io = IO(transport, self.store, self.io.sleep, self.io.async_sleep)
        return other

    # ------------------------------------------------------------ the OpenAI-shaped API

    @overload
    def completion(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                   context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                   model: str | None = None, stream: Literal[False] = False, **params: Any) -> Any: ...

    @overload
    def completion(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                   context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                   model: str | None = None, stream: Literal[True], **params: Any) -> CompletionStream: ...

    def completion(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                   context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                   model: str | None = None, stream: bool = False, **params: Any) -> Any:
        """Run one request as `litellm.completion` would: returns the answering call's `ModelResponse`
        (`decision_of(response)` is its decision); raises `Blocked` when the policy refuses it and the
        provider's error (with `.decision`) when no step could answer. `params` are chat-completion
        parameters (`tools`, `response_format`, `temperature`, ...) passed through to the models, as
        the tier allows; `model` is a hint conditions read as `request.model`, never a bypass of
        routing. With `stream=True`, a `CompletionStream` of OpenAI-shaped chunks (`stream_options=
        {"include_usage": True}` ends it with the usage chunk)."""
        include_usage = _stream_options(params, stream)
        request = self._new_request(messages, user=user, tier=tier, context=context, metadata=metadata, stream=stream,
                                    model=model, params=params)
        if stream:
            return CompletionStream(drive(self._logged(request), self.io), request, include_usage=include_usage)
        return response_of(run_walk(self._logged(request), self.io), request)

    async def acompletion(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                          context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                          model: str | None = None, stream: bool = False, **params: Any) -> Any:
        """The async twin of `completion`; with `stream=True` an `AsyncCompletionStream` for `async for`."""
        include_usage = _stream_options(params, stream)
        request = self._new_request(messages, user=user, tier=tier, context=context, metadata=metadata, stream=stream,
                                    model=model, params=params)
        if stream:
            return AsyncCompletionStream(self._logged(request), self.io, request, include_usage=include_usage)
        outcome = Outcome()
        async for _ in adrive(self._logged(request), self.io, outcome):
            pass
        return response_of(outcome.result, request)

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
        request = self._new_request(messages, user=user, tier=tier, context=context, metadata=metadata, stream=False)
        return run_walk(self._logged(request), self.io)  # type: ignore[no-any-return]

    def stream(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
               context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None) -> StreamingResult:
        """Run one request, its answer read as a stream of text (see `StreamingResult`)."""
        request = self._new_request(messages, user=user, tier=tier, context=context, metadata=metadata, stream=True)
        return StreamingResult(drive(self._logged(request), self.io))

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
        request = self._new_request(messages, user=user, tier=tier, context=context, metadata=metadata, stream=False)
        outcome = Outcome()
        async for _ in adrive(self._logged(request), self.io, outcome):
            pass
        return outcome.result  # type: ignore[no-any-return]

    def astream(self, messages: Sequence[Mapping[str, Any]], *, user: str | None = None, tier: str | None = None,
                context: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None) -> AsyncStreamingResult:
        """The async twin of `stream`: `async for text in engine.astream(...)`."""
        request = self._new_request(messages, user=user, tier=tier, context=context, metadata=metadata, stream=True)
        return AsyncStreamingResult(self._logged(request), self.io)

    def close(self) -> None:
        self.alerts.close()
        self.store.close()

    # ------------------------------------------------------------ the walk

    def _new_request(self, messages: Sequence[Mapping[str, Any]], *, user: str | None, tier: str | None,
                     context: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None, stream: bool,
                     model: str | None = None, params: Mapping[str, Any] | None = None) -> Request:
        request = Request.start(messages, user=user, tier=tier, context=context, metadata=metadata, stream=stream,
                                default_tier=self.policy.spec.default_tier, policy_info=self.policy_info,
                                detectors=self.detectors, transport=self.transport, model=model, params=params)
        check_params(self.policy.spec, request)
        request.telemetry = self.telemetry.start(request)  # here, in the caller's context: its span is the parent
        if self.shadow is not None:  # the candidate's request, from the caller's messages before any redaction
            request.shadow = self.shadow.start(self, messages, user=user, tier=tier, context=context, metadata=metadata,
                                               stream=stream, model=model, params=params)
        return request

    def _logged(self, request: Request) -> Generator[Any, Any, Result]:
        """The walk of one request, timed and written to the decision log however it ends."""
        from cascadepolicy.providers.calls import litellm_module

        litellm_module()  # imported once per process, outside the request's latency
        started = time.perf_counter()
        try:
            result = yield from self._walk(request)
            if request.shadow is not None:  # the live request has its answer: now the candidate's decision path
                yield from request.shadow.observe(request)
            return result
        finally:
            request.decision.latency_ms = (time.perf_counter() - started) * 1000
            self._log(request.decision)
            if request.telemetry is not None:
                request.telemetry.finish(request.decision)
            self.alerts.observe(request.decision)

    def _walk(self, request: Request) -> Generator[Any, Any, Result]:
        decided = yield from self._decide(request)
        if isinstance(decided, Result):
            return decided
        steps, reservation = decided
        decision = request.decision
        assert decision.admission is not None
        try:
            result = yield from self.cascade.run(request, steps)
        except BaseException as exc:
            # A failure, a cancelled task or a consumer that left: what was spent is settled, else
            # the reservation released, exactly once; then the exception goes on.
            if isinstance(exc, asyncio.CancelledError):
                decision.outcome, decision.reason = "error", "the caller went away before the answer was complete"
            yield from self.admission.close(request, reservation)
            raise
        yield from self.admission.close(request, reservation)
        if result.decision.outcome == "answered":
            decision.trace += ["settle", "answered"]
        return result

    def _decide(self, request: Request) -> Generator[Any, Any, Result | tuple[tuple[PlannedStep, ...], Reservation | None]]:
        """Everything before the first model call: request checks, input guardrails, routing and admission.

        Returns the blocked result, or the steps to run and the admission's reservation.
        """
        decision = request.decision
        decision.trace.append("start")
        refusal = check_request(self.policy.spec, request)
        if refusal:
            return blocked(request, refusal)
        reason = yield from self.guardrails.run_input(request.messages, request.extra, request.redactor, decision, request.transport)
        if reason:
            return blocked(request, reason)
        chosen = route(self.plan.routes, request)
        if isinstance(chosen, str):
            return blocked(request, chosen)
        target = chosen.target
        if target is None:
            decision.trace.append(chosen.block_node)
            return blocked(request, chosen.block or "blocked by the route")
        admitted = yield from self.admission.admit(request, chosen, target)
        if isinstance(admitted, str):
            return blocked(request, admitted)
        return admitted

    def _log(self, decision: Decision) -> None:
        if not self.decision_log:
            return
        line = decision.to_json()
        with self._log_lock, open(self.decision_log, "a", encoding="utf-8") as sink:
            sink.write(line + "\n")


def _stream_options(params: dict[str, Any], stream: bool) -> bool:
    """Take `stream_options` out of a request's parameters: whether its stream ends with the usage chunk."""
    options = params.pop("stream_options", None)
    if options is not None and not stream:
        raise RequestError("stream_options is only allowed with stream=True")
    return stream_usage(options)


def _awaitable(sleep: Callable[[float], Any]) -> Callable[[float], Any]:
    async def wait(seconds: float) -> None:
        sleep(seconds)
    return wait


def _open_policy_store(policy: Policy) -> Store:
    from cascadepolicy.state import open_store

    store = policy.spec.store
    if store.kind == "sqlite":
        directory = os.path.dirname(store.path)
        if directory:
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                where = policy.location(("store", "path"))
                raise StoreError(f"{f'{where}: ' if where else ''}the directory {directory!r} of the SQLite store "
                                 f"{store.path!r} cannot be created ({exc.strerror or exc}); create it, or set `store.path` "
                                 "to a file in a directory this process may write to.") from exc
        return open_store("sqlite", path=store.path)
    if store.kind == "redis":
        return open_store("redis", url=store.url, key_prefix=store.key_prefix)
    return open_store("memory")


__all__ = ["AsyncStreamingResult", "Engine", "Result", "StreamingResult"]
