"""The engine end to end against a real small model on 127.0.0.1.

Everything else tests the engine with litellm's ``mock_response``; here each
request goes through ``Policy.engine().complete`` to a llama.cpp server
(SmolLM2-135M-Instruct, see ``conftest.py``) over HTTP: real logprobs feed the
``logprob`` validator, answers stream, a timeout is shorter than the answer
takes, the server dies mid-request, eight threads share one budget on a
SQLite file, and the decision record's token and latency figures are checked
against the server's own counters.

Policies are written inline with the server's ``api_base``. Answers use
``temperature: 0`` and few tokens: the model runs on a shared 2-core machine.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

import cascadepolicy
from cascadepolicy.providers.calls import CallResult
from cascadepolicy.runtime.engine import Engine, Result
from cascadepolicy.state import MemoryStore, SQLiteStore

from .local_server import ServerHandle

SHORT = [{"role": "user", "content": "What is the capital of France?"}]
# Greedy SmolLM2 never finishes this in a few tokens: every answer uses max_tokens.
STORY = [{"role": "user", "content": "Write a very long story about a dragon and a knight."}]
FIXED_NOW = 1_750_000_000.0  # a fixed clock: no request straddles a budget's midnight


def _model(server: ServerHandle, *, max_tokens: int = 12, timeout: str = "60s", retries: int = 0,
           logprobs: bool = False, fallbacks: tuple[str, ...] = (), price_in: float = 1.0,
           price_out: float = 2.0) -> str:
    """One `models:` entry (flow style) for a model on `server`."""
    parts = [
        f"model: {server.litellm_model}",
        f'api_base: "{server.api_base}"',
        f"max_tokens: {max_tokens}",
        "temperature: 0",
        f"timeout: {timeout}",
        f"retries: {retries}",
        f"logprobs: {str(logprobs).lower()}",
        f"pricing: {{input_per_million: {price_in}, output_per_million: {price_out}}}",
    ]
    if fallbacks:
        parts.append(f"fallbacks: [{', '.join(fallbacks)}]")
    return "{" + ", ".join(parts) + "}"


def _policy(body: str, name: str = "e2e") -> cascadepolicy.Policy:
    return cascadepolicy.loads(f"version: 1\nname: {name}\n{body}", name=f"<{name}>")


def _spy_calls(engine: Engine) -> list[CallResult]:
    """Record every CallResult the engine's model caller returns (what litellm handed back)."""
    seen: list[CallResult] = []
    original = engine.caller.call

    def call(model_id: str, messages: Any, **kwargs: Any) -> Generator[Any, Any, CallResult]:
        result = yield from original(model_id, messages, **kwargs)
        seen.append(result)
        return result

    engine.caller.call = call  # type: ignore[method-assign]
    return seen


def _price(call: Any, price_in: float, price_out: float) -> float:
    return (call.prompt_tokens * price_in + call.completion_tokens * price_out) / 1_000_000


# ---------------------------------------------------------------- logprob validator


