"""Money is never overspent: what a request settles is at most what its admission reserved.

The reservation is the plan's worst case (`cascadepolicy.compile.plan`,
`compile.worst_case`). Here requests run through engines whose every answer
is adversarial: exactly `max_tokens` long (counted with the runtime's
tokenizer), rejected by every check and guardrail that can reject it, so that
every reask, escalation with `pass_draft`, judge and grounding judge call
happens; models that fail send the call to their fallbacks.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from functools import cache
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cascadepolicy
from cascadepolicy.errors import ProviderTimeout
from cascadepolicy.guardrails.base import Finding, Verdict
from cascadepolicy.providers.calls import litellm_module
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.runtime.features import text_tokens
from cascadepolicy.state import MemoryStore

NOW = 1_800_000_000.0
# Fires the output `pii` guardrail (reask) and gives every judge the lowest grade.
HEAD = "Score: 1. Write to ann@example.com."


@cache
def answer_of(max_tokens: int) -> str:
    """An answer of exactly `max_tokens` tokens that every check and guardrail here rejects."""
    text = HEAD + " x" * (max_tokens - text_tokens(HEAD))  # " x" is one token
    assert text_tokens(text) == max_tokens, (max_tokens, text_tokens(text))
    return text


def run_requests(policy_text: str, mocks: dict[str, Any], prompts: list[str], **request: Any) -> list[Any]:
    policy = cascadepolicy.loads(policy_text, "bound.yaml")
    engine = policy.engine(store=MemoryStore(), transport=MockTransport(mocks), sleep=lambda s: None, clock=lambda: NOW, decision_log=None)
    return [engine.complete([{"role": "user", "content": p}], user="u1", **request).decision for p in prompts]


# ------------------------------------------------------------------ the probe

REASKED = """
version: 1
name: reasked
models:
  m: {model: openai/m, max_tokens: 1000, pricing: {input_per_million: 1000, output_per_million: 1000}}
default_tier: team
tiers:
  team: {budget: {usd: 20, per: day}}
guardrails:
  - {id: no-email, stage: output, check: pii, entities: [email], action: reask, max_reasks: 5}
cascades:
  main: [{model: m}]
routes:
  - default: {cascade: main}
"""


def test_reasks_never_spend_past_the_budget() -> None:
    # Before the plan, each reask was reserved at the first prompt's size, though it carries every
    # earlier answer and feedback: one request reserved $6.73 and settled $21.72 of a $20 budget.
    decisions = run_requests(REASKED, {"m": answer_of(1000)}, ["What is the warranty? " * 8] * 3)
    spent = sum(d.admission.settled_usd or 0.0 for d in decisions)
    assert spent <= 20.0, spent
    for d in decisions:
        assert not d.admission.over_reserved, d.admission.warnings
        assert d.cost <= d.admission.reserved_usd + 1e-9


def test_a_reasked_request_within_budget_settles_within_its_reservation() -> None:
    decisions = run_requests(REASKED.replace("usd: 20", "usd: 1000"), {"m": answer_of(1000)}, ["What is the warranty?"])
    d = decisions[0]
    assert [c.purpose for c in d.calls] == ["draft"] + ["reask"] * 5
    assert d.admission.admitted and not d.admission.over_reserved
    assert 0 < d.cost <= d.admission.reserved_usd


# ------------------------------------------------------------------ any policy, any request

MODEL_IDS = ("m0", "m1", "m2", "m3")


@st.composite
def policies(draw: st.DrawFn) -> tuple[str, dict[str, Any], str | None]:
    models = []
    for model_id in MODEL_IDS:
        others = [m for m in MODEL_IDS if m != model_id]
        fallbacks = draw(st.lists(st.sampled_from(others), max_size=2, unique=True))
        max_tokens = draw(st.integers(16, 400))
        overhead = draw(st.integers(0, 64))
        price_in, price_out = draw(st.integers(1, 1000)), draw(st.integers(1, 1000))
        models.append(f"  {model_id}: {{model: openai/{model_id}, max_tokens: {max_tokens}, prompt_overhead_tokens: {overhead}, "
                      f"fallbacks: [{', '.join(fallbacks)}], "
                      f"pricing: {{input_per_million: {price_in}, output_per_million: {price_out}}}}}")
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        model = draw(st.sampled_from(MODEL_IDS))
        accept = ", accept: {validators: strict, min_score: 0.5}" if draw(st.booleans()) else ""
        steps.append(f"{{model: {model}, pass_draft: {str(draw(st.booleans())).lower()}, "
                     f"guardrails: {str(draw(st.sampled_from([True, True, True, False]))).lower()}{accept}}}")
    rubric = draw(st.text(string.ascii_letters + " ", min_size=1, max_size=400).filter(str.strip))
    judges = [f"    - {{check: judge, model: {m}, rubric: {rubric!r}}}"
              for m in draw(st.lists(st.sampled_from(MODEL_IDS), max_size=2))]
    guardrails = []
    if draw(st.booleans()):
        guardrails.append(f"  - {{id: grounded, stage: output, check: grounding, judge: {draw(st.sampled_from(MODEL_IDS))}, "
                          f"action: {draw(st.sampled_from(['warn', 'reask', 'escalate']))}, "
                          f"max_reasks: {draw(st.integers(1, 5))}}}")
    if draw(st.sampled_from([True, True, True, False])):
        action = draw(st.sampled_from(["reask", "reask", "escalate", "redact"]))
        guardrails.append(f"  - {{id: no-email, stage: output, check: pii, entities: [email], action: {action}, "
                          f"max_reasks: {draw(st.integers(1, 5))}}}")
    guardrails = draw(st.permutations(guardrails))
    allowed = draw(st.none() | st.lists(st.sampled_from(MODEL_IDS), min_size=1, unique=True))
    tier_models = f", models: [{', '.join(allowed)}]" if allowed is not None else ""
    text = "\n".join([
        "version: 1", "name: generated", "models:", *models,
        "default_tier: t", "tiers:",
        f"  t: {{budget: {{usd: 1000000, per: day}}, rate: [{{tokens: 100000000, per: 1h}}]{tier_models}}}",
        "limits:", "  - {id: m0-spend, scope: model, model: m0, budget: {usd: 1000000, per: day}}",
        "guardrails:" if guardrails else "guardrails: []", *guardrails,
        "validators:", "  strict:", "    - {check: regex, pattern: '^NEVER$', required: true}", *judges,
        "cascades:", f"  main: [{', '.join(steps)}]",
        "routes:", "  - default: {cascade: main}",
    ])
    failing = draw(st.lists(st.sampled_from(MODEL_IDS), max_size=3, unique=True))
    return text, {m: ProviderTimeout("down") for m in failing}, None


def cut_streams(completion: Any) -> Any:
    """litellm's completion, except that a stream sends the whole answer and then breaks (billed, not retried)."""
    def cutting(**kwargs: Any) -> Any:
        if not kwargs.get("stream"):
            return completion(**kwargs)
        text = kwargs["mock_response"]

        def chunks() -> Iterator[Any]:
            for start in range(0, len(text), 7):
                yield SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content=text[start:start + 7]),
                                                               finish_reason=None)], usage=None)
            raise ConnectionError("connection reset by peer")
        return chunks()
    return cutting


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(generated=policies(), words=st.integers(1, 600), documents=st.lists(st.integers(0, 300), max_size=3),
       stream=st.booleans())
