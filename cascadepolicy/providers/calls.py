"""The litellm boundary: every model call, its cost and its token counts.

litellm is imported here, lazily, on the first call, with its local price map
switched on (it would otherwise fetch prices from the network). One call
means: retries with exponential backoff on transient errors, the model's
timeout, then the declared fallbacks in order, written as steps of the
request's walk: the caller yields the effects (`Send`, `Sleep`) and the driver
performs them through the engine's transport (`providers.transport`), so the
same code serves blocking and async requests. litellm's exceptions are mapped
to our own (`map_exception`); a test checks every litellm exception class is
covered. Answers a transport gives in advance (tests, replay, explain) go
through `litellm.completion(mock_response=...)`, the production path, and are
priced from the tokens of the text, since mocked usage figures are
placeholders. A provider's answer (or a mocked raw response) is read and
billed through `response_check`: its content, usage and cost are not trusted
as sent.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cascadepolicy.effects import Effect, Send, Sleep
from cascadepolicy.errors import (
    ContextWindowExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from cascadepolicy.language.model import ModelSpec, duration_seconds
from cascadepolicy.language.params import REQUEST_PARAMS
from cascadepolicy.language.pricing import Price
from cascadepolicy.providers.response_check import Anomalies, attr, bill, content_text, first_choice
from cascadepolicy.providers.windows import ContextWindows
from cascadepolicy.runtime.features import params_prompt, text_tokens
from cascadepolicy.scrub import guard_loggers, provider_text, scrub_keys, watch_key_variables

if TYPE_CHECKING:
    from cascadepolicy.providers.transport import Transport

PROVIDER_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx", "openai", "openai._base_client")
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0

_litellm: Any = None


def litellm_module() -> Any:
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True
        guard_loggers(PROVIDER_LOGGERS)
        _litellm = litellm
    return _litellm


# Mock answers: a string, an exception instance raised in place of calling, or a raw
# response (a dict in the OpenAI shape, or a litellm ModelResponse) billed like a provider's.
MockAnswer = str | BaseException | Mapping[str, Any]


@dataclass(frozen=True)
class Attempt:
    model_id: str
    litellm_model: str
    outcome: str  # ok | error
    error: str | None
    latency_ms: float


@dataclass
class CallResult:
    model_id: str
    litellm_model: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_ms: float
    logprobs: list[float] | None
    finish_reason: str | None
    attempts: list[Attempt] = field(default_factory=list)
    anomalies: tuple[str, ...] = ()  # what was wrong with the provider's response (`response_check`)
    tool_calls: tuple[ToolCallRecord, ...] = ()  # the answer's tool calls, when it makes any
    response: Any = None  # the provider's response (litellm ModelResponse; a stream's, assembled)


@dataclass(frozen=True)
class Identity:
    """Who a call is for: litellm's `user`, and `metadata` naming the decision, policy and route."""

    user: str | None
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call of an answer, as the provider sent it (arguments: the raw JSON text)."""

    id: str
    name: str
    arguments: str


def map_exception(exc: BaseException, model_id: str | None = None) -> ProviderError:
    """Our error type for a litellm (or openai/httpx) exception, its text scrubbed of keys.

    Providers echo keys in their errors (a 401 quoting the key it refused);
    from here the text reaches `Result.reason`, the decision record and its
    sink, so it is scrubbed here, once, before anything keeps it.
    """
    if isinstance(exc, ProviderError):
        scrubbed = scrub_keys(str(exc))
        if scrubbed != str(exc):
            exc.args = (scrubbed,)
        return exc
    name = type(exc).__name__
    names = {c.__name__ for c in type(exc).__mro__}
    try:
        text = str(exc)
    except Exception:  # some provider exceptions cannot even render themselves
        text = repr(type(exc))
    message = f"{name}: {provider_text(text)}"
    if "missing credentials" in text.lower() or "api_key client option must be set" in text.lower():
        # litellm reports a missing key as a server error; retrying cannot help
        return ProviderAuthError(message, model=model_id)
    if names & {"Timeout", "TimeoutError", "APITimeoutError", "ReadTimeout", "ConnectTimeout"}:
        return ProviderTimeout(message, model=model_id)
    if names & {"RateLimitError", "CallerCredentialRateLimitError"}:
        return ProviderRateLimited(message, model=model_id)
    if names & {"AuthenticationError", "PermissionDeniedError", "CallerCredentialAuthenticationError", "PaymentRequiredError"}:
        return ProviderAuthError(message, model=model_id)
    if "ContextWindowExceededError" in names:
        return ContextWindowExceeded(message, model=model_id)
    if names & {"BadRequestError", "ContentPolicyViolationError", "UnsupportedParamsError",
                "NotFoundError", "UnprocessableEntityError", "InvalidRequestError", "JSONSchemaValidationError",
                "EndpointNotSupportedByModelError", "UnsupportedEndpointError", "MalformedRequestFieldError",
                "LiteLLMUnknownProvider", "ModelNotMappedError", "ImageFetchError", "RejectedRequestError",
                "BlockedPiiEntityError", "GuardrailRaisedException", "SensitiveDataRouteException",
                "ModifyResponseException", "BudgetExceededError", "APIResponseValidationError"}:
        return ProviderBadRequest(message, model=model_id)
    if names & {"APIConnectionError", "ServiceUnavailableError", "InternalServerError", "BadGatewayError", "APIError",
                "OpenAIError", "MidStreamFallbackError", "VectorStoreSearchError", "MockException", "ConnectionError",
                "RemoteProtocolError"}:
        return ProviderUnavailable(message, model=model_id)
    return ProviderUnavailable(f"unexpected provider error {message}", model=model_id)


class ModelCaller:
    """Calls the policy's models with retries and fallbacks, as steps of the request's walk.

    `call` is a generator: it yields a `Send` per attempt and a `Sleep` per
    backoff (`cascadepolicy.effects`), and the driver running the walk performs
    them, blocking or async. The transport's answers given in advance replace
    the provider (`providers.transport`). `offline`: a model is only ever
    answered by the transport; one without an answer fails with
    `ProviderBadRequest` instead of reaching a provider.
    """

    def __init__(self, models: Mapping[str, ModelSpec], prices: Mapping[str, Price], *,
                 clock: Callable[[], float] = time.perf_counter, offline: bool = False) -> None:
        self.models = models
        self.prices = prices
        self.clock = clock
        self.offline = offline
        self.windows = ContextWindows(models, lambda name: litellm_module().get_model_info(name))
        watch_key_variables(spec.api_key_env for spec in models.values())

    def call(self, model_id: str, messages: Sequence[Mapping[str, Any]], *, transport: Transport,
             stream: bool = False, allowed: Collection[str] | None = None,
             params: Mapping[str, Any] | None = None,
             identity: Identity | None = None) -> Generator[Effect, Any, CallResult]:
        """Call `model_id`, then its fallbacks (those in `allowed`, when given); raise the last ProviderError if all fail.

        With `stream`, the answer's text reaches the consumer as it arrives (`Send.stream`).
        `params` are the request's chat-completion parameters (`tools`, `temperature`,
        ...), already checked against the policy; they go to every model of the chain,
        with `max_tokens` capped at each model's own. `identity` goes with every call as
        litellm's `user` and `metadata`, for litellm's callbacks (Langfuse and others) to
        join their traces to the decision record.
        """
        attempts: list[Attempt] = []
        chain = [model_id, *(f for f in self.models[model_id].fallbacks if allowed is None or f in allowed)]
        failures: list[ProviderError] = []  # each model's last error
        sent = [False]  # whether any streamed text reached the consumer
        prompt: int | None = None  # counted for the first model whose context window is known
        for candidate in chain:
            if self.windows.window(candidate) is not None:
                prompt = measured_prompt_tokens(messages) if prompt is None else prompt
                misfit = self.windows.misfit(candidate, prompt, call_max_tokens(self.models[candidate], params or {}))
                if misfit is not None:
                    attempts.append(Attempt(candidate, self.models[candidate].model, "error", misfit, 0.0))
                    failures.append(ContextWindowExceeded(misfit, model=candidate))
                    continue
            try:
                result = yield from self._with_retries(candidate, messages, transport, attempts, sent if stream else None,
                                                       params or {}, identity)
                result.attempts = attempts
                return result
            except ProviderError as exc:
                failures.append(exc)
                if sent[0]:
                    break  # part of an answer reached the caller: a fallback's answer would be glued to it
                # Any other failure moves on to the next model: what one refuses (its context window,
                # a parameter, its key) another may take.
        last = failures[-1]
        if len(failures) > 1 and all(isinstance(f, ContextWindowExceeded) for f in failures):
            last = ContextWindowExceeded(f"no model of the chain can take this prompt ({'; '.join(map(str, failures))}); "
                                         "shorten the prompt, or give the model a fallback with a larger context window",
                                         model=last.model)
        last.attempts = attempts  # type: ignore[attr-defined]
        raise last

    def _with_retries(self, model_id: str, messages: Sequence[Mapping[str, Any]], transport: Transport,
                      attempts: list[Attempt], sent: list[bool] | None, params: Mapping[str, Any],
                      identity: Identity | None) -> Generator[Effect, Any, CallResult]:
        spec = self.models[model_id]
        for attempt in range(spec.retries + 1):
            started = self.clock()
            found = Anomalies()
            reader = ChunkReader(found) if sent is not None else None
            try:
                result = yield from self._once(model_id, spec, messages, transport, reader, found, params, identity)
            except Exception as exc:  # the provider boundary: every failure becomes ours
                error = map_exception(exc, model_id)
                cut = reader is not None and reader.sent
                if cut:  # the caller holds part of this answer; another attempt would be appended to it
                    assert reader is not None and sent is not None
                    sent[0] = True
                    error = type(error)(f"{error} (the stream broke after part of the answer was sent; "
                                        "not retried)", model=model_id)
                    # What was generated before the break is billed by the provider: count it.
                    text = "".join(reader.parts)
                    billing = bill(None, messages, text, spec.max_tokens, self.prices[model_id], found,
                                   usage_expected=False)
                    error.billed = CallResult(model_id, spec.model, text, billing.prompt_tokens,  # type: ignore[attr-defined]
                                              billing.completion_tokens, billing.cost, (self.clock() - started) * 1000,
                                              None, None, anomalies=billing.anomalies)
                attempts.append(Attempt(model_id, spec.model, "error", str(error), (self.clock() - started) * 1000))
                if cut or not error.retryable or attempt == spec.retries:
                    raise error from exc
                yield Sleep(min(BACKOFF_MAX, BACKOFF_BASE * 2 ** attempt))
                continue
            attempts.append(Attempt(model_id, spec.model, "ok", None, result.latency_ms))
            return result
        raise AssertionError("unreachable")

    def _once(self, model_id: str, spec: ModelSpec, messages: Sequence[Mapping[str, Any]], transport: Transport,
              reader: ChunkReader | None, found: Anomalies, params: Mapping[str, Any],
              identity: Identity | None) -> Generator[Effect, Any, CallResult]:
        max_tokens = call_max_tokens(spec, params)
        kwargs: dict[str, Any] = {"model": spec.model, "messages": list(messages), "max_tokens": max_tokens,
                                  "timeout": duration_seconds(spec.timeout), "num_retries": 0}
        if spec.temperature is not None:
            kwargs["temperature"] = spec.temperature
        # the request's parameters over the policy's defaults; what bounds spending stays the policy's
        kwargs.update({k: v for k, v in params.items() if k in PASSED_THROUGH})
        if identity is not None:
            if identity.user is not None:
                kwargs["user"] = identity.user
            kwargs["metadata"] = dict(identity.metadata)
        if spec.api_base:
            kwargs["api_base"] = spec.api_base
        answer = transport.answer(model_id, spec.model)
        mocked = answer is not None
        if self.offline and not mocked:
            raise ProviderBadRequest(f"model {model_id!r} was not called: the engine is offline and no answer was "
                                     "given for it", model=model_id)
        if spec.api_key_env and not mocked:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise ProviderAuthError(f"environment variable {spec.api_key_env} (the API key of model {model_id!r}) is not set",
                                        model=model_id)
            kwargs["api_key"] = key
        elif spec.api_base:
            kwargs["api_key"] = "no-key"  # OpenAI-compatible local servers need some key; they ignore it
        if spec.logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = 1
        scripted: tuple[int, int] | None = None
        if mocked:
            if isinstance(answer, BaseException):
                raise answer
            kwargs["mock_response"] = answer
            if isinstance(answer, str):
                # Counted before the call: litellm logs each call on a background thread,
                # and tokenizing afterwards would wait on it for the GIL.
                prompt_tokens, completion_tokens = count_tokens(messages, answer)
                extra = params_prompt(params)  # tool definitions and a response schema are prompt tokens too
                scripted = (prompt_tokens + (text_tokens(extra) if extra else 0), completion_tokens)
        started = self.clock()
        response = None
        if reader is not None:
            kwargs.update(stream=True, stream_options={"include_usage": True})
            yield Send(model_id, kwargs, reader)
            text, finish, usage, logprobs = "".join(reader.parts), reader.finish, reader.usage, reader.logprobs or None
            tool_calls = reader.tool_calls()
            response = reader.assembled(text, tool_calls)
        else:
            response = yield Send(model_id, kwargs)
            choice = first_choice(attr(response, "choices"), found, "the response's")
            message = attr(choice, "message") if choice is not None else None
            if message is None:
                raise ProviderUnavailable(f"the provider's response to model {model_id!r} holds no usable answer "
                                          f"(choices: {_describe(attr(response, 'choices'))})", model=model_id)
            text = content_text(attr(message, "content"), found, "the answer's")
            finish = attr(choice, "finish_reason")
            usage = attr(response, "usage")
            logprobs = _logprobs(choice)
            tool_calls = _tool_calls(choice)
        latency = (self.clock() - started) * 1000
        price = self.prices[model_id]
        finish = finish if isinstance(finish, str) else None
        if scripted is not None:
            return CallResult(model_id, spec.model, text, *scripted, price.cost(*scripted), latency, logprobs, finish,
                              tool_calls=tool_calls, response=response)
        # litellm knows provider details (cached tokens, tiers) our table price does not
        provider_cost = ((lambda: litellm_module().completion_cost(completion_response=response))
                         if response is not None and reader is None and price.source == "litellm" else None)
        billed = text + "".join(c.name + c.arguments for c in tool_calls)  # tool calls are completion tokens too
        billing = bill(usage, messages, billed, max_tokens, price, found, provider_cost=provider_cost,
                       extra_prompt=params_prompt(params))
        return CallResult(model_id, spec.model, text, billing.prompt_tokens, billing.completion_tokens, billing.cost,
                          latency, logprobs, finish, anomalies=billing.anomalies, tool_calls=tool_calls, response=response)


class ChunkReader:
    """Reads a streamed answer chunk by chunk: each chunk with a choice goes on to the consumer (its text
    read into `parts`), and the whole answer is assembled at the end."""

    def __init__(self, found: Anomalies) -> None:
        self.found = found
        self.first: Any = None  # the first chunk: the response's id, created and model
        self.calls: dict[int, tuple[str, str, list[str]]] = {}  # tool calls by index: id, name, argument pieces
        self.parts: list[str] = []
        self.finish: Any = None
        self.usage: Any = None
        self.logprobs: list[float] = []

    @property
    def sent(self) -> bool:
        """Whether any of the answer reached the consumer (a retry or fallback would be glued to it)."""
        return bool(self.parts)

    def tool_calls(self) -> tuple[ToolCallRecord, ...]:
        """The answer's tool calls, put together from their deltas (by index: id and name once, arguments in pieces)."""
        return tuple(ToolCallRecord(i, n, "".join(a)) for i, n, a in (self.calls[k] for k in sorted(self.calls)))

    def assembled(self, text: str, tool_calls: tuple[ToolCallRecord, ...]) -> Any:
        """The whole answer as one litellm `ModelResponse` (the first chunk's id and model, the usage), or None
        for a stream with no chunk. Built from what was read, not by litellm's `stream_chunk_builder`, which
        prices the stream again and costs milliseconds per call."""
        if self.first is None:
            return None
        from litellm.types.utils import ModelResponse

        message: dict[str, Any] = {"role": "assistant", "content": text if text or not tool_calls else None}
        if tool_calls:
            message["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                                     for c in tool_calls]
        usage = self.usage
        return ModelResponse(id=attr(self.first, "id"), created=attr(self.first, "created"), model=attr(self.first, "model"),
                             choices=[{"index": 0, "message": message, "finish_reason": self.finish or "stop"}],
                             usage=usage.model_dump() if hasattr(usage, "model_dump") else usage)

    def feed(self, chunk: Any) -> Any:
        """The chunk to pass on to the consumer, or None (a chunk with no choice: usage only, or malformed)."""
        if self.first is None:
            self.first = chunk
        self.usage = attr(chunk, "usage") or self.usage
        choice = first_choice(attr(chunk, "choices"), self.found, "a stream chunk's")
        if choice is None:
            return None
        delta = attr(choice, "delta")
        calls = attr(delta, "tool_calls") if delta is not None else None
        for call in calls if isinstance(calls, list | tuple) else ():
            self._add_call(call)
        text = content_text(attr(delta, "content"), self.found, "a stream chunk's") if delta is not None else ""
        if text:
            self.parts.append(text)
        self.finish = attr(choice, "finish_reason") or self.finish
        self.logprobs.extend(_logprobs(choice) or [])
        return chunk


    def _add_call(self, delta: Any) -> None:
        index = attr(delta, "index")
        index = index if isinstance(index, int) and not isinstance(index, bool) else len(self.calls)
        function = attr(delta, "function")
        name, piece = attr(function, "name"), attr(function, "arguments")
        known = self.calls.get(index)
        if known is None:
            if len(self.calls) >= MAX_STREAMED_CALLS:
                return
            known = self.calls[index] = (str(attr(delta, "id") or ""), name if isinstance(name, str) else "", [])
        elif not known[1] and isinstance(name, str):
            known = self.calls[index] = (known[0], name, known[2])
        if isinstance(piece, str):
            known[2].append(piece)


MAX_STREAMED_CALLS = 128  # tool calls read from one streamed answer; a hostile stream's further indexes are ignored


def call_max_tokens(spec: ModelSpec, params: Mapping[str, Any]) -> int:
    """The `max_tokens` a call to `spec` asks for: the model's own, lowered by the request's."""
    asked = params.get("max_completion_tokens") or params.get("max_tokens")
    return min(spec.max_tokens, asked) if isinstance(asked, int) and asked > 0 else spec.max_tokens


def measured_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """The prompt's tokens a context window is checked against: all but the parts counted only by their size."""
    from cascadepolicy.runtime.features import prompt_count

    counted = prompt_count(messages)
    return counted.tokens - counted.unmeasured


def count_tokens(messages: Sequence[Mapping[str, Any]], text: str) -> tuple[int, int]:
    """Prompt and completion tokens of a mocked or usage-less call.

    litellm's bundled cl100k encoding with OpenAI's message overhead, the
    default of `litellm.token_counter`, computed directly because the wrapper
    costs milliseconds per call.
    """
    from cascadepolicy.runtime.features import count_prompt_tokens, text_tokens

    return count_prompt_tokens(messages), text_tokens(text) if text else 0


# A request's parameters that go to the provider as given; `max_tokens` (or `max_completion_tokens`)
# is capped at the model's own instead, and `n` is the runtime's to refuse.
PASSED_THROUGH = REQUEST_PARAMS - {"max_tokens", "max_completion_tokens", "n"}


def _tool_calls(choice: Any) -> tuple[ToolCallRecord, ...]:
    """The tool calls of a response's choice (message) or nothing."""
    message = attr(choice, "message") if choice is not None else None
    calls = attr(message, "tool_calls") if message is not None else None
    if not isinstance(calls, list | tuple):
        return ()
    records = []
    for call in calls:
        function = attr(call, "function")
        name, arguments = attr(function, "name"), attr(function, "arguments")
        records.append(ToolCallRecord(str(attr(call, "id") or ""), name if isinstance(name, str) else "",
                                      arguments if isinstance(arguments, str) else ""))
    return tuple(records)


def _logprobs(choice: Any) -> list[float] | None:
    content = attr(attr(choice, "logprobs"), "content")
    if not isinstance(content, list | tuple):
        return None
    values = []
    for item in content:
        value = attr(item, "logprob")
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            values.append(float(value))
    return values or None


def _describe(value: Any) -> str:
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}" if value else "an empty list"
    return "none" if value is None else f"a {type(value).__name__}"
