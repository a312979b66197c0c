"""OpenTelemetry traces and metrics (issue 15.1, 15.2), read with the SDK's in-memory exporter and metric reader.

Each engine gets its own `Telemetry` with local providers (the global ones cannot be
reset between tests). Checked: span names, nesting (the request span is a child of the
application's span, model calls, guardrails and admission children of the request span)
and attributes for an escalated request, a blocked one and a streamed one, blocking and
async; metric names and values; and that without opentelemetry, or without a provider
set, the engine imports nothing and records nothing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

import cascadepolicy  # noqa: E402
from cascadepolicy import Blocked, decision_of  # noqa: E402
from cascadepolicy.providers.transport import MockTransport  # noqa: E402
from cascadepolicy.runtime.telemetry import Telemetry  # noqa: E402
from cascadepolicy.state import MemoryStore  # noqa: E402

POLICY = """
version: 1
name: observed
models:
  small: {model: gpt-4o-mini, max_tokens: 100, retries: 0}
  large: {model: openai/gpt-4o, max_tokens: 100, retries: 0}
default_tier: free
tiers:
  free:
    budget: {usd: 1, per: day}
guardrails:
  - {id: secrets-in, stage: input, check: pii, entities: [email], action: block}
validators:
  wordy:
    - {check: length, min_words: 4}
cascades:
  main:
    - {model: small, accept: {validators: wordy, min_score: 0.5}}
    - {model: large}
routes:
  - name: live
    when: "metadata.live == 'yes'"
    on_error: skip
    model: large
  - name: main
    default: {cascade: main}
