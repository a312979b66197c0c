"""Provider responses are checked before they are billed (issue 11, point 7).

Most tests talk to a hostile OpenAI-compatible server on 127.0.0.1 through
litellm's real HTTP path; shapes litellm itself would reject on that path
(content that is a number, a list or a dict; junk choices; a NaN cost) are
injected at the boundary by replacing `litellm.completion`. Each test checks
what the budget was charged, that no raw Python error escapes, and that the
decision record flags the anomaly.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import cascadepolicy
from cascadepolicy.providers.calls import litellm_module
from cascadepolicy.providers.response_check import Anomalies, check_usage
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.runtime.features import count_prompt_tokens, text_tokens
from cascadepolicy.state import MemoryStore

from .hostile_provider import Script, chunk, hostile_provider, response, usage

ASK = [{"role": "user", "content": "Say hello."}]
MAX_TOKENS = 20
INPUT_PER_M, OUTPUT_PER_M = 1.0, 2.0


def _policy(api_base: str, **model: Any) -> Any:
    extra = "".join(f", {k}: {v}" for k, v in model.items())
    return cascadepolicy.loads(f"""
version: 1
name: hostile
models:
  m: {{model: openai/hostile, api_base: "{api_base}", max_tokens: {MAX_TOKENS}, retries: 0,
       pricing: {{input_per_million: {INPUT_PER_M}, output_per_million: {OUTPUT_PER_M}}}{extra}}}
default_tier: free
tiers:
  free:
    rate: [{{tokens: 1000000, per: 1h}}]
    budget: {{usd: 100, per: day}}
routes:
  - default: {{model: m}}
""", "hostile.yaml")


def _price(prompt: int, completion: int) -> float:
    return (prompt * INPUT_PER_M + completion * OUTPUT_PER_M) / 1e6


def _run(script: Script, *, stream: bool = False) -> tuple[Any, MemoryStore, list[str]]:
    """One request against the scripted server; the result, the store, and the chunks streamed."""
    store = MemoryStore()
    with hostile_provider(script) as api_base:
        engine = _policy(api_base).engine(store=store, decision_log=None, sleep=lambda _: None)
        if not stream:
            return engine.complete(ASK, user="u"), store, []
        streaming = engine.complete(ASK, user="u", stream=True)
        parts = list(streaming)
        return streaming.result, store, parts


def _counters(store: MemoryStore) -> dict[str, float]:
    return {u.key.rsplit("|", 1)[-1].split("/")[0]: u.used + u.reserved for u in store.usage(now=time.time())}


def _codes(call: Any) -> list[str]:
    return [a.split(":", 1)[0] for a in call.anomalies]


def _assert_charged(result: Any, store: MemoryStore, prompt: int, completion: int) -> None:
    call = result.decision.calls[0]
    assert (call.prompt_tokens, call.completion_tokens) == (prompt, completion)
    assert call.cost == pytest.approx(_price(prompt, completion))
    assert result.decision.cost == pytest.approx(call.cost)
    counters = _counters(store)
    assert counters["usd"] == pytest.approx(call.cost)
    assert counters["tokens"] == prompt + completion


# ---------------------------------------------------------------- plain responses


def test_negative_usage_is_billed_by_counting_the_text_never_refunded() -> None:
    answer = "Hello there, friend."
    result, store, _ = _run(Script(body=response(answer, usage(-5000, -100000))))
    assert result.decision.outcome == "answered" and result.content == answer
    _assert_charged(result, store, count_prompt_tokens(ASK), text_tokens(answer))
    assert _codes(result.decision.calls[0]) == ["usage-invalid", "usage-invalid"]


def test_missing_usage_is_billed_by_counting_the_text() -> None:
    answer = "Hello there, friend."
    result, store, _ = _run(Script(body=response(answer, None)))
    _assert_charged(result, store, count_prompt_tokens(ASK), text_tokens(answer))
    assert _codes(result.decision.calls[0]) == ["usage-missing"]


def test_honest_usage_is_billed_as_reported_without_anomalies() -> None:
    result, store, _ = _run(Script(body=response("Hello there.", usage(11, 4))))
    _assert_charged(result, store, 11, 4)
    assert result.decision.calls[0].anomalies == []
    assert result.decision.admission.over_reserved == []


def test_completion_above_max_tokens_is_billed_as_received_and_flagged() -> None:
    answer = "word " * 300  # far longer than max_tokens, with usage claiming far more still
    result, store, _ = _run(Script(body=response(answer, usage(9, 84_000))))
    received = text_tokens(answer)
    _assert_charged(result, store, 9, received)
    call = result.decision.calls[0]
    assert _codes(call) == ["completion-over-max"]
    assert "84000" in call.anomalies[0] and str(MAX_TOKENS) in call.anomalies[0]
    # More than the worst case reserved was spent: the record says so, per limit.
    admission = result.decision.admission
    assert admission.settled_usd == pytest.approx(call.cost) and admission.settled_usd > admission.reserved_usd
    assert sorted(admission.over_reserved) == ["tier 'free': $100 per day", "tier 'free': 1000000 tokens per 1h"]
    assert any("more than the" in w and "reserved" in w for w in admission.warnings)


def test_under_reported_completion_is_billed_at_the_text_received() -> None:
    answer = "word " * 300
    result, store, _ = _run(Script(body=response(answer, usage(9, 1))))
    _assert_charged(result, store, 9, text_tokens(answer))
    assert _codes(result.decision.calls[0]) == ["completion-under-reported", "completion-over-max"]


def test_huge_usage_is_replaced_by_what_was_sent_and_received() -> None:
    answer = "Hi."
    result, store, _ = _run(Script(body=response(answer, usage(10**30, 10**30))))
    _assert_charged(result, store, count_prompt_tokens(ASK), text_tokens(answer))
    assert _codes(result.decision.calls[0]) == ["prompt-over-sent", "completion-over-max"]
    assert math.isfinite(result.decision.cost)


def test_an_empty_choices_list_is_a_provider_error_not_an_index_error() -> None:
    result, store, _ = _run(Script(body=response(None, usage(5, 5), choices=[])))
    assert result.decision.outcome == "error"
    assert "no usable answer" in (result.decision.calls[0].error or "")
    assert _counters(store) == {}  # nothing was answered; the reservation was released


def test_a_raw_response_given_as_mock_is_billed_like_a_providers() -> None:
    # A mock that is a response dict goes through litellm's mock_response and the same checks.
    engine = _policy("http://127.0.0.1:9").engine(store=MemoryStore(), decision_log=None,
                                                 transport=MockTransport({"m": response("Hello there.", usage(-7, -7))}))
    call = engine.complete(ASK, user="u").decision.calls[0]
    assert (call.prompt_tokens, call.completion_tokens) == (count_prompt_tokens(ASK), text_tokens("Hello there."))
    assert _codes(call) == ["usage-invalid", "usage-invalid"]


def test_run_prints_the_anomalies(tmp_path: Path) -> None:
    with hostile_provider(Script(body=response("Hello there.", usage(-7, 84_000)))) as api_base:
        policy = tmp_path / "p.yaml"
        policy.write_text(f"""
