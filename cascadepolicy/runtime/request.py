"""The request: what one call of `complete` carries through the walk, and the checks it must pass first.

    ▶ request (messages, tier, context checked) → input guardrails → route → admission → cascade → settle → Result

`Request.start` checks the caller's messages, resolves the tier (the `tier`
argument, else `context["user"]["tier"]`, else the policy's `default_tier`)
and opens the request's decision record; `check_request` is the walk's first
node, refusing an unknown tier or a context field the policy declares but the
request gets wrong. The `Request` then holds what the later nodes share: the
working copy of the messages (redaction replaces their content), the request
values conditions read, the redactor, the transport and what the calls spent.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cascadepolicy.compile.worst_case import Usage
from cascadepolicy.errors import RequestError
from cascadepolicy.guardrails.redaction import Redactor
from cascadepolicy.language.model import ContextField, PolicyDocument
from cascadepolicy.providers.calls import CallResult
from cascadepolicy.providers.transport import Transport
from cascadepolicy.runtime.decision import Decision
from cascadepolicy.runtime.features import Detectors, RequestValues


@dataclass
class Request:
    """Mutable state of one request while it moves through the plan."""

    decision: Decision
    messages: list[dict[str, Any]]
    extra: dict[str, Any]
    values: RequestValues
    redactor: Redactor
    transport: Transport
    stream: bool  # the caller reads the answer as a stream
    # with a reservation: the request's prompt and documents tokens its calls' prompts are held to
    reserved: tuple[int, int] | None = None
    usage_tokens: dict[str, float] = field(default_factory=dict)
    usage_usd: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(cls, messages: Sequence[Mapping[str, Any]], *, user: str | None, tier: str | None,
              context: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None, stream: bool,
              default_tier: str | None, policy_info: dict[str, Any], detectors: Detectors, transport: Transport) -> Request:
        """A request as the caller gave it; raises `RequestError` for messages that are not a chat."""
        context = dict(context or {})
        metadata = dict(metadata or {})
        working = check_messages(messages)
        tier = tier or nested(context, "user", "tier") or default_tier
        decision = Decision(policy=policy_info, user=user, tier=tier)
        values = RequestValues(working, detectors, user=user, tier=tier, context=context, metadata=metadata)
        extra = {"documents": metadata.get("documents", ())}
        return cls(decision, working, extra, values, Redactor(), transport, stream)

    def charge(self, call: CallResult) -> None:
        self.usage_tokens[call.model_id] = self.usage_tokens.get(call.model_id, 0.0) + call.prompt_tokens + call.completion_tokens
        self.usage_usd[call.model_id] = self.usage_usd.get(call.model_id, 0.0) + call.cost

    def usage(self) -> Usage:
        return Usage(dict(self.usage_tokens), dict(self.usage_usd))


def check_request(spec: PolicyDocument, request: Request) -> str | None:
    """Why the policy refuses the request before anything runs (its tier, its context fields); None when it may go on."""
    decision = request.decision
    if spec.tiers:
        if decision.tier is None:
            return "the request names no tier and the policy has no default_tier"
        if decision.tier not in spec.tiers:
            return f"unknown tier {decision.tier!r}; the policy defines {', '.join(spec.tiers)}"
    for name, field_spec in spec.context.items():
        present = name in request.values.given
        if isinstance(field_spec, ContextField):
            if field_spec.required and not present:
                return f"the request has no value for the required context field {name!r}"
            if present and field_spec.enum and request.values.given[name] not in field_spec.enum:
                return f"context field {name!r} is {request.values.given[name]!r}, not one of {', '.join(field_spec.enum)}"
    return None


def check_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The working copy of the caller's messages; raises `RequestError` for anything but a non-empty list of messages."""
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence) or not messages:
        raise RequestError("messages must be a non-empty list of {'role': ..., 'content': ...} mappings")
    working = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message:
            raise RequestError(f"message {index} must be a mapping with a 'role' and 'content'")
        # Redaction and reasks replace a message's content, never edit it in place; a text
        # message needs only its own dict, so the caller's messages stay untouched.
        working.append(dict(message) if isinstance(message.get("content"), str) else copy.deepcopy(dict(message)))
    return working


def nested(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data
