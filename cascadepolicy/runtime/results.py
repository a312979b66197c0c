"""How a request ends: the `Result` the caller gets, made by one of the walk's three endings.

    request → input guardrails → route → admission → cascade → settle → ▶ answered · blocked · failed → Result

Every path of the walk ends in exactly one of them, each completing the
decision record: `answered` names the model whose answer is returned (and,
with `audit.include_text`, keeps the messages and the answer with every PII
finding masked), `blocked` a refusal with its reason and retry-after, and
`failed` a request no step could answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cascadepolicy.guardrails.pieces import restore_arguments
from cascadepolicy.providers.calls import CallResult, ToolCallRecord
from cascadepolicy.providers.response_check import attr
from cascadepolicy.runtime.decision import Decision
from cascadepolicy.runtime.guards import GuardrailRunner
from cascadepolicy.runtime.request import Request


@dataclass
class Result:
    """What `complete` returns: the answer (or refusal) and its decision record."""

    content: str | None
    model: str | None  # litellm model name that produced `content`
    model_id: str | None  # the policy's id for that model
    cost: float
    decision: Decision
    blocked: bool = False
    reason: str | None = None
    retry_after: float | None = None
    response: Any = None  # the answering call's response (litellm ModelResponse), its text as delivered
    tool_calls: tuple[ToolCallRecord, ...] = ()  # the answer's tool calls, when it makes any

    @property
    def ok(self) -> bool:
        return self.decision.outcome == "answered"


def answered(request: Request, call: CallResult, text: str, tool_calls: tuple[ToolCallRecord, ...], *, keep_text: bool,
             guardrails: GuardrailRunner) -> Result:
    """The answer `text` and `tool_calls` of `call` (as the output guardrails left them); `keep_text`: the
    policy's `audit.include_text` (masked by the `guardrails`). Placeholders of `restore` rules are mapped
    back to the caller's values in what the caller gets, never in the record."""
    decision = request.decision
    decision.outcome = "answered"
    if keep_text:
        # What the model received is unchanged; the record's copy has every PII finding masked.
        decision.messages = [guardrails.mask_record_message(m, request.redactor) for m in request.messages]
        decision.answer = guardrails.mask_record(text, request.redactor)
    decision.final_model = call.litellm_model
    decision.final_model_id = call.model_id
    redactor = request.redactor
    if redactor.restores:
        text = redactor.restore(text)
        tool_calls = tuple(replace(c, arguments=restore_arguments(c.arguments, redactor.restore)) for c in tool_calls)
    return Result(text, call.litellm_model, call.model_id, decision.cost, decision,
                  response=delivered(call.response, text, tool_calls), tool_calls=tool_calls)


def delivered(response: Any, text: str, tool_calls: tuple[ToolCallRecord, ...]) -> Any:
    """The provider's response with the answer as the caller gets it: its text and tool-call arguments as
    the output guardrails (redact) and `restore` rules left them. A response not in litellm's shape (a
    hostile provider's) is returned as it is: its text was read and checked through `response_check`."""
    choices = attr(response, "choices")
    message = attr(choices[0], "message") if isinstance(choices, list) and choices else None
    if message is None:
        return response
    try:
        if (attr(message, "content") or "") != text:
            message.content = text
        given = attr(message, "tool_calls")
        for call, final in zip(given if isinstance(given, list) else (), tool_calls, strict=False):
            function = attr(call, "function")
            if attr(function, "arguments") != final.arguments:
                function.arguments = final.arguments
    except (AttributeError, TypeError):  # an object that cannot be written to: left as the provider sent it
        pass
    return response


def blocked(request: Request, reason: str) -> Result:
    decision = request.decision
    decision.trace.append("blocked")
    decision.outcome = "blocked"
    decision.reason = reason
    return Result(None, None, None, decision.cost, decision, blocked=True, reason=reason, retry_after=decision.retry_after)


def failed(request: Request, reason: str) -> Result:
    decision = request.decision
    decision.trace.append("failed")
    decision.outcome = "error"
    decision.reason = reason
    return Result(None, None, None, decision.cost, decision, reason=reason)
