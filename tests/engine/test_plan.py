"""The plan is the one description of execution: the engine walks it, `graph` draws it, and the
text the runtime appends to prompts stays within the bounds it reserves."""

from __future__ import annotations

from typing import Any

import pytest

import cascadepolicy
from cascadepolicy.compile.graph import build_graph
from cascadepolicy.compile.plan import (
    FEEDBACK_MAX_TOKENS,
    MESSAGE_TOKENS,
    REPLY_TOKENS,
    compile_plan,
)
from cascadepolicy.guardrails.base import Verdict
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.runtime.features import clip_tokens, count_prompt_tokens, text_tokens
from cascadepolicy.state import MemoryStore

ASK = [{"role": "user", "content": "What does the warranty cover?"}]


def engine(text: str, mocks: dict[str, Any]) -> Any:
    policy = cascadepolicy.loads(text, "plan.yaml")
    return policy.engine(store=MemoryStore(), transport=MockTransport(mocks), sleep=lambda s: None, decision_log=None)


def path_of_graph(eng: Any, decision: Any) -> list[tuple[str, str]]:
    """The consecutive pairs of the trace that are not edges of the graph (none: the trace is a path of it)."""
    edges = {(e.source, e.target) for e in build_graph(eng.policy).edges}
    nodes = {n.id for n in build_graph(eng.policy).nodes}
    assert set(decision.trace) <= nodes
    return [pair for pair in zip(decision.trace, decision.trace[1:], strict=False) if pair not in edges]


SAME_ID = """
version: 1
name: same-id
context:
  metadata.kind: string
models:
  fast: {model: gpt-4o-mini, max_tokens: 10}
  strong: {model: gpt-4o, max_tokens: 10}
cascades:
  strong: [{model: fast}]
routes:
  - {when: "metadata.kind == 'direct'", model: strong}
  - default: {cascade: strong}
"""


@pytest.mark.parametrize(("kind", "final", "node"), [("direct", "strong", "model:strong"), ("other", "fast", "cascade:strong:0")])
def test_a_route_to_a_model_calls_that_model_even_when_a_cascade_has_its_id(kind: str, final: str, node: str) -> None:
    eng = engine(SAME_ID, {"fast": "fast says", "strong": "strong says"})
    d = eng.complete(ASK, metadata={"kind": kind}).decision
    assert d.final_model_id == final  # before: the route `model: strong` ran the cascade `strong`
    assert node in d.trace and path_of_graph(eng, d) == []


TIERED = """
version: 1
name: tiered
models:
  small: {model: gpt-4o-mini, max_tokens: 20}
  large: {model: gpt-4o, max_tokens: 20}
default_tier: basic
tiers:
  basic: {models: [large]}
guardrails:
  - {id: no-email, stage: output, check: pii, entities: [email], action: reask, max_reasks: 2}
validators:
  answered:
    - {check: regex, pattern: ANSWER, required: true}
cascades:
  main:
    - {model: small, accept: {validators: answered, min_score: 0.5}}
    - {model: large}
routes:
  - default: {cascade: main}
"""


def test_a_tier_that_skips_a_step_walks_an_edge_of_the_graph() -> None:
    eng = engine(TIERED, {"small": "small ANSWER", "large": "large says"})
    d = eng.complete(ASK).decision
    assert d.final_model_id == "large" and d.trace[:4] == ["start", "route:1", "admit:main", "cascade:main:1"]
    assert path_of_graph(eng, d) == []  # before: the graph had no edge from admit:main to the second step


def test_reasks_are_edges_of_the_graph() -> None:
    edges = {(e.source, e.target, e.label) for e in build_graph(cascadepolicy.loads(TIERED, "plan.yaml")).edges}
    assert ("cascade:main:0", "cascade:main:0", "reask (at most 2)") in edges


def test_every_step_lists_every_call_it_may_make() -> None:
    plan = compile_plan(cascadepolicy.loads(TIERED, "plan.yaml"), count_tokens=text_tokens)
    first, second = plan.target("main").steps
    assert [(c.purpose, c.answer) for c in first.calls] == [("draft", 0), ("reask", 1), ("reask", 2)]
    growth = 2 * MESSAGE_TOKENS + 20 + FEEDBACK_MAX_TOKENS  # an answer and the feedback, per reask
    assert [c.prompt.extra for c in second.calls] == [0, growth, 2 * growth]
    assert plan.allowed(plan.target("main"), "basic") == ((second,), None)


@pytest.mark.parametrize("role", ["user", "assistant"])
def test_the_tokens_a_message_adds_are_what_the_plan_counts(role: str) -> None:
    base = [{"role": "user", "content": "hello"}]
    text = "a reply of a few words"
    assert count_prompt_tokens([*base, {"role": role, "content": text}]) - count_prompt_tokens(base) == MESSAGE_TOKENS + text_tokens(text)
    assert count_prompt_tokens([]) == REPLY_TOKENS


@pytest.mark.parametrize("text", ["short", "word " * 5000, "🎉" * 3000, "x" * 100_000, " " * 9000 + "a", "a\u0301" * 4000])
@pytest.mark.parametrize("limit", [0, 1, 7, 192])
def test_clipped_text_never_counts_more_than_its_limit(text: str, limit: int) -> None:
    clipped = clip_tokens(text, limit)
    assert text_tokens(clipped) <= limit
    assert text.startswith(clipped.rstrip("…")) or clipped in ("", "…")


def long_reason(text: str) -> Verdict:
    """A custom output guardrail that always fires, with a very long reason."""
    return Verdict(True, 1.0, (), "the answer is wrong because " + "it is wrong, " * 20_000)


REASKED = """
version: 1
name: long-reason
models:
  m: {model: gpt-4o-mini, max_tokens: 30}
guardrails:
  - {id: picky, stage: output, check: custom, function: "tests.engine.test_plan:long_reason", action: reask, max_reasks: 1}
routes:
  - default: {model: m}
"""


def test_a_reask_appends_at_most_the_answer_and_the_feedback_the_plan_reserves() -> None:
    eng = engine(REASKED, {"m": "An answer."})
    d = eng.complete(ASK).decision
    draft, reask = d.calls
    assert reask.purpose == "reask"
    # before: the whole reason (60,000 tokens) went into the reask's prompt
    assert reask.prompt_tokens - draft.prompt_tokens <= 2 * MESSAGE_TOKENS + 30 + FEEDBACK_MAX_TOKENS


LIMITED = """
version: 1
name: limited
models:
  m: {model: gpt-4o-mini, max_tokens: 30}
default_tier: free
tiers:
  free:
    rate: [{requests: 10, per: 1h}, {tokens: 100000, per: 1d, scope: tier}]
    budget: {usd: 5, per: day}
limits:
  - {id: m-rpm, scope: model, model: m, rate: {requests: 100, per: 1m}}
routes:
  - default: {model: m}
"""


def test_admission_charges_the_plans_templates_which_know_where_the_policy_declares_them() -> None:
    eng = engine(LIMITED, {"m": "An answer."})
    d = eng.complete(ASK, user="u1").decision
    templates = eng.plan.limits["free"]
    assert [s.label for s in d.admission.limits] == [t.label for t in templates]
    assert [(t.name, t.path) for t in templates] == [
        ("tiers.free.rate[0]", ("tiers", "free", "rate", 0)), ("tiers.free.rate[1]", ("tiers", "free", "rate", 1)),
        ("tiers.free.budget", ("tiers", "free", "budget")), ("limits.m-rpm", ("limits", 0))]
    assert eng.plan.limits[None] == templates[3:]