@pytest.mark.parametrize("verdict", ["accepted", "escalated"])
def test_cascade_logprob_validator_reads_the_real_logprobs(smollm2_server: ServerHandle, verdict: str) -> None:
    # min_mean -50 always passes; 0.0 can only pass if every token had probability 1.
    min_mean = -50.0 if verdict == "accepted" else 0.0
    policy = _policy(f"""
models:
  draft: {_model(smollm2_server, max_tokens=12, logprobs=True)}
  strong: {_model(smollm2_server, max_tokens=12, price_in=5, price_out=10)}
validators:
  sure:
    - {{check: logprob, min_mean: {min_mean}, required: true}}
cascades:
  main:
    - {{model: draft, accept: {{validators: sure, min_score: 0.01}}}}
    - {{model: strong}}
routes:
  - default: {{cascade: main}}
""")
    engine = policy.engine(store=MemoryStore(), clock=lambda: FIXED_NOW)
    seen = _spy_calls(engine)

    result = engine.complete(SHORT)

    decision = result.decision
    assert decision.outcome == "answered", decision.reason
    draft_call, draft = decision.calls[0], seen[0]
    assert draft_call.model_id == "draft" and draft_call.outcome == "ok"
    # The server sent one logprob per generated token, and the engine kept them all.
    assert draft.logprobs is not None
    assert len(draft.logprobs) == draft_call.completion_tokens > 0
    assert all(value <= 0.0 for value in draft.logprobs)
    mean = sum(draft.logprobs) / len(draft.logprobs)
    (validation,) = decision.validations
    (check,) = validation.checks
    assert check["check"] == "logprob"
    assert check["skipped"] is False
    # The score is the geometric-mean token probability of this very answer.
    assert check["score"] == pytest.approx(math.exp(mean), abs=1e-4)
    assert 0.0 < check["score"] < 1.0
    assert f"mean logprob {mean:.2f}" in check["detail"]
    if verdict == "accepted":
        assert check["passed"] is True and validation.accepted is True
        assert validation.score == pytest.approx(math.exp(mean), abs=1e-4)
        assert [c.model_id for c in decision.calls] == ["draft"]
        assert result.model_id == decision.final_model_id == "draft"
        assert result.content == draft.text
    else:
        assert check["passed"] is False and validation.accepted is False
        assert validation.gate_failed == "logprob"
        assert "mean logprob" in (validation.escalation_reason or "")
        assert [c.model_id for c in decision.calls] == ["draft", "strong"]
        assert result.model_id == decision.final_model_id == "strong"
        assert result.content == seen[1].text
        # The escalated request paid for both calls, each at its own price.
        assert decision.cost == pytest.approx(
            _price(decision.calls[0], 1.0, 2.0) + _price(decision.calls[1], 5.0, 10.0), rel=1e-12
        )


def test_logprob_check_is_recorded_as_skipped_when_logprobs_are_off(smollm2_server: ServerHandle) -> None:
    policy = _policy(f"""
models:
  draft: {_model(smollm2_server, max_tokens=12, logprobs=False)}
  strong: {_model(smollm2_server, max_tokens=12)}
validators:
  sure:
    - {{check: logprob, min_mean: 0.0, required: true}}
    - {{check: length, min_words: 1, max_words: 100}}
cascades:
  main:
    - {{model: draft, accept: {{validators: sure, min_score: 0.5}}}}
    - {{model: strong}}
routes:
  - default: {{cascade: main}}
""")
    engine = policy.engine(store=MemoryStore(), clock=lambda: FIXED_NOW)
    seen = _spy_calls(engine)

    result = engine.complete(SHORT)

    decision = result.decision
    assert seen[0].logprobs is None  # the server was not asked for any
    validation = decision.validations[0]
    logprob, length = validation.checks
    assert logprob["check"] == "logprob"
    assert logprob["skipped"] is True
    assert logprob["detail"] == "provider returned no logprobs"
    # A skipped check neither gates nor weighs: the length check alone decides.
    assert length["check"] == "length" and length["skipped"] is False
    assert validation.gate_failed is None
    assert validation.score == pytest.approx(length["score"], abs=1e-4)
    assert validation.accepted is (length["score"] >= 0.5)
    assert decision.outcome == "answered"


# ---------------------------------------------------------------- streaming


def test_streaming_through_the_engine(smollm2_server: ServerHandle) -> None:
    policy = _policy(f"""
models:
  local: {_model(smollm2_server, max_tokens=24, logprobs=True)}
routes:
  - default: {{model: local}}
""")
    engine = policy.engine(store=MemoryStore(), clock=lambda: FIXED_NOW)
    before = smollm2_server.metrics()["llamacpp:tokens_predicted_total"]

    streaming = engine.complete(STORY, stream=True)
    chunks = list(streaming)

    result = streaming.result
    assert result is not None
    decision = result.decision
    assert decision.outcome == "answered", decision.reason
    # Token by token from the provider, not one buffered piece.
    assert len(chunks) > 5
    assert all(chunks)
    assert "".join(chunks) == result.content
    (call,) = decision.calls
    assert call.model_id == "local" and call.outcome == "ok"
    # Usage arrives in the stream's last chunk; the figures are the server's.
    after = smollm2_server.metrics()["llamacpp:tokens_predicted_total"]
    assert call.completion_tokens == after - before == 24
    assert call.prompt_tokens > 0
    assert result.cost == decision.cost == pytest.approx(_price(call, 1.0, 2.0), rel=1e-12)
    assert 0 < call.latency_ms <= decision.latency_ms


