"""One walk, two drivers: `complete` and `acomplete` run the same request path.

The async driver makes its model calls on the event loop (no thread per
request), streams with `async for`, and a request whose caller goes away (a
cancelled task, a stream closed early) settles what it spent or releases its
reservation exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

import cascadepolicy
from cascadepolicy.errors import ProviderUnavailable
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.state import MemoryStore
from cascadepolicy.state.base import Admission, Charge

NOW = 1_800_000_000.0
ASK = [{"role": "user", "content": "What is the capital of France? Answer briefly."}]

CASCADE = """
version: 1
name: drivers
models:
  small: {model: gpt-4o-mini, max_tokens: 40, retries: 0}
  large: {model: gpt-4o, max_tokens: 40, retries: 0}
  judge: {model: gpt-4o-mini, max_tokens: 5, retries: 0}
default_tier: all
tiers:
  all:
    budget: {usd: 5, per: day}
validators:
  graded:
    - {check: judge, model: judge, min_score: 7}
guardrails:
  - {id: toxic, stage: output, check: toxicity, action: reask, max_reasks: 1}
cascades:
  main:
    - {model: small, accept: {validators: graded, min_score: 0.6}}
    - {model: large, pass_draft: true}
routes:
  - default: {cascade: main}
"""

ONE_STEP = """
version: 1
name: one-step
models:
  m: {model: gpt-4o-mini, max_tokens: 50, retries: 2}
default_tier: all
tiers:
  all:
    budget: {usd: 5, per: day}
routes:
  - default: {model: m}
"""

ANSWERS = {"small": "ANSWER: you are an idiot and I hate you, stupid moron.", "large": "Paris.", "judge": "Score: 3"}


class CountingStore(MemoryStore):
    """A memory store that counts how each reservation ended (its async twins call these)."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[str] = []

    def settle(self, reservation_id: str, actual: Mapping[str, float], *, now: float) -> None:
        self.ends.append("settle")
        super().settle(reservation_id, actual, now=now)

    def release(self, reservation_id: str, *, now: float) -> None:
        self.ends.append("release")
        super().release(reservation_id, now=now)

    def held(self) -> float:
        return sum(u.reserved for u in self.usage(now=NOW))

    def spent(self) -> float:
        return sum(u.used for u in self.usage(now=NOW))


def build(text: str, transport: Any, store: Any = None) -> Any:
    return cascadepolicy.loads(text, "drivers.yaml").engine(store=store or CountingStore(), transport=transport,
                                                            clock=lambda: NOW, decision_log=None, sleep=lambda s: None)


def shape(result: Any) -> dict[str, Any]:
    d = result.decision
    return {"trace": d.trace, "calls": [(c.model_id, c.purpose, c.outcome, c.cost) for c in d.calls],
            "validations": [(v.score, v.accepted) for v in d.validations], "cost": d.cost, "outcome": d.outcome,
            "guardrails": [(g.id, g.action) for g in d.guardrails], "content": result.content,
            "settled": d.admission.settled_usd}


def test_complete_and_acomplete_walk_the_same_path() -> None:
    # reask (output guardrail), judge call, escalation with pass_draft: every kind of effect
    sync = build(CASCADE, MockTransport(ANSWERS)).complete(ASK, user="u")
    asynchronous = asyncio.run(build(CASCADE, MockTransport(ANSWERS)).acomplete(ASK, user="u"))
    assert [c[1] for c in shape(sync)["calls"]] == ["draft", "reask", "draft"]  # reasked, then escalated
    assert shape(asynchronous) == shape(sync)
    answered = {**ANSWERS, "small": "Paris is the capital of France."}
    sync = build(CASCADE, MockTransport(answered)).complete(ASK, user="u")
    asynchronous = asyncio.run(build(CASCADE, MockTransport(answered)).acomplete(ASK, user="u"))
    assert [c[1] for c in shape(sync)["calls"]] == ["draft", "judge", "draft"]  # the judge graded 3: escalated
    assert shape(asynchronous) == shape(sync)


def test_acomplete_streams_with_async_for() -> None:
    engine = build(ONE_STEP, MockTransport({"m": "one two three four five"}))

    async def read() -> tuple[list[str], Any]:
        stream = await engine.acomplete(ASK, user="u", stream=True)
        return [chunk async for chunk in stream], stream.result

    chunks, result = asyncio.run(read())
    assert len(chunks) > 1 and "".join(chunks) == "one two three four five"
    assert result.decision.outcome == "answered" and result.content == "".join(chunks)
    assert engine.store.ends == ["settle"]


