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
from typing import TYPE_CHECKING, Any

from cascadepolicy.compile.worst_case import Usage
from cascadepolicy.errors import ProviderError, RequestError
from cascadepolicy.guardrails.redaction import Redactor
from cascadepolicy.language.model import ContextField, PolicyDocument
from cascadepolicy.language.params import POLICY_OWNED, REQUEST_PARAMS
from cascadepolicy.providers.calls import CallResult
from cascadepolicy.providers.transport import Transport
from cascadepolicy.quality.base import Check
from cascadepolicy.quality.structured import response_format_check
from cascadepolicy.runtime.decision import Decision
from cascadepolicy.runtime.features import Detectors, RequestValues, params_prompt, text_tokens

if TYPE_CHECKING:
    from cascadepolicy.runtime.shadow import Pending
    from cascadepolicy.runtime.telemetry import RequestTelemetry


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
    # the chat-completion parameters passed through to the models (checked by `check_params`)
    params: dict[str, Any] = field(default_factory=dict)
    # the most completion tokens an answer may use, when the request or its tier asks for fewer than the models'
    max_tokens: int | None = None
    format_check: Check | None = None  # the request's `response_format`, checked on every accepted draft
    # with a reservation: the request's prompt and documents tokens its calls' prompts are held to
    reserved: tuple[int, int] | None = None
    usage_tokens: dict[str, float] = field(default_factory=dict)
    usage_usd: dict[str, float] = field(default_factory=dict)
    last_error: ProviderError | None = None  # the last failed call's error, raised by `completion` when all failed
    telemetry: RequestTelemetry | None = None  # the request's OpenTelemetry span, when telemetry is on
    shadow: Pending | None = None  # the candidate policy's request, when the engine runs one in shadow

    @classmethod
    def start(cls, messages: Sequence[Mapping[str, Any]], *, user: str | None, tier: str | None,
              context: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None, stream: bool,
              default_tier: str | None, policy_info: dict[str, Any], detectors: Detectors, transport: Transport,
              model: str | None = None, params: Mapping[str, Any] | None = None) -> Request:
        """A request as the caller gave it; raises `RequestError` for messages that are not a chat."""
        context = dict(context or {})
        metadata = dict(metadata or {})
        params = dict(params or {})
        working = check_messages(messages)
        if model is not None and not isinstance(model, str):
            raise RequestError(f"model must be a model name (a string), not {type(model).__name__}")
        tier = tier or nested(context, "user", "tier") or default_tier
        decision = Decision(policy=policy_info, user=user, tier=tier)
        tools = params.get("tools")
        prompt_params = params_prompt(params)
        values = RequestValues(working, detectors, user=user, tier=tier, context=context, metadata=metadata, model=model,
                               tool_count=len(tools) if isinstance(tools, list | tuple) else 0,
                               params_tokens=text_tokens(prompt_params) if prompt_params else 0)
        extra = {"documents": metadata.get("documents", ())}
        return cls(decision, working, extra, values, Redactor(), transport, stream, params)

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


def check_params(spec: PolicyDocument, request: Request) -> None:
    """Refuse parameters the engine cannot pass on or the tier may not set (`RequestError`); cap `max_tokens`.

    Nothing is dropped silently: an unknown name, a forbidden one, `n` above 1
    and a `response_format` the engine cannot check are errors; a `max_tokens`
    above the tier's cap is lowered, and the decision records it.
    """
    params = request.params
    tier = spec.tiers.get(request.decision.tier or "")
    rules = tier.params if tier is not None else None
    if not params and (rules is None or rules.max_tokens is None):
        return  # nothing asked, nothing capped: the common `complete` request
    unknown = sorted(k for k in params if k not in REQUEST_PARAMS)
    if unknown:
        owned = [k for k in unknown if k in POLICY_OWNED]
        raise RequestError(f"unknown request parameter(s) {', '.join(map(repr, unknown))}" + (
            f"; {', '.join(map(repr, owned))} {'is' if len(owned) == 1 else 'are'} the policy's to set, not the request's"
            if owned else "; pass chat-completion parameters litellm accepts (tools, temperature, response_format, ...)"))
    if rules is not None:
        forbidden = sorted(k for k in params if k in rules.forbid)
        if forbidden:
            raise RequestError(f"the tier {request.decision.tier!r} may not set {', '.join(map(repr, forbidden))} "
                               "(tiers.<name>.params.forbid); remove it from the request")
    n = params.get("n")
    if n is not None and n != 1:
        raise RequestError(f"n={n!r} is not supported: a policy answers with one choice per request (leave n out, or 1)")
    asked = params.get("max_completion_tokens", params.get("max_tokens"))
    if asked is not None and (not isinstance(asked, int) or isinstance(asked, bool) or asked < 1):
        raise RequestError(f"max_tokens must be a positive whole number, not {asked!r}")
    cap = rules.max_tokens if rules is not None else None
    allowed = min(v for v in (asked, cap) if v is not None) if asked is not None or cap is not None else None
    if asked is not None and allowed is not None and allowed < asked:
        request.decision.features["max_tokens"] = {"asked": asked, "allowed": allowed,
                                                   "why": f"the tier {request.decision.tier!r} allows at most {cap}"}
    request.max_tokens = allowed
    if allowed is not None:
        params.pop("max_completion_tokens", None)
        params["max_tokens"] = allowed
    if params.get("response_format") is not None:
        request.format_check = response_format_check(params["response_format"])


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
