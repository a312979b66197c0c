"""Images in the reservation, and context windows (issue 13.5 and 13.6).

A request's images count in `request.tokens` and in the worst case admission
reserves. Before a call, a prompt that cannot fit a model's context window
(the policy's `context_window`, else litellm's model info) is not sent: the
call moves to the model's fallbacks, is recorded, and when no model fits the
call fails with `ContextWindowExceeded` and the cascade escalates. A
provider's own `ContextWindowExceededError` takes the same path.
"""

from __future__ import annotations

import base64
import struct
import time
import zlib
from typing import Any

import pytest

import cascadepolicy
from cascadepolicy.errors import ContextWindowExceeded, ProviderBadRequest
from cascadepolicy.providers.calls import ModelCaller, litellm_module
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.runtime.drivers import IO, run
from cascadepolicy.state import MemoryStore

POLICY = """
version: 1
name: windows
models:
  small: {{model: openai/small, max_tokens: 100, context_window: {window}, fallbacks: [big], retries: 0,
          pricing: {{input_per_million: 1, output_per_million: 2}}}}
  big: {{model: openai/big, max_tokens: 100, retries: 0, pricing: {{input_per_million: 1, output_per_million: 2}}}}
  tiny: {{model: openai/tiny, max_tokens: 100, context_window: 150, retries: 0,
         pricing: {{input_per_million: 1, output_per_million: 2}}}}
  legacy: {{model: gpt-3.5-turbo, max_tokens: 100, fallbacks: [big], retries: 0}}
default_tier: t
tiers:
  t: {{budget: {{usd: 100, per: day}}}}
cascades:
  two: [{{model: tiny}}, {{model: big}}]
routes:
  - {{name: refuse-long, when: "request.tokens > {block_over}", block: "too long"}}
  - {{name: cascade, when: "metadata.route == 'two'", on_error: skip, cascade: two}}
  - {{name: legacy, when: "metadata.route == 'legacy'", on_error: skip, model: legacy}}
  - {{name: tiny, when: "metadata.route == 'tiny'", on_error: skip, model: tiny}}
  - default: {{model: small}}
"""
ANSWERS: dict[str, Any] = {"small": "small answers", "big": "big answers", "tiny": "tiny answers",
                           "legacy": "legacy answers"}


