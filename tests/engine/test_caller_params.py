"""The model caller against a local OpenAI-compatible server that records what it receives.

A request's chat-completion parameters reach the provider as given, except
what the policy owns (the model, `max_tokens` above the model's own, timeouts);
a tool-call answer comes back as tool calls, and every call keeps the
provider's response (a stream's assembled from its chunks).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cascadepolicy
from cascadepolicy.providers.calls import ModelCaller
from cascadepolicy.providers.transport import Transport
from cascadepolicy.runtime.drivers import IO, run
from cascadepolicy.state import MemoryStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stub_openai import received, running_stub  # noqa: E402

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    with running_stub(tool_calls=True) as api_base:
        yield api_base


def caller_and_io(api_base: str) -> tuple[Any, IO]:
    policy = cascadepolicy.loads(f"""
version: 1
name: params
models:
  m: {{model: openai/stub, api_base: "{api_base}", max_tokens: 64, temperature: 0.9, retries: 0,
       pricing: {{input_per_million: 1.0, output_per_million: 2.0}}}}
routes:
  - default: {{model: m}}
""", "params.yaml")
    return ModelCaller(policy.spec.models, policy.prices), IO(Transport(), MemoryStore(), time.sleep)


ASK = [{"role": "user", "content": "What's the weather in Lyon?"}]


def test_request_parameters_reach_the_provider_and_max_tokens_is_capped(stub: str) -> None:
    caller, io = caller_and_io(stub)
    params = {"tools": TOOLS, "tool_choice": "auto", "temperature": 0.2, "seed": 7, "stop": ["\n\n"], "top_p": 0.5,
              "max_tokens": 500, "response_format": {"type": "json_object"}}
    before = len(received(stub))
    run(caller.call("m", ASK, transport=Transport(), params=params), io)
    body = received(stub)[before]
    assert body["tools"] == TOOLS and body["tool_choice"] == "auto"
    assert (body["temperature"], body["seed"], body["stop"], body["top_p"]) == (0.2, 7, ["\n\n"], 0.5)
    assert body["response_format"] == {"type": "json_object"}
    assert body["max_tokens"] == 64  # the policy's cap, not the request's 500
    run(caller.call("m", ASK, transport=Transport(), params={"max_tokens": 10}), io)
    assert received(stub)[-1]["max_tokens"] == 10  # a lower request value lowers it
    assert received(stub)[-1]["temperature"] == 0.9  # the policy's default when the request gives none


def test_a_tool_call_answer_comes_back_as_tool_calls_with_the_response(stub: str) -> None:
    caller, io = caller_and_io(stub)
    result = run(caller.call("m", ASK, transport=Transport(), params={"tools": TOOLS}), io)
    assert result.text == "" and [c.name for c in result.tool_calls] == ["get_weather"]
    assert result.tool_calls[0].arguments == "{}" and result.finish_reason == "tool_calls"
    assert result.response.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert result.response.id  # the provider's response itself, not a copy of its text


def test_a_streamed_answer_keeps_its_assembled_response(stub: str) -> None:
    caller, io = caller_and_io(stub)
    result = run(caller.call("m", ASK, transport=Transport(), stream=True), io)
    assert result.text.strip() == "The stub model's answer, eight words long."
    assert result.response.choices[0].message.content == result.text


def test_a_streamed_tool_call_is_put_together_from_its_deltas() -> None:
    from cascadepolicy.providers.calls import ChunkReader
    from cascadepolicy.providers.response_check import Anomalies

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-s", "created": 1, "model": "stub", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    reader = ChunkReader(Anomalies())
    for piece in [chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_9", "function": {"name": "get_weather", "arguments": ""}}]}),
                  chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
                  chunk({"tool_calls": [{"index": 1, "id": "call_10", "function": {"name": "get_time", "arguments": "{}"}}]}),
                  chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Lyon"}'}}]}),
                  chunk({}, "tool_calls"), {"id": "chatcmpl-s", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 7}}]:
        reader.feed(piece)
    calls = reader.tool_calls()
    assert [(c.id, c.name, c.arguments) for c in calls] == [("call_9", "get_weather", '{"city": "Lyon"}'),
                                                           ("call_10", "get_time", "{}")]
    response = reader.assembled("", calls)
    assert response.id == "chatcmpl-s" and response.choices[0].finish_reason == "tool_calls"
    assert response.choices[0].message.content is None and response.usage.completion_tokens == 7
    assert response.choices[0].message.tool_calls[1].function.name == "get_time"
