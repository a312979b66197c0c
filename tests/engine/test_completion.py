"""The OpenAI-shaped surface: `engine.completion` / `acompletion` as code written for litellm expects them.

Responses are litellm's `ModelResponse` of the answering call with the
decision behind `decision_of`; refusals raise `Blocked`, failures the
provider's error, both carrying the decision; parameters pass through (as the
tier allows) to a local server that records what it receives; tool-call
answers are answers, checked by `tool_call` and escalated when invalid;
streams are OpenAI-shaped chunks.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cascadepolicy
from cascadepolicy import Blocked, RequestError, decision_of
from cascadepolicy.errors import ProviderTimeout
from cascadepolicy.providers.transport import MockTransport, Transport
from cascadepolicy.state import MemoryStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stub_openai import received, running_stub  # noqa: E402

ASK = [{"role": "user", "content": "What's the weather in Lyon today?"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}}}]

SIMPLE = """
version: 1
name: surface
models:
  small: {model: gpt-4o-mini, max_tokens: 200, retries: 0}
  large: {model: gpt-4o, max_tokens: 400, retries: 0}
default_tier: free
tiers:
  free:
    budget: {usd: 1, per: day}
    params: {forbid: [logit_bias], max_tokens: 64}
  pro: {}
validators:
  calls:
    - {check: tool_call, required: true}
    - {check: length, min_words: 3}
cascades:
  main:
    - {model: small, accept: {validators: calls, min_score: 0.5}}
    - {model: large}
routes:
  - name: refuse-admin
    when: "metadata.area == 'admin'"
    on_error: skip
    block: "admin questions are not answered here"
  - name: hinted
    when: "request.model == 'gpt-4o'"
    model: large
  - default: {cascade: main}
"""


def engine(transport: Transport, text: str = SIMPLE, **options: Any) -> Any:
    return cascadepolicy.loads(text, "surface.yaml").engine(store=MemoryStore(), decision_log=None, transport=transport,
                                                            sleep=lambda s: None, **options)


def tool_call_response(model: str, arguments: str) -> Any:
    from litellm import ModelResponse

    return ModelResponse(id="chatcmpl-tool", created=1, model=model, object="chat.completion", choices=[{
        "index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]}}],
        usage={"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52})


class Answers(MockTransport):
    """Answers by litellm model name with a ready response object (tool calls included); records what was sent."""

    def __init__(self, responses: dict[str, Any], texts: dict[str, str] | None = None) -> None:
        super().__init__(texts or {})
        self.responses = responses
        self.sent: list[dict[str, Any]] = []

    def send(self, kwargs: dict[str, Any]) -> Any:
        self.sent.append(kwargs)
        if kwargs["model"] in self.responses:
            return self.responses[kwargs["model"]]
        return super().send(kwargs)

    async def asend(self, kwargs: dict[str, Any]) -> Any:
        return self.send(kwargs)


# ------------------------------------------------------------------ responses, refusals, failures


def test_completion_returns_the_answering_calls_model_response_with_its_decision() -> None:
    eng = engine(MockTransport({"small": "It is sunny in Lyon today.", "large": "Sunny."}))
    response = eng.completion(ASK, user="u-1")
    assert response.choices[0].message.content == "It is sunny in Lyon today."
    assert response.id and response.choices[0].finish_reason == "stop" and response.usage.total_tokens > 0
    decision = decision_of(response)
    assert decision.outcome == "answered" and decision.final_model_id == "small" and decision.user == "u-1"
    # `complete` is the same path: the same decision shape and answer
    result = eng.complete(ASK, user="u-1")
    assert (result.content, result.decision.trace) == (response.choices[0].message.content, decision.trace)


def test_a_refusal_raises_blocked_with_its_reason_and_decision() -> None:
    eng = engine(MockTransport({"small": "x", "large": "y"}))
    with pytest.raises(Blocked) as caught:
        eng.completion(ASK, metadata={"area": "admin"})
    assert caught.value.reason == "admin questions are not answered here"
    assert caught.value.decision.outcome == "blocked" and isinstance(caught.value, cascadepolicy.CascadePolicyError)
    tight = SIMPLE.replace("budget: {usd: 1, per: day}", "rate: [{requests: 1, per: 1h}]")
    eng = engine(MockTransport({"small": "It is sunny in Lyon today.", "large": "y"}), tight, clock=lambda: 1_800_000_000.0)
    eng.completion(ASK, user="u-9")
    with pytest.raises(Blocked) as caught:
        eng.completion(ASK, user="u-9")
    assert caught.value.retry_after is not None and caught.value.retry_after > 0


def test_a_request_no_step_could_answer_raises_the_provider_error_with_the_decision() -> None:
    eng = engine(MockTransport({"small": ProviderTimeout("slow"), "large": ProviderTimeout("slower")}))
    with pytest.raises(ProviderTimeout) as caught:
        eng.completion(ASK)
    assert caught.value.decision.outcome == "error" and caught.value.decision.models_called == ["small", "large"]


# ------------------------------------------------------------------ parameters


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    with running_stub(tool_calls=True) as api_base:
        yield api_base


def stub_policy(api_base: str, tier_params: str = "{}") -> str:
    return f"""
