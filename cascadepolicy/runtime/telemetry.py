"""OpenTelemetry traces and metrics of each request, built from its decision record.

    Engine._new_request ─▶ start: the `cascadepolicy.request` span, child of the caller's current span
    walk (guardrails, route, admission, cascade: decides and fills the decision record) ...
    Engine._logged, however the walk ends ─▶ finish(decision): the request span's attributes, one child
        span per model call (GenAI conventions), per guardrail verdict and for admission, from the record's
        own timestamps; then the metrics; then the request span ends

The walk is a generator that the blocking driver, the async driver or a
stream's consumer resumes, possibly across threads and awaits, so no span is
ever made current inside it: the request span is started where the request
is made (its parent is the application's current span, so the request joins
the application's trace), and its children are created at the end with that
span as their explicit parent and the start and end times the decision
record kept. The one place a live span is handed on is each model call's
litellm `metadata` (`litellm_parent_otel_span`, by `runtime.cascade.identity`),
so litellm's own OpenTelemetry callback nests its spans under the request.

OpenTelemetry is optional (`pip install cascadepolicy[otel]`, the
application brings the SDK and its exporters). By default an engine uses the
global tracer and meter providers, and only once the application has set one:
until then (and always when opentelemetry is not installed) nothing is
imported and a request costs one dictionary look-up. `Telemetry(...)` with
explicit providers is for applications (and tests) that do not use the
globals; `telemetry=False` turns it off.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cascadepolicy.runtime.decision import Decision, ModelCall
    from cascadepolicy.runtime.request import Request

INSTRUMENTATION = "cascadepolicy"
MAX_LIMIT_KEYS = 1000  # budget utilisation gauges: the most recently seen limit keys kept
# The GenAI conventions' advisory bucket boundaries (gen_ai.client.token.usage, gen_ai.client.operation.duration).
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)

_log = logging.getLogger(__name__)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _version() -> str | None:
    """The installed package's version (read from its metadata: importing `cascadepolicy` here would be a cycle)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cascadepolicy")
    except PackageNotFoundError:
        return None


def route_label(decision: Decision) -> str:
    """The route as metrics and spans name it: its name, else its 1-based index; `none` before routing."""
    route = decision.route
    if route is None:
        return "none"
    return route.name or str(route.index + 1)


def provider_of(litellm_model: str) -> str | None:
    """`gen_ai.provider.name` when the litellm model name says it (`anthropic/claude-...`)."""
    head, slash, _ = litellm_model.partition("/")
    return head if slash else None


def requested_model(call: ModelCall) -> str:
    """`gen_ai.request.model`: the litellm model first asked (the answering one may be a fallback)."""
    return str(call.attempts[0]["litellm_model"]) if call.attempts else call.model


def error_type(call: ModelCall) -> str:
    """`error.type` of a failed call: the exception class its error sentence starts with (`Timeout: ...`),
    else `_OTHER` as the conventions say (a sentence would make a metric label of unbounded values)."""
    head = (call.error or "").partition(":")[0]
    return head if head.isidentifier() and len(head) <= 64 else "_OTHER"


class Tally:
    """A counter's running totals per attribute set, reported by an observable counter. Its label values come
    from the policy (outcomes, tiers, routes, models, rules, limits), so the number of sets is bounded."""

    __slots__ = ("lock", "totals")

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.totals: dict[tuple[tuple[str, str], ...], float] = {}

    def add(self, amount: float, attributes: dict[str, str]) -> None:
        key = tuple(attributes.items())
        with self.lock:
            self.totals[key] = self.totals.get(key, 0.0) + amount

    def observe(self, options: Any) -> list[Any]:
        from opentelemetry.metrics import Observation

        with self.lock:
            totals = list(self.totals.items())
        return [Observation(total, dict(key)) for key, total in totals]


class RequestTelemetry:
    """One request's span, ended with its decision (`finish`)."""

    __slots__ = ("owner", "span", "stream")

    def __init__(self, owner: Telemetry, span: Any, stream: bool) -> None:
        self.owner = owner
        self.span = span
        self.stream = stream

    def finish(self, decision: Decision) -> None:
        """Record the finished request; never fails it (a telemetry error is logged)."""
        try:
            self.owner.record(self.span, decision, self.stream)
        except Exception:
            _log.warning("cascadepolicy telemetry failed for decision %s", decision.decision_id, exc_info=True)


