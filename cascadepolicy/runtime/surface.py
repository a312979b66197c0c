"""The OpenAI-shaped surface: what `engine.completion` returns, raises and streams.

    request → … → cascade → settle → Result ──▶ ▶ ModelResponse (+ decision_of) · Blocked · the provider's error
                                     stream ──▶ ▶ OpenAI-shaped chunks (`chunk.choices[0].delta`)

`Engine.completion` runs the same walk as `complete` and turns its `Result`
into what code written for `litellm.completion` or the OpenAI SDK expects: the
answering call's own `ModelResponse` (id, choices, finish_reason, usage, tool
calls; its text as the caller may see it), a `Blocked` exception for a
refusal, and the mapped provider error when no step could answer. Every one
of them carries the decision record: `decision_of(response)`,
`decision_of(stream)` after the stream ends, `error.decision`.

A stream passes the provider's chunks on as they arrive when the final step
streams live; an answer that had to be checked first is delivered, once
accepted, as the chunks of its response (a role and content chunk, then the
finish). Chunks without choices (the usage chunk litellm asks for) are not
passed on: code that reads `chunk.choices[0]` would fail on them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from typing import Any

from cascadepolicy.effects import Steps
from cascadepolicy.errors import Blocked, ProviderUnavailable, RequestError
from cascadepolicy.runtime.decision import Decision
from cascadepolicy.runtime.drivers import IO
from cascadepolicy.runtime.request import Request
from cascadepolicy.runtime.results import Result
from cascadepolicy.runtime.streaming import AsyncDriven, Driven

# Where a response keeps its decision: an attribute outside the model's fields, so that neither
# `model_dump` nor litellm's logging callbacks (which read `_hidden_params`) ever carry it.
DECISION_ATTRIBUTE = "_cascadepolicy_decision"


def response_of(result: Result, request: Request) -> Any:
    """The `ModelResponse` of an answered request; raises `Blocked` or the provider's error otherwise."""
    decision = result.decision
    if decision.outcome == "blocked":
        raise Blocked(result.reason or "blocked by the policy", retry_after=result.retry_after, decision=decision)
    if decision.outcome != "answered" or result.response is None:
        error = request.last_error or ProviderUnavailable(result.reason or "no step produced an answer")
        error.decision = decision
        raise error
    object.__setattr__(result.response, DECISION_ATTRIBUTE, decision)
    return result.response


def decision_of(answer: Any) -> Decision:
    """The decision record of what `engine.completion` returned: a response, or a stream once it has ended."""
    if isinstance(answer, CompletionStream | AsyncCompletionStream):
        if answer.decision is None:
            raise ValueError("the stream has not ended yet: its decision is known once the last chunk was read")
        return answer.decision
    decision = getattr(answer, DECISION_ATTRIBUTE, None)
    if not isinstance(decision, Decision):
        raise TypeError(f"{type(answer).__name__} did not come from engine.completion; it has no decision record")
    return decision


def chunks_of(response: Any) -> list[Any]:
    """An answered response as stream chunks: the message's role, content and tool calls, then the finish."""
    from litellm.types.utils import (
        ChatCompletionDeltaToolCall,
        Delta,
        Function,
        ModelResponseStream,
        StreamingChoices,
    )

    choice = response.choices[0]
    message = choice.message
    calls = [ChatCompletionDeltaToolCall(id=c.id, type="function", index=i,
                                         function=Function(name=c.function.name, arguments=c.function.arguments))
             for i, c in enumerate(message.tool_calls or ())] or None
    base = {"id": response.id, "model": response.model, "created": response.created}
    return [ModelResponseStream(**base, choices=[StreamingChoices(index=0, delta=Delta(
                role="assistant", content=message.content, tool_calls=calls), finish_reason=None)]),
            ModelResponseStream(**base, choices=[StreamingChoices(index=0, delta=Delta(), finish_reason=choice.finish_reason)])]


def stream_usage(options: Any) -> bool:
    """Whether a request's `stream_options` ask for the final usage chunk; `RequestError` for anything else."""
    if options is None:
        return False
    if not isinstance(options, Mapping) or set(options) - {"include_usage"}:
        raise RequestError("stream_options may only be {'include_usage': true|false}")
    return bool(options.get("include_usage"))


def usage_chunk(response: Any) -> Any:
    """The chunk OpenAI ends a stream with when asked (`stream_options.include_usage`): no choices, the usage."""
    from litellm.types.utils import ModelResponseStream

    return ModelResponseStream(id=response.id, model=response.model, created=response.created, choices=[],
                               usage=getattr(response, "usage", None))


class _Answer:
    """What both completion streams do around the walk: the decision id from the start, and the ending."""

    result: Result | None

    def _answering(self, request: Request, include_usage: bool) -> None:
        self._request = request
        self._include_usage = include_usage
        self.decision: Decision | None = None

    @property
    def decision_id(self) -> str:
        return self._request.decision.decision_id

    def _ending(self, streamed: bool) -> Iterator[Any]:
        """After the walk: the decision, the answer's chunks when nothing was streamed live, the usage if asked."""
        assert self.result is not None
        self.decision = self.result.decision
        response = response_of(self.result, self._request)
        if not streamed:
            yield from chunks_of(response)
        if self._include_usage:
            yield usage_chunk(response)


class CompletionStream(_Answer, Driven):
    """`for chunk in engine.completion(..., stream=True)`: OpenAI-shaped chunks; `decision_of(stream)` after the end.

    Raises `Blocked` (or the provider's error) from the iteration when the
    request ends without an answer, before any chunk when nothing was streamed.
    `decision_id` is known from the start (for a response header); with
    `include_usage` the stream ends with a usage chunk, as OpenAI's does.
    """

    def __init__(self, steps: Generator[Any, None, Result], request: Request, *, include_usage: bool = False) -> None:
        Driven.__init__(self, steps)
        self._answering(request, include_usage)

    def __iter__(self) -> Iterator[Any]:
        streamed = yield from self._pass_on(_itself)
        yield from self._ending(streamed)


class AsyncCompletionStream(_Answer, AsyncDriven):
    """`async for chunk in await engine.acompletion(..., stream=True)`: `CompletionStream` on the event loop."""

    def __init__(self, walk: Steps, io: IO, request: Request, *, include_usage: bool = False) -> None:
        AsyncDriven.__init__(self, walk, io)
        self._answering(request, include_usage)

    async def __aiter__(self) -> AsyncIterator[Any]:
        chunks = self._pass_on(_itself)
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()
        for chunk in self._ending(self.streamed):
            yield chunk


def _itself(chunk: Any) -> Any:
    return chunk
