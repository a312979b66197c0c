"""Streaming: the answer read as it is produced, the request's walk run by the consumer's iteration.

    Engine.stream ──▶ StreamingResult: for text in ... ──▶ drivers.drive(walk)   (the consumer's thread)
    Engine.astream ─▶ AsyncStreamingResult: async for ... ─▶ drivers.adrive(walk) (the event loop)

There is no thread or queue between the provider and the consumer: each
`next` advances the walk to its next streamed chunk. Closing the iterator
early (leaving the loop) settles what the request spent, or releases its
reservation, through the driver (`runtime.drivers`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import Any

from cascadepolicy.effects import Steps
from cascadepolicy.providers.response_check import Anomalies, attr, content_text, first_choice
from cascadepolicy.runtime.drivers import IO, Outcome, adrive
from cascadepolicy.runtime.results import Result


def chunk_text(chunk: Any) -> str:
    """The text of a streamed chunk the model caller passed on (its faults are recorded already)."""
    return content_text(attr(attr(first_choice(attr(chunk, "choices"), Anomalies(), ""), "delta"), "content"), Anomalies(), "")


class Driven:
    """A walk the consumer's iteration runs, in its thread: the chunks it streams, then its `result`."""

    def __init__(self, steps: Generator[Any, None, Result]) -> None:
        self._steps = steps
        self.result: Result | None = None

    def _pass_on(self, keep: Callable[[Any], Any]) -> Generator[Any, None, bool]:
        """Yield `keep(chunk)` of each streamed chunk where it is not empty; return whether any was. Closing
        it early closes the walk, which then settles what the request spent (drivers.drive)."""
        streamed = False
        try:
            while True:
                try:
                    chunk = next(self._steps)
                except StopIteration as done:
                    self.result = done.value
                    return streamed
                kept = keep(chunk)
                if kept:
                    streamed = True
                    yield kept
        finally:
            self._steps.close()


class AsyncDriven:
    """`Driven` on the event loop: the walk run by the async driver as the consumer iterates."""

    def __init__(self, walk: Steps, io: IO) -> None:
        self._outcome = Outcome()
        self._steps = adrive(walk, io, self._outcome)
        self.result: Result | None = None
        self.streamed = False

    async def _pass_on(self, keep: Callable[[Any], Any]) -> AsyncGenerator[Any, None]:
        """`Driven._pass_on`; whether anything was streamed is left in `streamed`."""
        try:
            async for chunk in self._steps:
                kept = keep(chunk)
                if kept:
                    self.streamed = True
                    yield kept
        finally:
            await self._steps.aclose()
        self.result = self._outcome.result


class StreamingResult(Driven):
    """Iterate to receive the answer's text as it is produced; the request runs as you iterate.

    Drafts that must pass validation or output guardrails are buffered until
    they are accepted and then delivered in one piece; a final step with no
    checks is streamed chunk by chunk as the provider sends it. After the
    iteration, `result` holds the full `Result` with its decision record.
    Closing the iterator early (or leaving a `for` loop) settles what the
    request spent, or releases its reservation.
    """

    def __iter__(self) -> Iterator[str]:
        streamed = yield from self._pass_on(chunk_text)
        if not streamed and self.result is not None and self.result.content:
            yield self.result.content  # a buffered (validated) answer is delivered whole


class AsyncStreamingResult(AsyncDriven):
    """`async for text in engine.astream(...)`: `StreamingResult` on the event loop."""

    async def __aiter__(self) -> AsyncIterator[str]:
        texts = self._pass_on(chunk_text)
        try:
            async for text in texts:
                yield text
        finally:
            await texts.aclose()
        if not self.streamed and self.result is not None and self.result.content:
            yield self.result.content