class Recording(MockTransport):
    """A MockTransport that remembers which models were asked for an answer (= sent a call)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        super().__init__(answers)
        self.asked: list[str] = []

    def answer(self, model_id: str, litellm_model: str) -> Any:
        self.asked.append(model_id)
        return super().answer(model_id, litellm_model)


def engine(window: int = 200, block_over: int = 10**9, answers: dict[str, Any] | None = None) -> tuple[Any, Recording]:
    policy = cascadepolicy.loads(POLICY.format(window=window, block_over=block_over), "windows.yaml")
    transport = Recording({**ANSWERS, **(answers or {})})
    return policy.engine(store=MemoryStore(), decision_log=None, transport=transport, sleep=lambda s: None), transport


def words(n: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": "hello " * n}]


def png_url(width: int, height: int) -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    image = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(image).decode()


def with_image(text: str, url: str, detail: str = "high") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "image_url", "image_url": {"url": url, "detail": detail}}]}]


# ------------------------------------------------------------------ images in request.tokens and the reservation

def test_images_grow_the_reservation_and_request_tokens() -> None:
    eng, _ = engine(window=10**6)
    text = eng.complete([{"role": "user", "content": [{"type": "text", "text": "Describe it."}]}], user="u")
    low = eng.complete(with_image("Describe it.", png_url(1024, 1024), "low"), user="u")
    high = eng.complete(with_image("Describe it.", png_url(1024, 1024), "high"), user="u")
    remote = eng.complete(with_image("Describe it.", "http://127.0.0.1:9/cat.png", "auto"), user="u")
    reserved = [r.decision.admission.reserved_usd for r in (text, low, high, remote)]
    assert reserved[0] < reserved[1] < reserved[2] < reserved[3]
    # each image token is reserved at the input price times the tokenizer margin, for small and its fallback
    assert reserved[2] - reserved[0] == pytest.approx(2 * (85 + 170 * 4) * 1.2 * 1e-6, rel=0.01)
    assert all(r.decision.outcome == "answered" for r in (text, low, high, remote))
    # a condition on request.tokens sees the image
    eng, _ = engine(window=10**6, block_over=500)
    assert eng.complete(with_image("Describe it.", png_url(1024, 1024), "high"), user="u").decision.outcome == "blocked"
    assert eng.complete(with_image("Describe it.", png_url(1024, 1024), "low"), user="u").decision.outcome == "answered"


# ------------------------------------------------------------------ context windows, before the call

def test_a_prompt_too_long_for_a_models_window_moves_to_its_fallback_and_is_recorded() -> None:
    eng, transport = engine(window=200)
    result = eng.complete(words(150), user="u")  # 150 + overhead tokens and max_tokens 100 > 200
    assert result.decision.outcome == "answered" and result.content == "big answers"
    assert transport.asked == ["big"]  # small was never sent the call
    [call] = result.decision.to_dict()["calls"]
    skipped, answered = call["attempts"]
    assert skipped["model_id"] == "small" and skipped["outcome"] == "error"
    assert skipped["error"].startswith("not sent: the prompt of ") and "context window of model 'small' (200 tokens)" in skipped["error"]
    assert answered["model_id"] == "big" and answered["outcome"] == "ok"
    # a short prompt still goes to small
    assert eng.complete(words(10), user="u").content == "small answers"


def test_a_prompt_no_model_can_take_is_refused_clearly_without_a_call() -> None:
    eng, transport = engine()
    result = eng.complete(words(200), user="u", metadata={"route": "tiny"})
    assert transport.asked == []
    assert result.decision.outcome == "error" and result.decision.cost == 0
    assert "not sent: the prompt of" in (result.decision.reason or "")
    assert "context window of model 'tiny' (150 tokens)" in (result.decision.reason or "")


def test_a_step_whose_models_cannot_take_the_prompt_escalates_to_the_next() -> None:
    eng, transport = engine()
    result = eng.complete(words(200), user="u", metadata={"route": "two"})
    assert result.content == "big answers" and transport.asked == ["big"]
    first = result.decision.validations[0]
    assert not first.accepted and "context window of model 'tiny'" in (first.escalation_reason or "")


def test_litellms_model_info_gives_the_window_when_the_policy_does_not() -> None:
    assert litellm_module().get_model_info("gpt-3.5-turbo")["max_input_tokens"] == 16385
    eng, transport = engine()
    long = eng.complete(words(16_400), user="u", metadata={"route": "legacy"})
    assert long.content == "big answers" and transport.asked == ["big"]
    assert "context window of model 'legacy' (16385 tokens)" in long.decision.calls[0].attempts[0]["error"]
    transport.asked.clear()
    assert eng.complete(words(1000), user="u", metadata={"route": "legacy"}).content == "legacy answers"
    assert transport.asked == ["legacy"]


def caller(window: int = 200, answers: dict[str, Any] | None = None) -> tuple[ModelCaller, IO, Recording]:
    policy = cascadepolicy.loads(POLICY.format(window=window, block_over=10**9), "windows.yaml")
    transport = Recording({**ANSWERS, **(answers or {})})
    return ModelCaller(policy.spec.models, policy.prices), IO(transport, MemoryStore(), time.sleep), transport


def test_the_check_uses_each_calls_max_tokens_and_a_chain_that_cannot_fit_raises_context_window_exceeded() -> None:
    model_caller, io, transport = caller(window=200)
    # 110 prompt tokens + max_tokens 100 do not fit 200; with the request's max_tokens of 50 they do
    assert run(model_caller.call("small", words(100), transport=transport, params={"max_tokens": 50}), io).model_id == "small"
    assert run(model_caller.call("small", words(100), transport=transport), io).model_id == "big"
    with pytest.raises(ContextWindowExceeded) as raised:
        run(model_caller.call("tiny", words(200), transport=transport), io)
    assert isinstance(raised.value, ProviderBadRequest) and not raised.value.retryable
    assert "tiny" not in transport.asked


def test_parts_counted_only_by_their_size_are_not_held_against_a_window() -> None:
    model_caller, io, transport = caller(window=200)
    audio = [{"role": "user", "content": [{"type": "text", "text": "Transcribe."},
                                          {"type": "input_audio", "input_audio": {"data": "UklGRg" * 2000, "format": "wav"}}]}]
    assert run(model_caller.call("small", audio, transport=transport), io).model_id == "small"


# ------------------------------------------------------------------ the provider's ContextWindowExceededError

def window_error(model: str) -> Exception:
    return litellm_module().ContextWindowExceededError(message="This model's maximum context length is 100 tokens",
                                              model=model, llm_provider="openai")


def test_a_providers_context_window_error_moves_to_the_fallback() -> None:
    eng, transport = engine(window=10**6, answers={"small": window_error("small")})
    result = eng.complete(words(10), user="u")
    assert result.content == "big answers" and transport.asked == ["small", "big"]
    first = result.decision.calls[0].attempts[0]
    assert first["model_id"] == "small" and "ContextWindowExceededError" in first["error"]


def test_a_providers_context_window_error_is_context_window_exceeded_and_not_retried() -> None:
    model_caller, io, transport = caller(window=10**6, answers={"big": window_error("big")})
    with pytest.raises(ContextWindowExceeded):
        run(model_caller.call("big", words(10), transport=transport), io)
    assert transport.asked == ["big"]