def test_no_request_settles_more_than_it_reserved(generated: tuple[str, dict[str, Any], str | None], words: int,
                                                  documents: list[int], stream: bool) -> None:
    text, failing, _ = generated
    policy = cascadepolicy.loads(text, "generated.yaml")
    mocks: dict[str, Any] = {m: answer_of(spec.max_tokens) for m, spec in policy.spec.models.items()}
    mocks.update(failing)
    docs = [" ".join(f"fact{i}" for i in range(n)) for n in documents]
    engine = policy.engine(store=MemoryStore(), transport=MockTransport(mocks), sleep=lambda s: None, clock=lambda: NOW, decision_log=None)
    messages = [{"role": "user", "content": " ".join(f"q{i}" for i in range(words))}]
    if stream:
        litellm = litellm_module()
        with mock.patch.object(litellm, "completion", cut_streams(litellm.completion)):
            streaming = engine.complete(messages, user="u1", metadata={"documents": docs}, stream=True)
            list(streaming)
        assert streaming.result is not None
        d = streaming.result.decision
    else:
        d = engine.complete(messages, user="u1", metadata={"documents": docs}).decision
    if d.admission is None or not d.admission.admitted:
        return
    assert not d.admission.over_reserved, (d.admission.warnings, [(c.model_id, c.purpose, c.prompt_tokens) for c in d.calls])
    assert d.cost <= d.admission.reserved_usd * (1 + 1e-9) + 1e-12
    assert not [c for c in d.calls if c.error and "reserved" in c.error]  # no call needed the prompt check to stop it


@pytest.mark.parametrize("max_tokens", [16, 100, 400])
def test_adversarial_answers_are_exactly_max_tokens_long(max_tokens: int) -> None:
    assert text_tokens(answer_of(max_tokens)) == max_tokens


# ------------------------------------------------------------------ a call the plan did not foresee

def inflate(text: str) -> Verdict:
    """A custom guardrail whose redaction makes the answer far longer than any model could write it."""
    findings = tuple(Finding("custom", i, i + 1, 1.0, "SECRET" * 40) for i in range(min(len(text), 40)))
    return Verdict(True, 1.0, findings, "inflated")


INFLATED = """
version: 1
name: inflated
models:
  writer: {model: openai/writer, max_tokens: 40, pricing: {input_per_million: 1, output_per_million: 1}}
  judge: {model: openai/judge, max_tokens: 20, pricing: {input_per_million: 1, output_per_million: 1}}
default_tier: team
tiers:
  team: {budget: {usd: 100, per: day}}
guardrails:
  - {id: inflate, stage: output, check: custom, function: "tests.engine.test_worst_case_bound:inflate", action: redact}
  - {id: grounded, stage: output, check: grounding, judge: judge, action: warn, on_timeout: allow}
routes:
  - default: {model: writer}
"""


def test_a_prompt_longer_than_its_reservation_is_not_sent() -> None:
    d = run_requests(INFLATED, {"writer": answer_of(40), "judge": "Score: 9"}, ["Is it grounded?"],
                     metadata={"documents": ["The sky is blue."]})[0]
    judge = [c for c in d.calls if c.model_id == "judge"]
    assert len(judge) == 1 and judge[0].outcome == "error" and "reserved for this call" in (judge[0].error or "")
    assert judge[0].cost == 0 and not d.admission.over_reserved
    assert d.outcome == "answered"  # the grounding check failed open, as the policy says (on_timeout: allow)
