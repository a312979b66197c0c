"""examples/fastapi_app.py: the OpenAI-compatible endpoint, in-process over httpx's ASGI transport.

The app's policy sends every model call to the local stub server (which
records the bodies it receives): answers come back in the OpenAI shape with
the decision id in a header, tools reach the model and tool calls come back,
streams are server-sent events ending in `[DONE]`, and refusals are
OpenAI-style errors: 429 with Retry-After for a rate window, 403 for a route
that blocks, 400 for a parameter the engine cannot pass on, 502 when the
model cannot be reached.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))
from fastapi_app import DECISION_HEADER, create_app  # noqa: E402
from stub_openai import ANSWER, received, running_stub  # noqa: E402

ASK = [{"role": "user", "content": "What's the weather in Lyon today?"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]

POLICY = """
version: 1
name: fastapi-example
models:
  m: {{model: openai/gpt-4o-mini, api_base: "{api_base}", max_tokens: 100, retries: 0,
       pricing: {{input_per_million: 1.0, output_per_million: 2.0}}}}
  down: {{model: openai/stub, api_base: "http://127.0.0.1:9/v1", max_tokens: 100, retries: 0, timeout: 5s,
          pricing: {{input_per_million: 1.0, output_per_million: 2.0}}}}
audit: {{decision_log: "{log}"}}
default_tier: free
tiers:
  free: {{budget: {{usd: 5, per: day}}}}
  limited: {{rate: [{{requests: 1, per: 1h}}]}}
routes:
  - name: admin
    when: "metadata.area == 'admin'"
    on_error: skip
    block: "Admin questions are not answered here."
  - name: unreachable
    when: "metadata.area == 'down'"
    on_error: skip
    model: down
  - default: {{model: m}}
"""


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    with running_stub(tool_calls=True) as api_base:
        yield api_base


@pytest.fixture
def app(stub: str, tmp_path: Path) -> Any:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(api_base=stub, log=tmp_path / "decisions.jsonl"))
    return create_app(path)


def post(app: Any, *bodies: dict[str, Any], **headers: str) -> list[httpx.Response]:
    """Each body POSTed in turn to /v1/chat/completions, on one event loop."""
    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
            return [await client.post("/v1/chat/completions", json=body, headers=headers) for body in bodies]
    return asyncio.run(send())


def events(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("text/event-stream")
    return [line.removeprefix("data: ") for line in response.text.split("\n\n") if line.startswith("data: ")]


def logged(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """The app's decision log, by decision id."""
    lines = (tmp_path / "decisions.jsonl").read_text().splitlines()
    return {d["decision_id"]: d for d in map(json.loads, lines)}


def test_an_answer_is_the_openai_json_with_the_decision_id_in_a_header(app: Any, tmp_path: Path) -> None:
    [reply] = post(app, {"model": "gpt-4o-mini", "messages": ASK, "user": "u-1", "temperature": 0.2})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"] == {**body["choices"][0]["message"], "role": "assistant", "content": ANSWER}
    assert body["choices"][0]["finish_reason"] == "stop" and body["usage"]["total_tokens"] > 0
    decision = logged(tmp_path)[reply.headers[DECISION_HEADER]]
    assert (decision["outcome"], decision["user"], decision["tier"]) == ("answered", "u-1", "free")


def test_tools_reach_the_model_and_a_tool_call_comes_back(app: Any, stub: str) -> None:
    before = len(received(stub))
    [reply] = post(app, {"messages": ASK, "tools": TOOLS, "tool_choice": "auto", "seed": 7}, **{"X-User-Id": "u-2"})
    assert reply.status_code == 200, reply.text
    sent = received(stub)[before]
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "auto" and sent["seed"] == 7 and sent["user"] == "u-2"
    choice = reply.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_a_stream_is_server_sent_events_ending_in_done(app: Any, tmp_path: Path) -> None:
    [reply] = post(app, {"messages": ASK, "stream": True, "user": "u-3"})
    assert reply.status_code == 200, reply.text
    data = events(reply)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks) and len(chunks) > 2
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks).strip() == ANSWER
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    # the decision id in a header, known before the stream began; its record complete once it ended
    assert logged(tmp_path)[reply.headers[DECISION_HEADER]]["outcome"] == "answered"


def test_a_rate_window_is_429_with_retry_after_and_a_route_block_403(app: Any) -> None:
    limited = {"X-User-Id": "u-4", "X-User-Tier": "limited"}
    first, second, streamed = post(app, {"messages": ASK}, {"messages": ASK}, {"messages": ASK, "stream": True},
                                   **limited)
    assert first.status_code == 200, first.text
    for refused in (second, streamed):  # a refused stream is refused before it starts: a plain error
        assert refused.status_code == 429, refused.text
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
        assert refused.json()["error"]["code"] == "rate_limit_exceeded" and refused.json()["error"]["message"]
        assert refused.headers[DECISION_HEADER]
    [blocked] = post(app, {"messages": ASK, "metadata": {"area": "admin"}})
    assert blocked.status_code == 403 and "Retry-After" not in blocked.headers
    assert blocked.json()["error"] == {"message": "Admin questions are not answered here.", "type": "permission_error",
                                       "param": None, "code": "blocked_by_policy"}


def test_unknown_parameters_are_400_and_an_unreachable_model_502(app: Any) -> None:
    typo, tier, bad, meta = post(app, {"messages": ASK, "temprature": 0.2}, {"messages": ASK, "tier": "pro"},
                                 {"messages": "hello"}, {"messages": ASK, "metadata": "admin"})
    assert typo.status_code == 400 and "unknown request parameter(s) 'temprature'" in typo.json()["error"]["message"]
    assert tier.status_code == 400 and "'tier'" in tier.json()["error"]["message"]
    assert bad.status_code == 400 and "messages must be a non-empty list" in bad.json()["error"]["message"]
    assert meta.status_code == 400 and "metadata must be an object" in meta.json()["error"]["message"]
    [down] = post(app, {"messages": ASK, "metadata": {"area": "down"}})
    assert down.status_code == 502 and down.json()["error"]["type"] == "api_error", down.text


def test_the_default_policy_is_the_example_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # its sqlite store is created under the working directory
    monkeypatch.delenv("CASCADEPOLICY_POLICY", raising=False)
    assert create_app().title == "cascadepolicy: chat-api"
    other = tmp_path / "other.yaml"
    other.write_text(POLICY.format(api_base="http://127.0.0.1:9/v1", log=tmp_path / "decisions.jsonl"))
    monkeypatch.setenv("CASCADEPOLICY_POLICY", str(other))
    assert create_app().title == "cascadepolicy: fastapi-example"