version: 1
name: run-anomalies
models:
  m: {{model: openai/hostile, api_base: "{api_base}", max_tokens: {MAX_TOKENS}, retries: 0,
       pricing: {{input_per_million: 1, output_per_million: 1}}}}
routes: [{{default: {{model: m}}}}]
""", encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "cascadepolicy", "run", str(policy), "--prompt", "Say hello."],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "provider anomaly, usage-invalid: prompt_tokens was -7" in proc.stderr
    assert "provider anomaly, completion-over-max: completion_tokens was 84000" in proc.stderr


# ---------------------------------------------------------------- streams over HTTP


def test_stream_with_negative_usage_is_billed_by_counting() -> None:
    chunks = [chunk("Hello"), chunk(" there."), chunk(finish="stop"), chunk(usage=usage(-3, -900))]
    result, store, parts = _run(Script(chunks=chunks), stream=True)
    assert "".join(parts) == "Hello there." and result.decision.outcome == "answered"
    _assert_charged(result, store, count_prompt_tokens(ASK), text_tokens("Hello there."))
    assert "usage-invalid" in _codes(result.decision.calls[0])


def test_stream_cut_after_some_output_settles_what_was_streamed() -> None:
    chunks = [chunk("Once upon"), chunk(" a time")]
    result, store, parts = _run(Script(chunks=chunks, cut=True), stream=True)
    assert "".join(parts) == "Once upon a time"
    assert result.decision.outcome == "error"
    _assert_charged(result, store, count_prompt_tokens(ASK), text_tokens("Once upon a time"))


# ---------------------------------------------------------------- junk at the litellm boundary


def _delta_chunk(content: Any) -> Any:
    return SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content=content), finish_reason=None)],
                           usage=None)


def _patched_completion(monkeypatch: pytest.MonkeyPatch, items: list[Any], error: BaseException | None = None) -> None:
    def completion(**kwargs: Any) -> Iterator[Any]:
        assert kwargs.get("stream")

        def stream() -> Iterator[Any]:
            yield from items
            if error is not None:
                raise error
        return stream()
    monkeypatch.setattr(litellm_module(), "completion", completion)


JUNK = [_delta_chunk("Hello"), _delta_chunk(42), _delta_chunk([{"type": "text", "text": " big"}, {"type": "image"}]),
        _delta_chunk({"oops": 1}), _delta_chunk(None), SimpleNamespace(choices=[7], usage=None),
        SimpleNamespace(choices="junk", usage=None), _delta_chunk(" world")]


def test_non_text_stream_chunks_are_converted_or_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    _patched_completion(monkeypatch, JUNK)
    result, store, parts = _run(Script(), stream=True)
    assert all(isinstance(p, str) for p in parts)
    assert "".join(parts) == result.content == "Hello42 big world"
    assert result.decision.outcome == "answered"
    codes = _codes(result.decision.calls[0])
    assert codes.count("content-not-text") == 3 and "choice-invalid" in codes and "usage-missing" in codes
    _assert_charged(result, store, count_prompt_tokens(ASK), text_tokens("Hello42 big world"))


def test_a_stream_broken_after_junk_chunks_settles_the_text_streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    _patched_completion(monkeypatch, JUNK, ConnectionError("connection reset by peer"))
    result, store, parts = _run(Script(), stream=True)  # before: a raw TypeError, nothing billed
    assert "".join(parts) == "Hello42 big world"
    assert result.decision.outcome == "error"
    _assert_charged(result, store, count_prompt_tokens(ASK), text_tokens("Hello42 big world"))
    assert "content-not-text" in _codes(result.decision.calls[0])


@pytest.mark.parametrize("content, text", [
    (42, "42"), ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "ab"), (None, ""), ({"x": 1}, ""),
])
def test_non_text_message_content_never_raises(monkeypatch: pytest.MonkeyPatch, content: Any, text: str) -> None:
    reply = SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=content), finish_reason=7)],
                            usage=SimpleNamespace(prompt_tokens=9, completion_tokens=1))
    monkeypatch.setattr(litellm_module(), "completion", lambda **kwargs: reply)
    result, store, _ = _run(Script())
    assert result.decision.outcome == "answered" and result.content == text
    assert ("content-not-text" in _codes(result.decision.calls[0])) == (content is not None)


@pytest.mark.parametrize("choices", [[], [None], ["text"], [3], "junk", None])
def test_junk_choices_are_a_provider_error(monkeypatch: pytest.MonkeyPatch, choices: Any) -> None:
    reply = SimpleNamespace(choices=choices, usage=SimpleNamespace(prompt_tokens=9, completion_tokens=1))
    monkeypatch.setattr(litellm_module(), "completion", lambda **kwargs: reply)
    result, store, _ = _run(Script())
    assert result.decision.outcome == "error"
    assert "no usable answer" in (result.decision.calls[0].error or "")


LITELLM_PRICED = """
version: 1
name: litellm-priced
models: {m: {model: gpt-4o-mini, max_tokens: 20, retries: 0}}
default_tier: free
tiers: {free: {budget: {usd: 100, per: day}}}
routes: [{default: {model: m}}]
"""


@pytest.mark.parametrize("cost", [float("nan"), float("inf"), -1.0, 1e9, "0.1", None])
def test_implausible_provider_cost_falls_back_to_the_table_price(monkeypatch: pytest.MonkeyPatch, cost: Any) -> None:
    reply = SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content="Hi."), finish_reason="stop")],
                            usage=SimpleNamespace(prompt_tokens=9, completion_tokens=2))
    litellm = litellm_module()
    monkeypatch.setattr(litellm, "completion", lambda **kwargs: reply)
    monkeypatch.setattr(litellm, "completion_cost", lambda **kwargs: cost)
    policy = cascadepolicy.loads(LITELLM_PRICED, "p.yaml")
    store = MemoryStore()
    result = policy.engine(store=store, decision_log=None).complete(ASK, user="u")
    call = result.decision.calls[0]
    assert call.cost == pytest.approx(policy.prices["m"].cost(9, 2)) and call.cost > 0
    assert _codes(call) == ["cost-invalid"]
    assert _counters(store)["usd"] == pytest.approx(call.cost)


def test_a_plausible_provider_cost_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    reply = SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content="Hi."), finish_reason="stop")],
                            usage=SimpleNamespace(prompt_tokens=9, completion_tokens=2))
    litellm = litellm_module()
    monkeypatch.setattr(litellm, "completion", lambda **kwargs: reply)
    policy = cascadepolicy.loads(LITELLM_PRICED, "p.yaml")
    table = policy.prices["m"].cost(9, 2)
    monkeypatch.setattr(litellm, "completion_cost", lambda **kwargs: table / 2)  # cached input, say
    call = policy.engine(store=MemoryStore(), decision_log=None).complete(ASK).decision.calls[0]
    assert call.cost == pytest.approx(table / 2) and call.anomalies == []


# ---------------------------------------------------------------- the check itself


@pytest.mark.parametrize("prompt, completion", [
    (-1, -1), (float("nan"), float("inf")), ("12", "3"), (3.5, 2.5), (True, True), ([1], {"a": 1}), (10**40, 10**40),
    (-(10**40), 0), (0, 0), (None, None),
])
def test_no_usage_shape_bills_less_than_the_text_or_a_negative(prompt: Any, completion: Any) -> None:
    text = "some answer text " * 5
    found = Anomalies()
    billed_prompt, billed_completion, as_reported = check_usage({"prompt_tokens": prompt, "completion_tokens": completion},
                                                                ASK, text, 50, found=found)
    assert isinstance(billed_prompt, int) and isinstance(billed_completion, int)
    assert billed_prompt == count_prompt_tokens(ASK) and billed_completion == text_tokens(text)
    assert not as_reported and found


def test_anomalies_of_one_call_stay_bounded() -> None:
    found = Anomalies()
    for n in range(10_000):
        found.add("content-not-text", f"chunk {n % 50}")
        found.add("content-not-text", "same")
    sentences = found.sentences()
    assert len(sentences) <= 16 and any("(10000 times)" in s for s in sentences)