class Telemetry:
    """Traces and metrics through OpenTelemetry's API: `tracer_provider` and `meter_provider` default to the
    global ones. Without opentelemetry installed it records nothing (`enabled` is False)."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None, *, max_limit_keys: int = MAX_LIMIT_KEYS) -> None:
        self._limits: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._limits_lock = threading.Lock()
        self._max_limit_keys = max_limit_keys
        try:
            from opentelemetry import metrics, trace
        except ImportError:
            self.enabled = False
            return
        self.enabled = True
        self._trace = trace
        version = _version()
        self.tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(INSTRUMENTATION, version)
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(INSTRUMENTATION, version)
        # Counters are asynchronous, read from an in-process tally when the reader collects: a request adds to
        # a dict instead of paying the SDK's synchronous measurement (several microseconds each).
        self.requests = self._tallied(meter, "cascadepolicy.requests", "{request}", "Requests by outcome, tier and route")
        self.cost = self._tallied(meter, "cascadepolicy.cost", "USD", "Spend of model calls by tier and model")
        self.escalations = self._tallied(meter, "cascadepolicy.escalations", "{escalation}",
                                         "Cascade steps whose answer was rejected and passed on to the next step")
        self.guardrail_verdicts = self._tallied(meter, "cascadepolicy.guardrail.verdicts", "{verdict}",
                                                "Guardrail verdicts by rule and the action taken")
        self.admission_refusals = self._tallied(meter, "cascadepolicy.admission.refusals", "{request}",
                                                "Requests refused by admission, by the limit that refused them")
        self.tokens = meter.create_histogram("gen_ai.client.token.usage", "{token}", "Tokens used per model call",
                                             explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.duration = meter.create_histogram("gen_ai.client.operation.duration", "s",
                                               "Model call duration, retries and fallbacks included",
                                               explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        meter.create_observable_gauge("cascadepolicy.budget.utilization", [self._observe_limits], "1",
                                      "Last known share of each limit key used (used / limit, at the latest admission)")

    def _tallied(self, meter: Any, name: str, unit: str, description: str) -> Tally:
        tally = Tally(self._limits_lock)
        meter.create_observable_counter(name, [tally.observe], unit, description)
        return tally

    # ------------------------------------------------------------ the engine's two hooks

    def start(self, request: Request) -> RequestTelemetry | None:
        """Start the request's span in the caller's context (where the request is made)."""
        if not self.enabled:
            return None
        return RequestTelemetry(self, self.tracer.start_span("cascadepolicy.request"), request.stream)  # attributes: at the end

    def record(self, span: Any, decision: Decision, stream: bool) -> None:
        tier = decision.tier or "none"
        route = route_label(decision)
        attributes = {"cascadepolicy.decision_id": decision.decision_id, "cascadepolicy.policy": str(decision.policy.get("name") or ""),
                      "cascadepolicy.outcome": decision.outcome, "cascadepolicy.route": route, "cascadepolicy.tier": tier,
                      "cascadepolicy.cost_usd": decision.cost, "cascadepolicy.stream": stream}
        if decision.final_model is not None:
            attributes["cascadepolicy.final_model"] = decision.final_model_id or decision.final_model
        span.set_attributes(attributes)
        if span.is_recording():
            self._children(span, decision)
        if decision.outcome == "error":
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, decision.reason or "error"))
        self._metrics(decision, tier, route)
        span.end()

    # ------------------------------------------------------------ spans

    def _children(self, parent: Any, decision: Decision) -> None:
        context = self._trace.set_span_in_context(parent)
        start = self.tracer.start_span
        admission = decision.admission
        if admission is not None and admission.started and (admission.limits or admission.store_error):
            span = start("cascadepolicy.admission", context, start_time=_ns(admission.started), attributes={
                "cascadepolicy.admitted": admission.admitted, "cascadepolicy.reserved_usd": admission.reserved_usd,
                **({"cascadepolicy.refused_by": admission.refused_by} if admission.refused_by else {}),
                **({"cascadepolicy.degraded_to": admission.degraded_to} if admission.degraded_to else {})})
            span.end(_ns(admission.ended))
        for verdict in decision.guardrails:
            span = start(f"cascadepolicy.guardrail {verdict.id}", context, start_time=_ns(verdict.started), attributes={
                "cascadepolicy.guardrail.id": verdict.id, "cascadepolicy.guardrail.stage": verdict.stage,
                "cascadepolicy.guardrail.check": verdict.check, "cascadepolicy.guardrail.fired": verdict.fired,
                "cascadepolicy.guardrail.action": verdict.action, "cascadepolicy.guardrail.mode": verdict.mode,
                "cascadepolicy.guardrail.score": verdict.score,
                **({"cascadepolicy.step": verdict.step} if verdict.step is not None else {})})
            span.end(_ns(verdict.started + verdict.latency_ms / 1000))
        for call in decision.calls:
            self._call_span(context, call)

    def _call_span(self, context: Any, call: ModelCall) -> None:
        """A model call's span as the GenAI conventions name it: `chat <model>`, a client span."""
        requested = requested_model(call)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": requested,
            "gen_ai.usage.input_tokens": call.prompt_tokens, "gen_ai.usage.output_tokens": call.completion_tokens,
            "cascadepolicy.purpose": call.purpose, "cascadepolicy.step": call.step, "cascadepolicy.model_id": call.model_id,
            "cascadepolicy.cost_usd": call.cost, "cascadepolicy.attempts": len(call.attempts)}
        provider = provider_of(requested)
        if provider is not None:
            attributes["gen_ai.provider.name"] = provider
        if call.outcome == "ok":
            attributes["gen_ai.response.model"] = call.model
        else:
            attributes["error.type"] = error_type(call)
        span = self.tracer.start_span(f"chat {requested}", context, self._trace.SpanKind.CLIENT,
                                      attributes, start_time=_ns(call.started))
        if call.outcome != "ok":
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, call.error or call.outcome))
        span.end(_ns(call.ended))

    # ------------------------------------------------------------ metrics

    def _metrics(self, decision: Decision, tier: str, route: str) -> None:
        self.requests.add(1, {"outcome": decision.outcome, "tier": tier, "route": route})
        for call in decision.calls:
            if call.cost:
                self.cost.add(call.cost, {"tier": tier, "model": call.model_id})
            common = {"gen_ai.operation.name": "chat", "gen_ai.request.model": requested_model(call)}
            if call.outcome == "ok":
                common["gen_ai.response.model"] = call.model
                self.tokens.record(call.prompt_tokens, {**common, "gen_ai.token.type": "input"})
                self.tokens.record(call.completion_tokens, {**common, "gen_ai.token.type": "output"})
            else:
                common["error.type"] = error_type(call)
            if call.started:
                self.duration.record(max(0.0, call.ended - call.started), common)
        for validation in decision.validations:
            if validation.escalation_reason is not None:
                self.escalations.add(1, {"tier": tier, "route": route, "model": validation.model_id})
        for verdict in decision.guardrails:
            self.guardrail_verdicts.add(1, {"rule": verdict.id, "stage": verdict.stage, "action": verdict.action})
        admission = decision.admission
        if admission is None:
            return
        if not admission.admitted:
            self.admission_refusals.add(1, {"limit": admission.refused_by or "a limit"})
        if admission.limits:
            with self._limits_lock:
                for status in admission.limits:
                    if status.limit > 0:
                        self._limits[status.key] = (status.label, status.used / status.limit)
                        self._limits.move_to_end(status.key)
                while len(self._limits) > self._max_limit_keys:
                    self._limits.popitem(last=False)

    def _observe_limits(self, options: Any) -> Iterable[Any]:
        from opentelemetry.metrics import Observation

        with self._limits_lock:
            seen = list(self._limits.items())
        return [Observation(share, {"limit": label, "key": key}) for key, (label, share) in seen]