def test_streaming_a_validated_draft_delivers_it_whole(smollm2_server: ServerHandle) -> None:
    policy = _policy(f"""
models:
  draft: {_model(smollm2_server, max_tokens=12, logprobs=True)}
  strong: {_model(smollm2_server, max_tokens=12)}
validators:
  sure:
    - {{check: logprob, min_mean: -50.0}}
cascades:
  main:
    - {{model: draft, accept: {{validators: sure, min_score: 0.01}}}}
    - {{model: strong}}
routes:
  - default: {{cascade: main}}
""")
    engine = policy.engine(store=MemoryStore(), clock=lambda: FIXED_NOW)

    streaming = engine.complete(SHORT, stream=True)
    chunks = list(streaming)

    result = streaming.result
    assert result is not None and result.content
    # The draft had to pass its validators before anyone saw it: one piece.
    assert chunks == [result.content]
    assert result.decision.validations[0].accepted is True
    assert result.decision.validations[0].checks[0]["skipped"] is False
    assert result.model_id == "draft"


# ---------------------------------------------------------------- timeout, retry, fallback


def test_timeout_retries_then_falls_back_to_the_next_model(
    smollm2_server: ServerHandle, local_server_factory: Callable[..., ServerHandle]
) -> None:
    # A private one-slot server for the model that times out: llama.cpp keeps
    # generating an abandoned answer, which must not slow the shared server.
    slow = local_server_factory("smollm2", "slow", parallel=1)
    policy = _policy(f"""
models:
  hasty: {_model(slow, max_tokens=256, timeout="100ms", retries=1, fallbacks=("backup",))}
  backup: {_model(smollm2_server, max_tokens=8, price_in=3, price_out=4)}
routes:
  - default: {{model: hasty}}
""")
    backoffs: list[float] = []
    engine = policy.engine(store=MemoryStore(), clock=lambda: FIXED_NOW, sleep=backoffs.append)

    result = engine.complete(STORY)
    slow.kill()  # stop the two abandoned generations now

    decision = result.decision
    assert decision.outcome == "answered", decision.reason
    # The decision names the model that answered: the fallback.
    assert result.model_id == decision.final_model_id == "backup"
    assert result.model == decision.final_model == smollm2_server.litellm_model
    (call,) = decision.calls
    assert call.model_id == "backup" and call.outcome == "ok"
    assert [(a["model_id"], a["outcome"]) for a in call.attempts] == [
        ("hasty", "error"), ("hasty", "error"), ("backup", "ok")
    ]
    for attempt in call.attempts[:2]:
        assert "Timeout" in attempt["error"]
        assert attempt["latency_ms"] > 0
    assert backoffs == [0.5]  # one retry of hasty, with the first backoff step
    # Only the answer that arrived is paid for, at the fallback's price.
    assert call.completion_tokens == 8
    assert result.cost == pytest.approx(_price(call, 3.0, 4.0), rel=1e-12)


# ---------------------------------------------------------------- server killed mid-request


def _kill_once_busy(server: ServerHandle) -> threading.Thread:
    """SIGKILL `server` as soon as it reports a request in progress."""

    def run() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if server.metrics()["llamacpp:requests_processing"] >= 1:
                    break
            except OSError:
                pass
            time.sleep(0.02)
        server.kill()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _budgeted(model_entries: str, tmp_path: Path, name: str) -> tuple[cascadepolicy.Policy, SQLiteStore]:
    policy = _policy(f"""
models:
{model_entries}
store: {{kind: sqlite, path: {tmp_path / "unused.db"}}}
default_tier: team
tiers:
  team:
    budget: {{usd: 1.0, per: day}}
routes:
  - default: {{model: local}}
""", name=name)
    return policy, SQLiteStore(str(tmp_path / "state.db"))


def _assert_only_success_was_spent(store: SQLiteStore, policy: cascadepolicy.Policy, spent: float) -> None:
    rows = store.usage(f"{policy.name}|", now=FIXED_NOW)
    (budget,) = [r for r in rows if "|usd/" in r.key]
    assert budget.reserved == 0.0
    assert budget.used == pytest.approx(spent, rel=1e-12)
    assert all(r.reserved == 0.0 for r in rows)