version: 1
name: stubbed
models:
  m: {{model: openai/stub, api_base: "{api_base}", max_tokens: 100, retries: 0,
       pricing: {{input_per_million: 1.0, output_per_million: 2.0}}}}
default_tier: free
tiers:
  free: {{budget: {{usd: 5, per: day}}, params: {tier_params}}}
routes:
  - default: {{model: m}}
"""


def test_parameters_reach_the_provider_and_the_tier_caps_max_tokens(stub: str) -> None:
    eng = engine(Transport(), stub_policy(stub, "{max_tokens: 40}"))
    before = len(received(stub))
    response = eng.completion(ASK, user="u-2", tools=TOOLS, tool_choice="auto", temperature=0.2, seed=7, top_p=0.9,
                              stop=["\n\n"], max_tokens=500)
    body = received(stub)[before]
    assert body["tools"] == TOOLS and body["tool_choice"] == "auto"
    assert (body["temperature"], body["seed"], body["top_p"], body["stop"]) == (0.2, 7, 0.9, ["\n\n"])
    assert body["max_tokens"] == 40
    assert decision_of(response).features["max_tokens"] == {"asked": 500, "allowed": 40,
                                                            "why": "the tier 'free' allows at most 40"}
    # the stub answers a request with tools by calling the first one: a real answer, not an empty one
    message = response.choices[0].message
    assert message.content is None and message.tool_calls[0].function.name == "get_weather"
    assert response.choices[0].finish_reason == "tool_calls" and decision_of(response).outcome == "answered"


def test_unknown_forbidden_and_unsupported_parameters_are_refused_clearly() -> None:
    eng = engine(MockTransport({"small": "x", "large": "y"}))
    with pytest.raises(RequestError, match="'logit_bias'.*tiers.<name>.params.forbid"):
        eng.completion(ASK, logit_bias={"1": 5})
    with pytest.raises(RequestError, match="unknown request parameter.*'temprature'"):
        eng.completion(ASK, temprature=0.2)
    with pytest.raises(RequestError, match="'api_key' is the policy's to set"):
        eng.completion(ASK, api_key="sk-nope")
    with pytest.raises(RequestError, match="n=3 is not supported"):
        eng.completion(ASK, n=3)
    eng.completion(ASK, tier="pro", logit_bias={"1": 5})  # another tier may


def test_a_requests_max_tokens_lowers_its_reservation() -> None:
    eng = engine(MockTransport({"small": "It is sunny in Lyon today.", "large": "y"}))
    full = decision_of(eng.completion(ASK, user="a")).admission.limits[0].amount
    lowered = decision_of(eng.completion(ASK, user="b", max_tokens=10)).admission.limits[0].amount
    assert 0 < lowered < full


def test_the_model_hint_is_read_by_conditions_and_never_bypasses_routing() -> None:
    eng = engine(MockTransport({"small": "It is sunny in Lyon today.", "large": "Sunny, 24 degrees."}))
    hinted = decision_of(eng.completion(ASK, model="gpt-4o"))
    assert hinted.route.name == "hinted" and hinted.final_model_id == "large"
    other = decision_of(eng.completion(ASK, model="some-model-the-policy-does-not-have"))
    assert other.route.kind == "default" and other.final_model_id == "small"


# ------------------------------------------------------------------ tool calls in cascades


def test_a_valid_tool_call_is_accepted_and_text_checks_are_skipped() -> None:
    transport = Answers({"gpt-4o-mini": tool_call_response("gpt-4o-mini", '{"city": "Lyon"}')})
    response = engine(transport).completion(ASK, tools=TOOLS)
    decision = decision_of(response)
    assert decision.final_model_id == "small" and decision.models_called == ["small"]
    checks = {c["check"]: c for c in decision.validations[0].checks}
    assert checks["tool_call"]["passed"] and not checks["tool_call"]["skipped"]
    assert checks["length"]["skipped"]
    assert response.choices[0].message.tool_calls[0].function.arguments == '{"city": "Lyon"}'
    assert decision.calls[0].completion_tokens == 12  # the provider's usage, tool-call arguments included


def test_an_invalid_tool_call_escalates_like_a_rejected_draft() -> None:
    transport = Answers({"gpt-4o-mini": tool_call_response("gpt-4o-mini", '{"town": 7}')},
                        {"large": "It is sunny in Lyon."})
    decision = decision_of(engine(transport).completion(ASK, tools=TOOLS))
    assert decision.models_called == ["small", "large"] and decision.final_model_id == "large"
    assert "tool_call" in (decision.validations[0].escalation_reason or "")


def test_response_format_is_checked_on_accepted_drafts() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "w", "schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    eng = engine(MockTransport({"small": "Lyon is sunny, as ever in summer.", "large": '{"city": "Lyon"}'}))
    response = eng.completion(ASK, response_format=schema)
    decision = decision_of(response)
    assert decision.models_called == ["small", "large"]  # the draft was not JSON: escalated
    assert any(c["check"] == "response_format" and not c["passed"] for c in decision.validations[0].checks)
    assert json.loads(response.choices[0].message.content) == {"city": "Lyon"}


# ------------------------------------------------------------------ streams and identity


def test_a_stream_is_openai_shaped_chunks_and_its_decision_comes_after_the_end() -> None:
    eng = engine(MockTransport({"small": "x", "large": "Sunny and warm in Lyon."}))
    stream = eng.completion(ASK, model="gpt-4o", stream=True)  # the hinted route: one model, no checks, live
    with pytest.raises(ValueError, match="has not ended"):
        decision_of(stream)
    chunks = list(stream)
    assert len(chunks) > 2 and "".join(c.choices[0].delta.content or "" for c in chunks) == "Sunny and warm in Lyon."
    assert decision_of(stream).outcome == "answered"
    # a validated answer arrives once accepted: a role and content chunk, then the finish
    buffered = list(eng.completion(ASK, stream=True))
    assert [c.choices[0].delta.role for c in buffered][0] == "assistant"
    assert buffered[-1].choices[0].finish_reason == "stop"


def test_an_async_stream_works_with_async_for_and_a_blocked_one_raises() -> None:
    eng = engine(MockTransport({"small": "x", "large": "Sunny and warm in Lyon."}))

    async def read(**kwargs: Any) -> tuple[list[Any], Any]:
        stream = await eng.acompletion(ASK, stream=True, **kwargs)
        return [c async for c in stream], stream

    chunks, stream = asyncio.run(read(model="gpt-4o"))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Sunny and warm in Lyon."
    assert decision_of(stream).final_model_id == "large"
    with pytest.raises(Blocked):
        asyncio.run(read(metadata={"area": "admin"}))
    response = asyncio.run(eng.acompletion(ASK, model="gpt-4o"))
    assert decision_of(response).final_model_id == "large"


def test_every_call_carries_the_user_and_the_decision_for_litellm_callbacks() -> None:
    transport = Answers({}, {"small": "It is sunny in Lyon today.", "large": "y"})
    response = engine(transport).completion(ASK, user="u-42")
    sent = transport.sent[0]
    assert sent["user"] == "u-42"
    assert sent["metadata"] == {"cascadepolicy_decision_id": decision_of(response).decision_id,
                                "cascadepolicy_policy": "surface", "cascadepolicy_route": "3", "cascadepolicy_tier": "free"}


def test_tool_definitions_count_as_prompt_tokens_in_the_reservation_and_the_bill() -> None:
    eng = engine(MockTransport({"small": "It is sunny in Lyon today.", "large": "y"}))
    plain = decision_of(eng.completion(ASK, user="a"))
    many_tools = [{"type": "function", "function": {"name": f"tool_{i}", "description": "Looks up the weather " * 5,
                                                    "parameters": {"type": "object"}}} for i in range(20)]
    with_tools = decision_of(eng.completion(ASK, user="b", tools=many_tools))
    assert with_tools.admission.limits[0].amount > plain.admission.limits[0].amount
    assert with_tools.calls[0].prompt_tokens > plain.calls[0].prompt_tokens + 20 * 25  # each definition's words


RESTORING = """
version: 1
name: support
models:
  m: {model: gpt-4o-mini, max_tokens: 100, retries: 0}