class GlobalTelemetry:
    """The default: telemetry through the global providers, once the application has set one.

    Setting a provider imports opentelemetry, so until `opentelemetry.trace` or `.metrics` is in
    `sys.modules` no provider can be set and this costs a look-up per request and imports nothing.
    """

    def __init__(self) -> None:
        self._active: Telemetry | None = None

    def start(self, request: Request) -> RequestTelemetry | None:
        active = self._active
        if active is None:
            active = self._resolve()
            if active is None:
                return None
        return active.start(request)

    def _resolve(self) -> Telemetry | None:
        trace = sys.modules.get("opentelemetry.trace")
        metrics = sys.modules.get("opentelemetry.metrics")
        if trace is None and metrics is None:
            return None
        configured = (trace is not None and not isinstance(trace.get_tracer_provider(),
                                                           trace.ProxyTracerProvider | trace.NoOpTracerProvider)
                      or metrics is not None and type(metrics.get_meter_provider()).__name__
                      not in ("_ProxyMeterProvider", "NoOpMeterProvider"))
        if not configured:
            return None
        # the proxies of the global provider not set yet forward to it once it is
        self._active = Telemetry()
        return self._active


class NoTelemetry:
    """`telemetry=False`: nothing recorded."""

    def start(self, request: Request) -> RequestTelemetry | None:
        return None


def telemetry_option(option: Telemetry | bool | None) -> Telemetry | GlobalTelemetry | NoTelemetry:
    """The engine's `telemetry` option: None (the global providers, once set), False (off), or a `Telemetry`."""
    if option is None or option is True:
        return GlobalTelemetry()
    if option is False:
        return NoTelemetry()
    return option


__all__ = ["GlobalTelemetry", "NoTelemetry", "RequestTelemetry", "Telemetry", "telemetry_option"]