class Hanging(MockTransport):
    """A provider that never answers (async), so the caller's task can be cancelled mid-call."""

    def __init__(self) -> None:
        super().__init__({"m": "never sent"})
        self.called = asyncio.Event()

    async def asend(self, kwargs: dict[str, Any]) -> Any:
        self.called.set()
        await asyncio.Event().wait()


def test_a_cancelled_request_settles_its_in_flight_call_once() -> None:
    transport = Hanging()
    engine = build(ONE_STEP, transport)

    async def cancel_mid_call() -> None:
        task = asyncio.create_task(engine.acomplete(ASK, user="u"))
        await transport.called.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_mid_call())
    store = engine.store
    assert store.ends == ["settle"]
    assert store.held() == 0  # nothing left reserved
    # the call may have been answered and billed: it is counted at its worst case, within the reservation
    request = engine._new_request(ASK, user="u", tier=None, context=None, metadata=None, stream=False)
    worst = engine.admission.worst_case(engine.plan.target("m"), "all", request.values["request.tokens"])
    assert 0 < store.spent() <= sum(worst.usd.values()) * 1.0001


class FailingThenHanging(MockTransport):
    """The first attempt fails (retryable), so the walk sleeps before retrying; it is cancelled while asleep."""

    def __init__(self) -> None:
        super().__init__({"m": ProviderUnavailable("503 (test)")})


def test_a_request_cancelled_before_spending_releases_its_reservation_once() -> None:
    asleep = asyncio.Event()
    engine = cascadepolicy.loads(ONE_STEP, "drivers.yaml").engine(store=CountingStore(), transport=FailingThenHanging(),
                                                                   clock=lambda: NOW, decision_log=None)

    async def wait_forever(seconds: float) -> None:
        asleep.set()
        await asyncio.Event().wait()

    engine.io = engine.io.__class__(engine.transport, engine.store, engine.io.sleep, wait_forever)

    async def cancel_in_backoff() -> None:
        task = asyncio.create_task(engine.acomplete(ASK, user="u"))
        await asleep.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_in_backoff())
    assert engine.store.ends == ["release"]
    assert engine.store.held() == 0 and engine.store.spent() == 0


def test_a_stream_closed_early_settles_once() -> None:
    engine = build(ONE_STEP, MockTransport({"m": "one two three four five six seven"}))
    stream = engine.complete(ASK, user="u", stream=True)
    chunks = iter(stream)
    first = next(chunks)
    assert first
    chunks.close()  # type: ignore[attr-defined]  # the consumer leaves after one chunk
    assert engine.store.ends == ["settle"]
    assert engine.store.held() == 0 and engine.store.spent() > 0


def test_a_store_without_async_methods_still_serves_acomplete() -> None:
    class SyncOnly:
        """A third-party store with the blocking interface only."""

        def __init__(self) -> None:
            self.inner = MemoryStore()
            self.calls: list[str] = []

        def reserve(self, charges: list[Charge], *, now: float, ttl: float) -> Admission:
            self.calls.append("reserve")
            return self.inner.reserve(charges, now=now, ttl=ttl)

        def settle(self, reservation_id: str, actual: Mapping[str, float], *, now: float) -> None:
            self.calls.append("settle")
            self.inner.settle(reservation_id, actual, now=now)

        def release(self, reservation_id: str, *, now: float) -> None:
            self.inner.release(reservation_id, now=now)

        def usage(self, key_prefix: str = "", *, now: float) -> list[Any]:
            return self.inner.usage(key_prefix, now=now)

        def reset(self, key_prefix: str) -> int:
            return self.inner.reset(key_prefix)

        def close(self) -> None:
            self.inner.close()

    store = SyncOnly()
    result = asyncio.run(build(ONE_STEP, MockTransport({"m": "fine"}), store).acomplete(ASK, user="u"))
    assert result.decision.outcome == "answered" and store.calls == ["reserve", "settle"]


def test_an_async_stream_closed_early_settles_once() -> None:
    engine = build(ONE_STEP, MockTransport({"m": "one two three four five six seven"}))

    async def leave_after_one() -> None:
        stream = await engine.acomplete(ASK, user="u", stream=True)
        chunks = stream.__aiter__()
        assert await chunks.__anext__()
        await chunks.aclose()  # type: ignore[attr-defined]  # the consumer leaves after one chunk

    asyncio.run(leave_after_one())
    assert engine.store.ends == ["settle"]
    assert engine.store.held() == 0 and engine.store.spent() > 0