guardrails:
  - {id: emails, stage: input, check: pii, entities: [email], action: redact, restore: true}
  - {id: secrets-out, stage: output, check: pii, entities: [credit_card], action: redact}
routes:
  - default: {model: m}
"""


def test_restore_maps_placeholders_back_in_the_response_and_never_in_the_record() -> None:
    transport = Answers({}, {"m": "Hello [EMAIL_1], your order has shipped."})
    eng = cascadepolicy.loads(RESTORING.replace("name: support", "name: support\naudit: {include_text: true}"),
                              "support.yaml").engine(store=MemoryStore(), decision_log=None, transport=transport)
    response = eng.completion([{"role": "user", "content": "I am ana@example.com, where is my order?"}])
    assert "ana@example.com" not in json.dumps(transport.sent[0]["messages"])  # the provider saw the placeholder
    assert response.choices[0].message.content == "Hello ana@example.com, your order has shipped."
    decision = decision_of(response)
    assert "ana@example.com" not in decision.to_json() and "[EMAIL_1]" in (decision.answer or "")


def test_output_guardrails_redact_tool_call_arguments_in_the_response() -> None:
    card = tool_call_response("gpt-4o-mini", '{"city": "Lyon", "note": "card 4111 1111 1111 1111"}')
    transport = Answers({"gpt-4o-mini": card})
    eng = cascadepolicy.loads(RESTORING, "support.yaml").engine(store=MemoryStore(), decision_log=None, transport=transport)
    response = eng.completion(ASK, tools=TOOLS)
    arguments = json.loads(response.choices[0].message.tool_calls[0].function.arguments)
    assert arguments["city"] == "Lyon" and "4111" not in arguments["note"] and "[CREDIT_CARD_1]" in arguments["note"]


def test_litellm_callbacks_see_the_user_and_the_decision_id_of_each_call(stub: str) -> None:
    import time

    import litellm
    from litellm.integrations.custom_logger import CustomLogger

    seen: list[tuple[Any, Any]] = []

    class Recorder(CustomLogger):  # type: ignore[misc]
        def log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
            seen.append((kwargs.get("user"), dict((kwargs.get("litellm_params") or {}).get("metadata") or {})))

    before = list(litellm.callbacks)
    litellm.callbacks = [*before, Recorder()]
    try:
        response = engine(Transport(), stub_policy(stub)).completion(ASK, user="u-7")
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:  # litellm runs success callbacks on its own thread
            time.sleep(0.01)
    finally:
        litellm.callbacks = before
    user, metadata = seen[0]
    decision = decision_of(response)
    assert user == "u-7" and metadata["cascadepolicy_decision_id"] == decision.decision_id
    assert (metadata["cascadepolicy_policy"], metadata["cascadepolicy_route"]) == ("stubbed", "1")
    assert "Decision(" not in str(metadata)  # the decision record itself is not handed to callbacks


def test_a_stream_knows_its_decision_id_from_the_start_and_ends_with_usage_when_asked() -> None:
    eng = engine(MockTransport({"small": "x", "large": "Sunny and warm in Lyon."}))
    stream = eng.completion(ASK, model="gpt-4o", stream=True, stream_options={"include_usage": True})
    early = stream.decision_id
    chunks = list(stream)
    assert early == decision_of(stream).decision_id
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert all(c.choices for c in chunks[:-1])
    assert all(c.choices for c in eng.completion(ASK, model="gpt-4o", stream=True))  # not asked: no usage chunk
    with pytest.raises(RequestError, match="stream_options"):
        eng.completion(ASK, stream_options={"include_usage": True})
    with pytest.raises(RequestError, match="stream_options"):
        eng.completion(ASK, stream=True, stream_options={"include_obfuscation": True, "x": 1})


def test_a_prompt_too_long_for_a_models_window_goes_to_its_fallback_and_never_to_it(stub: str) -> None:
    policy = f"""
version: 1
name: windows
models:
  short: {{model: openai/short-window, api_base: "{stub}", max_tokens: 20, context_window: 60, fallbacks: [long],
           retries: 0, pricing: {{input_per_million: 1.0, output_per_million: 2.0}}}}
  long: {{model: openai/long-window, api_base: "{stub}", max_tokens: 20, context_window: 100000, retries: 0,
          pricing: {{input_per_million: 1.0, output_per_million: 2.0}}}}
routes:
  - default: {{model: short}}
"""
    eng = engine(Transport(), policy)
    before = len(received(stub))
    response = eng.completion([{"role": "user", "content": "Summarise: " + "the quick brown fox " * 40}])
    assert [body["model"] for body in received(stub)[before:]] == ["long-window"]  # the short window was never sent to
    attempts = decision_of(response).calls[0].attempts
    assert attempts[0]["model_id"] == "short" and "context window" in attempts[0]["error"]
    eng.completion([{"role": "user", "content": "Hi"}])
    assert received(stub)[-1]["model"] == "short-window"  # a prompt that fits goes where the route says