def test_server_killed_mid_request_is_a_clean_error_and_releases_the_reservation(
    local_server_factory: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    victim = local_server_factory("smollm2", "victim", parallel=1)
    policy, store = _budgeted(
        f"  local: {_model(victim, max_tokens=400, retries=1, price_in=10, price_out=20)}", tmp_path, "killed"
    )
    engine = policy.engine(store=store, clock=lambda: FIXED_NOW, sleep=lambda seconds: None)
    first = engine.complete([{"role": "user", "content": "Say hello."}], user="u1")
    assert first.decision.outcome == "answered", first.decision.reason
    assert first.cost > 0

    killer = _kill_once_busy(victim)
    second = engine.complete(STORY, user="u1")  # must not raise
    killer.join()
    assert not victim.is_alive()

    decision = second.decision
    assert decision.outcome == "error"
    assert second.content is None and not second.blocked
    assert second.reason and "failed" in second.reason
    (call,) = decision.calls
    assert call.outcome == "error" and call.model_id == "local"
    # The dropped connection, then the retry against the dead server.
    assert [a["outcome"] for a in call.attempts] == ["error", "error"]
    assert "connection" in call.attempts[0]["error"].lower()
    assert decision.cost == 0.0 and second.cost == 0.0
    assert decision.admission is not None
    assert decision.admission.reserved_usd > 0
    assert decision.admission.settled_usd == 0.0
    # Nothing left reserved; spend is exactly the successful request.
    _assert_only_success_was_spent(store, policy, first.cost)
    engine.close()


def test_server_killed_mid_stream_bills_the_partial_answer_and_glues_no_fallback_to_it(
    smollm2_server: ServerHandle, local_server_factory: Callable[..., ServerHandle], tmp_path: Path
) -> None:
    victim = local_server_factory("smollm2", "victim", parallel=1)
    entries = (f"  local: {_model(victim, max_tokens=400, retries=1, fallbacks=('backup',))}\n"
               f"  backup: {_model(smollm2_server, max_tokens=8)}")
    policy, store = _budgeted(entries, tmp_path, "killed-stream")
    engine = policy.engine(store=store, clock=lambda: FIXED_NOW, sleep=lambda seconds: None)
    first = engine.complete([{"role": "user", "content": "Say hello."}], user="u1")
    assert first.decision.outcome == "answered", first.decision.reason

    streaming = engine.complete(STORY, user="u1", stream=True)
    chunks: list[str] = []
    for chunk in streaming:  # must not raise
        chunks.append(chunk)
        if len(chunks) == 3:
            victim.kill()

    result = streaming.result
    assert result is not None
    decision = result.decision
    assert len(chunks) >= 3
    # Text already delivered cannot be taken back: neither a retry nor the
    # fallback may append a second answer to it. The request failed, and says so.
    assert decision.outcome == "error"
    assert result.content is None
    (call,) = decision.calls
    assert [(a["model_id"], a["outcome"]) for a in call.attempts] == [("local", "error")]
    assert "part of the answer was sent" in call.attempts[0]["error"]
    assert "backup" not in [c.model_id for c in decision.calls]
    # What was generated before the break is billed by a provider, so it is counted and settled.
    assert call.completion_tokens >= 3 and call.cost > 0.0
    assert decision.cost == pytest.approx(call.cost)
    _assert_only_success_was_spent(store, policy, first.cost + decision.cost)
    engine.close()


# ---------------------------------------------------------------- 8 threads, one budget


def test_eight_parallel_requests_share_one_budget_exactly(smollm2_server: ServerHandle, tmp_path: Path) -> None:
    # Every answer uses all 8 tokens at $0.01 each: $0.08 reserved and spent per
    # request. $0.44 admits at most five; the other three must be refused.
    budget_usd = 0.44
    policy = _policy(f"""
models:
  local: {_model(smollm2_server, max_tokens=8, price_in=0, price_out=10000)}
store: {{kind: sqlite, path: {tmp_path / "unused.db"}}}
default_tier: team
tiers:
  team:
    budget: {{usd: {budget_usd}, per: day, scope: tier}}
routes:
  - default: {{model: local}}
""", name="parallel")
    store = SQLiteStore(str(tmp_path / "state.db"))
    engine = policy.engine(store=store, clock=lambda: FIXED_NOW)
    start = threading.Barrier(8)
    results: list[Result | BaseException] = [RuntimeError("not run")] * 8

    def worker(index: int) -> None:
        start.wait()
        try:
            results[index] = engine.complete(STORY, user=f"user-{index}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(isinstance(r, Result) for r in results), results
    done = [r for r in results if isinstance(r, Result)]
    answered = [r for r in done if r.decision.outcome == "answered"]
    refused = [r for r in done if r.blocked]
    assert len(answered) + len(refused) == 8
    assert all(r.decision.calls[0].completion_tokens == 8 for r in answered)
    assert 1 <= len(answered) <= 5
    assert len(refused) >= 3
    for r in refused:
        assert "refused by" in (r.reason or "") and "$0.44 per day" in (r.reason or "")
        assert r.decision.calls == []
    # Settled spend is exact: the store holds the sum of the decisions' costs.
    (row,) = [r for r in store.usage(f"{policy.name}|", now=FIXED_NOW) if "|usd/" in r.key]
    spent = sum(r.cost for r in done)
    assert row.reserved == 0.0
    assert row.used == pytest.approx(spent, abs=1e-12)
    assert row.used == pytest.approx(0.08 * len(answered), abs=1e-12)
    assert row.used <= budget_usd
    engine.close()


# ---------------------------------------------------------------- figures vs the server's


def test_decision_tokens_and_latency_match_the_server(smollm2_server: ServerHandle) -> None:
    policy = _policy(f"""
models:
  local: {_model(smollm2_server, max_tokens=16)}
routes:
  - default: {{model: local}}
""")
    engine = policy.engine(store=MemoryStore(), clock=lambda: FIXED_NOW)
    engine.complete(SHORT)  # warm up: litellm's first call pays for lazy imports
    before = smollm2_server.metrics()

    result = engine.complete(STORY)

    after = smollm2_server.metrics()
    delta = {k: after[k] - before[k] for k in after if k in before}
    (call,) = result.decision.calls
    # Tokens: exactly what the server generated for this request.
    assert call.completion_tokens == delta["llamacpp:tokens_predicted_total"] == 16
    # Prompt tokens are the server's count after its chat template (litellm's usage).
    from cascadepolicy.providers.calls import litellm_module

    direct = litellm_module().completion(
        model=smollm2_server.litellm_model, api_base=smollm2_server.api_base, api_key="sk-local",
        messages=STORY, max_tokens=1, temperature=0,
    )
    assert call.prompt_tokens == direct.usage.prompt_tokens
    # Latency: the client waited at least as long as the server worked on it,
    # and the request as a whole at least as long as its one call.
    server_ms = 1000 * (delta["llamacpp:prompt_seconds_total"] + delta["llamacpp:tokens_predicted_seconds_total"])
    assert server_ms > 0
    assert call.latency_ms >= server_ms - 1.0
    assert result.decision.latency_ms >= call.latency_ms
    assert call.attempts[0]["latency_ms"] == call.latency_ms
    assert call.latency_ms < 60_000  # under the model's timeout


def test_reservation_covers_the_prompt_tokens_the_server_bills(smollm2_server: ServerHandle, tmp_path: Path) -> None:
    # Input-priced: $1 per prompt token, output nearly free. SmolLM2's chat template
    # adds a default system prompt the offline estimate cannot see; the reserved
    # bound (estimate x margin + prompt_overhead_tokens) must still cover the bill.
    policy = _policy(f"""
models:
  local: {_model(smollm2_server, max_tokens=4, price_in=1_000_000, price_out=1)}
default_tier: team
tiers:
  team:
    budget: {{usd: 200, per: day}}
routes:
  - default: {{model: local}}
""", name="estimate")
    store = SQLiteStore(str(tmp_path / "state.db"))
    engine = policy.engine(store=store, clock=lambda: FIXED_NOW)

    result = engine.complete(SHORT, user="u1")

    assert result.decision.outcome == "answered", result.decision.reason
    admission = result.decision.admission
    assert admission is not None
    (row,) = [r for r in store.usage(f"{policy.name}|", now=FIXED_NOW) if "|usd/" in r.key]
    assert row.used <= 200.0, f"spent ${row.used:g} of a $200 budget (reserved ${admission.reserved_usd:g})"
    assert result.decision.cost <= admission.reserved_usd
    engine.close()