"""
ASK = [{"role": "user", "content": "What is the weather in Lyon today?"}]
ANSWERS = {"small": "Sunny.", "large": "It is sunny and warm in Lyon today."}  # the draft is too short: escalated


class Observed:
    """An engine whose telemetry goes to an in-memory span exporter and metric reader."""

    def __init__(self, answers: dict[str, Any] = ANSWERS) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        telemetry = Telemetry(tracer_provider=self.tracer_provider, meter_provider=MeterProvider(metric_readers=[self.reader]))
        self.engine = cascadepolicy.loads(POLICY, "observed.yaml").engine(
            store=MemoryStore(), decision_log=None, transport=MockTransport(answers), telemetry=telemetry)
        self.app = self.tracer_provider.get_tracer("the-app")

    def finished(self) -> dict[str, ReadableSpan]:
        return {span.name: span for span in self.spans.get_finished_spans()}

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found


def children_of(parent: ReadableSpan, spans: dict[str, ReadableSpan]) -> set[str]:
    assert parent.context is not None
    return {name for name, span in spans.items() if span.parent is not None and span.parent.span_id == parent.context.span_id}


def check_escalated(observed: Observed, decision: Any) -> None:
    spans = observed.finished()
    request, app = spans["cascadepolicy.request"], spans["handler"]
    # the request joins the application's trace: its parent is the app's span
    assert request.parent is not None and app.context is not None and request.parent.span_id == app.context.span_id
    assert request.context is not None and request.context.trace_id == app.context.trace_id
    assert children_of(request, spans) == {"chat gpt-4o-mini", "chat openai/gpt-4o", "cascadepolicy.admission",
                                           "cascadepolicy.guardrail secrets-in"}
    attributes = request.attributes or {}
    assert attributes["cascadepolicy.decision_id"] == decision.decision_id
    assert attributes["cascadepolicy.policy"] == "observed"
    assert attributes["cascadepolicy.route"] == "main" and attributes["cascadepolicy.tier"] == "free"
    assert attributes["cascadepolicy.outcome"] == "answered"
    assert attributes["cascadepolicy.cost_usd"] == pytest.approx(decision.cost) and decision.cost > 0
    draft, final = spans["chat gpt-4o-mini"], spans["chat openai/gpt-4o"]
    assert draft.kind is SpanKind.CLIENT
    assert (draft.attributes or {})["gen_ai.operation.name"] == "chat"
    assert (draft.attributes or {})["gen_ai.request.model"] == "gpt-4o-mini"
    assert (draft.attributes or {})["gen_ai.response.model"] == "gpt-4o-mini"
    assert (draft.attributes or {})["gen_ai.usage.input_tokens"] == decision.calls[0].prompt_tokens > 0
    assert (draft.attributes or {})["gen_ai.usage.output_tokens"] == decision.calls[0].completion_tokens > 0
    assert (draft.attributes or {})["cascadepolicy.purpose"] == "draft"
    assert (final.attributes or {})["gen_ai.provider.name"] == "openai"
    assert (final.attributes or {})["cascadepolicy.step"] == 1
    # children sit inside the request, in the order the walk met them
    assert request.start_time is not None and request.end_time is not None
    assert draft.start_time is not None and final.start_time is not None and final.end_time is not None
    assert request.start_time <= draft.start_time <= final.start_time <= final.end_time <= request.end_time
    guard = spans["cascadepolicy.guardrail secrets-in"].attributes or {}
    assert guard["cascadepolicy.guardrail.action"] == "none" and guard["cascadepolicy.guardrail.stage"] == "input"

    metrics = observed.metrics()
    requests = metrics["cascadepolicy.requests"]
    assert [(p.value, dict(p.attributes)) for p in requests] == [(1, {"outcome": "answered", "tier": "free", "route": "main"})]
    cost = {p.attributes["model"]: p.value for p in metrics["cascadepolicy.cost"]}
    assert cost == pytest.approx({c.model_id: c.cost for c in decision.calls})
    assert [dict(p.attributes) for p in metrics["cascadepolicy.escalations"]] == [{"tier": "free", "route": "main", "model": "small"}]
    tokens = {(p.attributes["gen_ai.request.model"], p.attributes["gen_ai.token.type"]): p.sum
              for p in metrics["gen_ai.client.token.usage"]}
    assert tokens[("gpt-4o-mini", "input")] == decision.calls[0].prompt_tokens
    assert tokens[("openai/gpt-4o", "output")] == decision.calls[1].completion_tokens
    assert {p.attributes["gen_ai.request.model"] for p in metrics["gen_ai.client.operation.duration"]} == {
        "gpt-4o-mini", "openai/gpt-4o"}
    assert [(dict(p.attributes), p.value) for p in metrics["cascadepolicy.guardrail.verdicts"]] == [
        ({"rule": "secrets-in", "stage": "input", "action": "none"}, 1)]
    utilisation = metrics["cascadepolicy.budget.utilization"]
    assert len(utilisation) == 1 and utilisation[0].value == 0.0  # nothing spent before this first request


def test_an_escalated_request_is_one_span_with_a_child_per_model_call_guardrail_and_admission() -> None:
    observed = Observed()
    with observed.app.start_as_current_span("handler"):
        response = observed.engine.completion(ASK)
    decision = decision_of(response)
    assert decision.models_called == ["small", "large"]
    check_escalated(observed, decision)


def test_the_async_driver_makes_the_same_spans_and_metrics() -> None:
    observed = Observed()

    async def handler() -> Any:
        with observed.app.start_as_current_span("handler"):
            await asyncio.sleep(0)
            return await observed.engine.acompletion(ASK)

    check_escalated(observed, decision_of(asyncio.run(handler())))


def test_a_blocked_request_has_its_outcome_and_the_blocking_guardrail_and_counts_no_model_call() -> None:
    observed = Observed()
    with observed.app.start_as_current_span("handler"), pytest.raises(Blocked):
        observed.engine.completion([{"role": "user", "content": "Mail me at jane@example.com"}])
    spans = observed.finished()
    request = spans["cascadepolicy.request"]
    assert (request.attributes or {})["cascadepolicy.outcome"] == "blocked"
    assert (request.attributes or {})["cascadepolicy.route"] == "none"  # refused before routing
    assert request.status.status_code is not StatusCode.ERROR  # a refusal is the policy working, not a failure
    assert children_of(request, spans) == {"cascadepolicy.guardrail secrets-in"}
    assert (spans["cascadepolicy.guardrail secrets-in"].attributes or {})["cascadepolicy.guardrail.action"] == "blocked"
    metrics = observed.metrics()
    assert [dict(p.attributes) for p in metrics["cascadepolicy.requests"]] == [
        {"outcome": "blocked", "tier": "free", "route": "none"}]
    assert [dict(p.attributes) for p in metrics["cascadepolicy.guardrail.verdicts"]] == [
        {"rule": "secrets-in", "stage": "input", "action": "blocked"}]
    assert "gen_ai.client.token.usage" not in metrics and "cascadepolicy.cost" not in metrics


def test_a_refusal_by_a_limit_is_counted_by_its_limit() -> None:
    observed = Observed()
    engine = cascadepolicy.loads(POLICY.replace("budget: {usd: 1, per: day}", "rate: [{requests: 1, per: 1h}]"),
                                 "observed.yaml").engine(store=MemoryStore(), decision_log=None,
                                                         transport=MockTransport(ANSWERS),
                                                         telemetry=observed.engine.telemetry)
    engine.completion(ASK)
    with pytest.raises(Blocked):  # the second request of the hour
        engine.completion(ASK)
    metrics = observed.metrics()
    refusals = metrics["cascadepolicy.admission.refusals"]
    assert len(refusals) == 1 and refusals[0].value == 1 and "requests" in refusals[0].attributes["limit"]
    assert {p.value for p in metrics["cascadepolicy.budget.utilization"]} == {1.0}  # 1 of 1 request used
    admission = observed.finished()["cascadepolicy.admission"]
    assert (admission.attributes or {})["cascadepolicy.admitted"] is False


def test_a_failed_model_call_is_an_error_span_and_the_request_an_error() -> None:
    from cascadepolicy.errors import ProviderUnavailable

    observed = Observed({"large": ProviderUnavailable("down")})
    with pytest.raises(ProviderUnavailable):
        observed.engine.completion(ASK, metadata={"live": "yes"})
    spans = observed.finished()
    assert spans["cascadepolicy.request"].status.status_code is StatusCode.ERROR
    call = spans["chat openai/gpt-4o"]
    assert call.status.status_code is StatusCode.ERROR and "error.type" in (call.attributes or {})


@pytest.mark.parametrize("driver", ["blocking", "async"])
def test_a_streamed_request_ends_its_span_when_the_stream_is_consumed(driver: str) -> None:
    observed = Observed()
    with observed.app.start_as_current_span("handler"):
        if driver == "blocking":
            stream = observed.engine.completion(ASK, stream=True, metadata={"live": "yes"})
        else:
            stream = asyncio.run(observed.engine.acompletion(ASK, stream=True, metadata={"live": "yes"}))
    assert "cascadepolicy.request" not in observed.finished()  # open while the answer is on its way
    if driver == "blocking":
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    else:
        async def read() -> str:
            return "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
        text = asyncio.run(read())
    assert text == ANSWERS["large"]
    spans = observed.finished()
    request = spans["cascadepolicy.request"]
    # the application's span ended before the stream was read: the request is still its child
    assert request.parent is not None and request.parent.span_id == spans["handler"].context.span_id  # type: ignore[union-attr]
    assert (request.attributes or {})["cascadepolicy.stream"] is True
    assert (request.attributes or {})["cascadepolicy.route"] == "live"
    assert (request.attributes or {})["cascadepolicy.outcome"] == "answered"
    assert children_of(request, spans) >= {"chat openai/gpt-4o"}
    assert (spans["chat openai/gpt-4o"].attributes or {})["gen_ai.usage.output_tokens"] == decision_of(stream).calls[0].completion_tokens


def test_litellm_calls_carry_the_request_span_for_litellms_own_instrumentation() -> None:
    sent: list[dict[str, Any]] = []

    class Recording(MockTransport):
        def send(self, kwargs: dict[str, Any]) -> Any:
            sent.append(kwargs)
            return super().send(kwargs)

    observed = Observed()
    observed.engine = observed.engine.using(Recording(ANSWERS))
    observed.engine.completion(ASK)
    parent = sent[0]["metadata"]["litellm_parent_otel_span"]
    assert parent.get_span_context().span_id == observed.finished()["cascadepolicy.request"].context.span_id  # type: ignore[union-attr]


def test_telemetry_without_opentelemetry_installed_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # `import opentelemetry` now raises ImportError
    telemetry = Telemetry()
    assert not telemetry.enabled
    engine = cascadepolicy.loads(POLICY, "observed.yaml").engine(store=MemoryStore(), decision_log=None,
                                                                 transport=MockTransport(ANSWERS), telemetry=telemetry)
    assert decision_of(engine.completion(ASK)).outcome == "answered"


NO_IMPORT = """
import json, sys
import cascadepolicy
from cascadepolicy.providers.transport import MockTransport
engine = cascadepolicy.loads(sys.argv[1], "observed.yaml").engine(decision_log=None, transport=MockTransport(json.loads(sys.argv[2])))
engine.complete([{"role": "user", "content": "What is the weather in Lyon today?"}])
list(engine.complete([{"role": "user", "content": "What is the weather in Lyon today?"}], stream=True))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")))
"""


def test_an_engine_without_a_provider_set_never_imports_opentelemetry() -> None:
    run = subprocess.run([sys.executable, "-c", NO_IMPORT, POLICY, json.dumps(ANSWERS)],
                         capture_output=True, text=True, timeout=120, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True",
                                                                           "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []


def test_the_default_engine_uses_the_global_providers_once_the_application_sets_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import trace

    from cascadepolicy.runtime import telemetry as module

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = cascadepolicy.loads(POLICY, "observed.yaml").engine(store=MemoryStore(), decision_log=None,
                                                                 transport=MockTransport(ANSWERS))
    assert isinstance(engine.telemetry, module.GlobalTelemetry)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: trace.ProxyTracerProvider())
    engine.completion(ASK)  # no provider set yet: nothing recorded, nothing resolved
    assert engine.telemetry._active is None
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    engine.completion(ASK)
    assert [s.name for s in exporter.get_finished_spans()][-1] == "cascadepolicy.request"
    off = cascadepolicy.loads(POLICY, "observed.yaml").engine(store=MemoryStore(), decision_log=None,
                                                              transport=MockTransport(ANSWERS), telemetry=False)
    before = len(exporter.get_finished_spans())
    off.completion(ASK)
    assert len(exporter.get_finished_spans()) == before
