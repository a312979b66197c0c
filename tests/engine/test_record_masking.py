"""With `audit.include_text`, every PII finding is masked in the stored text (issue 11, point 8).

Whatever the PII rule's mode (enforce, warn, dry_run) and action (block,
redact, warn), and whether the PII is in the prompt or the answer, no raw
value reaches the decision record or the JSONL sink. What the model receives
is unchanged in warn and dry_run modes: the model here is a local
OpenAI-compatible stub that records the requests it gets.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

import cascadepolicy
from cascadepolicy.state import MemoryStore

from .hostile_provider import Script, hostile_provider, response, usage

EMAIL, CARD, SSN = "jane.doe@example.com", "4111 1111 1111 1111", "536-22-8841"
RAW = (EMAIL, CARD, SSN)
PII_TEXT = f"Mail me at {EMAIL}, card {CARD}, SSN {SSN}."


def _policy(api_base: str, log: Path, guardrails: str, *, include_text: bool = True,
            sections: str = "routes:\n  - default: {model: m}") -> Any:
    return cascadepolicy.loads(f"""
version: 1
name: masking
models:
  m: {{model: openai/stub, api_base: "{api_base}", max_tokens: 200, retries: 0,
       pricing: {{input_per_million: 1, output_per_million: 1}}}}
guardrails: {guardrails}
{sections}
audit: {{include_text: {str(include_text).lower()}, decision_log: "{log}"}}
""", "masking.yaml")


def _run(tmp_path: Path, guardrails: str, prompt: str, answer: str, **policy: str) -> tuple[Any, str, list[dict[str, Any]]]:
    """The result, the sink's text, and the requests the model received."""
    log = tmp_path / "decisions.jsonl"
    script = Script(body=response(answer, usage(30, 30)))
    with hostile_provider(script) as api_base:
        engine = _policy(api_base, log, guardrails, **policy).engine(store=MemoryStore(), sleep=lambda _: None)
        result = engine.complete([{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}])
    return result, log.read_text(encoding="utf-8"), script.requests


def _assert_no_raw(result: Any, sink: str) -> None:
    record = result.decision.to_json()
    for value in RAW:
        assert value not in record
        assert value not in sink
    assert json.loads(sink.splitlines()[-1])["decision_id"] == result.decision.decision_id


CASES = list(itertools.product(["enforce", "warn", "dry_run"], ["block", "redact", "warn"]))


@pytest.mark.parametrize("mode, action", CASES)
def test_pii_in_the_prompt_is_masked_in_the_record(tmp_path: Path, mode: str, action: str) -> None:
    rule = f"[{{id: pii, stage: input, check: pii, entities: [email, credit_card, ssn], action: {action}, mode: {mode}}}]"
    result, sink, requests = _run(tmp_path, rule, PII_TEXT, f"Noted: {EMAIL}.")
    _assert_no_raw(result, sink)
    if mode == "enforce" and action == "block":
        assert result.decision.outcome == "blocked" and result.decision.messages is None
        return
    assert result.decision.outcome == "answered"
    stored = result.decision.messages[-1]["content"]
    assert "[EMAIL_1]" in stored and "[CREDIT_CARD_1]" in stored and "[SSN_1]" in stored
    # the same value has the same placeholder in the prompt and the answer
    assert result.decision.answer == "Noted: [EMAIL_1]."
    sent = requests[0]["messages"][-1]["content"]
    if mode == "enforce" and action == "redact":
        assert sent == stored
    else:  # warn and dry_run modes, and the warn action, send the prompt unchanged
        assert sent == PII_TEXT
        assert result.content == f"Noted: {EMAIL}."


@pytest.mark.parametrize("mode, action", CASES)
def test_pii_in_the_answer_is_masked_in_the_record(tmp_path: Path, mode: str, action: str) -> None:
    rule = f"[{{id: pii-out, stage: output, check: pii, entities: [email, credit_card, ssn], action: {action}, mode: {mode}}}]"
    result, sink, requests = _run(tmp_path, rule, "Where do I send it?", PII_TEXT)
    _assert_no_raw(result, sink)
    if mode == "enforce" and action == "block":
        assert result.decision.outcome == "blocked" and result.decision.answer is None
        return
    assert result.decision.outcome == "answered"
    assert result.decision.answer == "Mail me at [EMAIL_1], card [CREDIT_CARD_1], SSN [SSN_1]."
    if not (mode == "enforce" and action == "redact"):
        assert result.content == PII_TEXT  # the caller's answer is not rewritten outside enforce/redact


def test_without_a_pii_rule_the_record_is_masked_with_the_default_entities(tmp_path: Path) -> None:
    result, sink, requests = _run(tmp_path, "[]", PII_TEXT, f"Your card {CARD} is on file.")
    _assert_no_raw(result, sink)
    assert requests[0]["messages"][-1]["content"] == PII_TEXT
    assert result.decision.answer == "Your card [CREDIT_CARD_1] is on file."


def test_multi_part_messages_are_masked_part_by_part(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    rule = "[{id: pii, stage: input, check: pii, entities: [email], action: warn}]"
    with hostile_provider(Script(body=response("ok", usage(30, 2)))) as api_base:
        engine = _policy(api_base, log, rule).engine(store=MemoryStore())
        result = engine.complete([{"role": "user", "content": [{"type": "text", "text": f"I am {EMAIL}"},
                                                                 {"type": "text", "text": f"cc {EMAIL}"}]}])
    _assert_no_raw(result, log.read_text(encoding="utf-8"))
    assert result.decision.messages[0]["content"] == [{"type": "text", "text": "I am [EMAIL_1]"},
                                                         {"type": "text", "text": "cc [EMAIL_1]"}]


def test_check_details_quoting_the_answer_are_masked(tmp_path: Path) -> None:
    # Check details are kept with or without include_text; answer_format quotes the final answer.
    sections = ("validators:\n  final:\n    - {check: answer_format, numeric: false, answer_pattern: 'Answer: (.+)'}\n"
                "cascades:\n  c:\n    - {model: m, accept: {validators: final, min_score: 0.5}}\n"
                "routes:\n  - default: {cascade: c}")
    rule = "[{id: pii, stage: output, check: pii, entities: [email], action: warn, mode: dry_run}]"
    log = tmp_path / "decisions.jsonl"
    with hostile_provider(Script(body=response(f"Answer: {EMAIL}", usage(30, 9)))) as api_base:
        policy = _policy(api_base, log, rule, include_text=False, sections=sections)
        result = policy.engine(store=MemoryStore()).complete([{"role": "user", "content": "Give me the address."}])
    _assert_no_raw(result, log.read_text(encoding="utf-8"))
    details = [c["detail"] for v in result.decision.validations for c in v.checks]
    assert details == ["final answer '[EMAIL_1]'"]
