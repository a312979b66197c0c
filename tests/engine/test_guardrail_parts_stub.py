"""What the provider receives after input redaction, recorded by a local OpenAI-compatible server.

A multimodal message reaches the provider with its text parts redacted in
place and its image part intact, in order; a tool result is redacted by
default; an assistant's earlier tool call (content None) goes through.
"""

from __future__ import annotations

import json

import cascadepolicy
from cascadepolicy.state import MemoryStore
from tests.engine.test_caller_params import received, stub  # noqa: F401  (the recording stub server, a fixture)

EMAIL = "jane.doe@example.com"
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAfbLI3wAAAABJRU5ErkJggg=="}}


def test_the_provider_receives_text_parts_redacted_in_place_and_the_image_intact(stub: str) -> None:  # noqa: F811
    policy = cascadepolicy.loads(f"""
version: 1
name: parts
models:
  m: {{model: openai/stub, api_base: "{stub}", max_tokens: 64, retries: 0,
       pricing: {{input_per_million: 1.0, output_per_million: 2.0}}}}
guardrails:
  - {{id: pii, stage: input, check: pii, entities: [email], action: redact}}
routes:
  - default: {{model: m}}
""", "parts.yaml")
    engine = policy.engine(store=MemoryStore(), decision_log=None)
    messages = [
        {"role": "user", "content": [{"type": "text", "text": f"I am {EMAIL}. What is in this picture?"}, IMAGE,
                                     {"type": "text", "text": f"Reply to {EMAIL}."}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "crm_lookup", "arguments": '{"id": 7}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": f"Customer 7: {EMAIL}, premium plan."},
    ]
    before = len(received(stub))
    result = engine.complete(messages, user="u1")
    assert result.ok, result.reason
    (body,) = received(stub)[before:]
    sent = body["messages"]
    assert sent[0]["content"] == [{"type": "text", "text": "I am [EMAIL_1]. What is in this picture?"}, IMAGE,
                                  {"type": "text", "text": "Reply to [EMAIL_1]."}]
    assert sent[1]["tool_calls"][0]["function"] == {"name": "crm_lookup", "arguments": '{"id": 7}'}
    assert sent[2]["content"] == "Customer 7: [EMAIL_1], premium plan."
    assert EMAIL not in json.dumps(body)
