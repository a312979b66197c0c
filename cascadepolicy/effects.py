"""The effects a request's walk asks for: the only I/O of the request path.

    runtime.engine's walk (a generator: pure decisions) ──yields Effect──▶ driver (sync or async) ──▶ litellm · store · sleep

The walk never calls a provider, a store or `sleep` itself. It yields one of
these values and receives the result (or has the exception thrown in), so the
same walk runs under `runtime.drivers.drive` (blocking calls, the caller's
thread) and `runtime.drivers.adrive` (`litellm.acompletion`, the store's
async twin, `asyncio.sleep`), and a test can drive it with any answers it likes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Send:
    """Send one chat completion: `kwargs` for `litellm.completion`. Answers the provider's response.

    With `stream` the request is streamed: the driver feeds every chunk to the
    reader, passes the text it returns on to the consumer, and answers the reader.
    """

    model_id: str  # the policy's id of the model called (kwargs hold its litellm name)
    kwargs: dict[str, Any]
    stream: StreamReader | None = None


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait before a retry."""

    seconds: float


@dataclass(frozen=True, slots=True)
class StoreCall:
    """Call the state store: `method` of the `Store` protocol (its `a`-prefixed twin when async)."""

    method: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Blocking:
    """Run code that may block (a custom guardrail, a moderation provider) under `timeout` seconds."""

    fn: Callable[[], Any]
    timeout: float


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    """Ask a judge model; answered with (reply text, cost) by the walk, which turns it into a model call."""

    model: str
    prompt: str


Effect = Send | Sleep | StoreCall | Blocking
Steps = Generator[Any, Any, Any]  # a walk, or part of one: yields effects, returns its result


def relay(steps: Steps, intercept: Callable[[Any], Steps | None]) -> Steps:
    """Run `steps` inside a walk, passing its effects up, except those `intercept` answers with steps of its own.

    `intercept` sees every effect first; it returns None to pass the effect on
    (it may just take note of it), or the steps that answer it. Whatever the
    effect's answer raises is thrown into `steps`, which decides.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as done:
            return done.value
        value = error = None
        try:
            answer = intercept(effect)
            value = (yield from answer) if answer is not None else (yield effect)
        except BaseException as exc:  # cancellation included: `steps` sees it and passes it on
            error = exc


class StreamReader(Protocol):
    """What a streamed `Send` feeds its chunks to (`providers.calls.ChunkReader`): returns the chunk to pass on, or None."""

    def feed(self, chunk: Any) -> Any: ...

