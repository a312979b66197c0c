"""Pin down how litellm behaves against a real local OpenAI-compatible model server.

These tests use litellm directly (no cascadepolicy code) so the engine can rely
on the facts they establish: where usage, logprobs and server timings live in
litellm's response objects, which exception classes a timeout and a dropped
connection raise, and that a request's ``timeout`` bounds each read, not a
whole stream.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import openai
import pytest

from .local_server import ServerHandle

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm  # noqa: E402  (must follow the env var above)

litellm.suppress_debug_info = True

API_KEY = "sk-local"  # the server accepts any key; litellm requires one
LONG_PROMPT = [{"role": "user", "content": "Write a very long story about a dragon."}]
# llama.cpp extension: never stop at end-of-sequence, so a generation lasts exactly max_tokens.
ENDLESS = {"ignore_eos": True}


def _chat(handle: ServerHandle, **kwargs: Any) -> Any:
    kwargs.setdefault("messages", [{"role": "user", "content": "What is the capital of France?"}])
    kwargs.setdefault("max_tokens", 16)
    return litellm.completion(
        model=handle.litellm_model, api_base=handle.api_base, api_key=API_KEY, **kwargs
    )


def test_chat_completion_returns_text_usage_and_server_timings(
    smollm2_server: ServerHandle,
) -> None:
    before = smollm2_server.metrics()["llamacpp:tokens_predicted_total"]
    response = _chat(smollm2_server)

    assert response.choices[0].message.content.strip()
    usage = response.usage
    assert usage.prompt_tokens > 0
    assert 0 < usage.completion_tokens <= 16
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    # llama.cpp's own timings ride along as an extra attribute of the litellm response.
    timings = response.timings
    assert timings["predicted_n"] == usage.completion_tokens
    assert timings["predicted_ms"] > 0
    assert response._hidden_params["_response_ms"] > 0
    after = smollm2_server.metrics()["llamacpp:tokens_predicted_total"]
    assert after - before == usage.completion_tokens


def test_streaming_yields_deltas_and_final_usage(smollm2_server: ServerHandle) -> None:
    chunks = list(_chat(smollm2_server, stream=True, stream_options={"include_usage": True}))

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert len(chunks) > 2
    # Without stream_options the server sends no usage at all in the stream.
    usage = chunks[-1].usage
    assert 0 < usage.completion_tokens <= 16
    rebuilt: Any = litellm.stream_chunk_builder(chunks)
    assert rebuilt.choices[0].message.content == text
    assert rebuilt.usage.completion_tokens == usage.completion_tokens


def test_chat_logprobs_per_token(smollm2_server: ServerHandle) -> None:
    response = _chat(smollm2_server, logprobs=True, top_logprobs=1)

    content = response.choices[0].logprobs.content
    assert len(content) == response.usage.completion_tokens
    for entry in content:
        assert entry.logprob <= 0.0
        assert len(entry.top_logprobs) == 1
        # The top alternative is never less likely than the sampled token.
        assert entry.top_logprobs[0].logprob >= entry.logprob - 1e-6
    assert "".join(e.token for e in content) == response.choices[0].message.content


def test_text_completion_logprobs_from_base_model(gemma_server: ServerHandle) -> None:
    response = litellm.text_completion(
        model=gemma_server.litellm_model,
        api_base=gemma_server.api_base,
        api_key=API_KEY,
        prompt="The capital of France is",
        max_tokens=8,
        logprobs=1,
    )

    choice = response.choices[0]
    assert choice.text.strip()
    # llama.cpp answers /v1/completions logprobs in the chat shape, a list of
    # dicts under .content, not OpenAI's legacy tokens/token_logprobs arrays.
    logprobs = choice.logprobs
    assert logprobs.token_logprobs is None
    entries = logprobs.content
    assert len(entries) == response.usage.completion_tokens
    assert all(e["logprob"] <= 0.0 for e in entries)
    assert "".join(e["token"] for e in entries) == choice.text


def test_timeout_shorter_than_generation_raises_litellm_timeout(
    local_server_factory: Callable[..., ServerHandle],
) -> None:
    # A private server: the abandoned generation keeps running server-side and
    # would otherwise slow the shared one down for the next tests.
    server = local_server_factory("smollm2", "slow", parallel=1)
    with pytest.raises(litellm.Timeout) as info:
        # max_retries=0: the openai client otherwise retries a timeout twice, ~2 s more.
        _chat(
            server,
            messages=LONG_PROMPT,
            max_tokens=200,
            timeout=0.3,
            max_retries=0,
            extra_body=ENDLESS,
        )
    assert isinstance(info.value, openai.APITimeoutError)
    # The server does not notice the client left: it generates (and a paid
    # provider would bill) the whole answer anyway.
    assert server.metrics()["llamacpp:requests_processing"] == 1
    assert server.healthy()


def _kill_when(handle: ServerHandle, event: threading.Event, delay: float) -> threading.Thread:
    def run() -> None:
        event.wait(10)
        time.sleep(delay)
        handle.kill()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_server_killed_mid_request_raises_internal_server_error(
    local_server_factory: Callable[..., ServerHandle],
) -> None:
    victim = local_server_factory("smollm2", "victim", parallel=1)
    go = threading.Event()
    killer = _kill_when(victim, go, delay=0.5)
    go.set()
    # litellm maps openai's APIConnectionError("Connection error.") to its
    # InternalServerError, which is *not* a litellm.APIConnectionError.
    with pytest.raises(litellm.InternalServerError, match="Connection error") as info:
        _chat(victim, messages=LONG_PROMPT, max_tokens=1000, max_retries=0, extra_body=ENDLESS)
    killer.join()
    assert not isinstance(info.value, litellm.APIConnectionError)
    assert not victim.is_alive()


def test_server_killed_mid_stream_raises_midstream_error_with_partial_text(
    local_server_factory: Callable[..., ServerHandle],
) -> None:
    victim = local_server_factory("smollm2", "victim", parallel=1)
    stream = _chat(
        victim,
        messages=LONG_PROMPT,
        max_tokens=1000,
        max_retries=0,
        stream=True,
        extra_body=ENDLESS,
    )
    received: list[str] = []
    with pytest.raises(litellm.exceptions.MidStreamFallbackError) as info:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
            if len(received) == 5:
                victim.kill()
    assert len(received) >= 5
    error = info.value
    assert isinstance(error, litellm.ServiceUnavailableError)
    assert "Connection error" in str(error)
    assert error.generated_content.startswith("".join(received[:5]))


def test_request_to_dead_server_fails_fast(
    local_server_factory: Callable[..., ServerHandle],
) -> None:
    victim = local_server_factory("smollm2", "victim", parallel=1)
    victim.kill()
    with pytest.raises(litellm.InternalServerError):
        _chat(victim, max_retries=0)
