"""The typed shape of a policy test suite (`*_test.yaml`).

These pydantic models are the single source of truth for suites, as
`cascadepolicy.language.model` is for policies: `schemas/test.schema.json` is
generated from them (`python -m cascadepolicy.loading.schema_export`) and the runner
validates every suite against them. Unknown keys are errors, types are strict.

A suite names its policy (a path relative to the suite file) and lists cases;
each case is a request, the fixtures that make it deterministic (clock,
counters already spent, answers per model, forced guardrail verdicts) and the
expectations checked against the result and its decision record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from cascadepolicy.language.model import MAX_USD, Count, Duration, Strict, exactly_one

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# The clock of a case: epoch seconds before the year 3000, far from year 9999, past which
# a calendar period's end (and datetime) cannot go.
MAX_EPOCH_SECONDS = 32_503_680_000


def iso_seconds(text: str) -> float:
    """Epoch seconds of an ISO 8601 time (`2025-03-14T12:00:00Z`; without a zone, UTC)."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# `prompt` × `repeat`: a suite of 1 MiB could otherwise ask for a prompt of 100 GB.
MAX_REPEATED_CHARS = 1024 * 1024
ERROR_KINDS = ("timeout", "rate_limited", "unavailable", "auth", "bad_request")


# ---------------------------------------------------------------- request

class Message(Strict):
    role: Literal["system", "user", "assistant", "tool"] = Field(description="Who wrote the message.")
    content: str = Field(description="The message text.")


class RequestDefaults(Strict):
    """Request fields shared by every case of the suite (a case's own values win)."""

    user: str | None = Field(None, description="The caller's user id.")
    tier: str | None = Field(None, description="The caller's tier; without it `context.user.tier` or the policy's `default_tier` applies.")
    context: dict[str, Any] = Field(default_factory=dict, description="Request context, nested (`{user: {tier: pro}}`); merged key by key with the case's (`key: null` removes a default).")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Request metadata (`metadata.*` in conditions); merged key by key with the case's.")


class Request(RequestDefaults):
    """The request a case sends: `prompt` (one user message) or `messages`."""

    prompt: str | None = Field(None, description="Shorthand for `messages: [{role: user, content: ...}]`.")
    messages: tuple[Message, ...] | None = Field(None, min_length=1, description="The chat messages, in order.")
    repeat: int = Field(1, ge=1, le=100_000, description="Repeat `prompt` this many times (space-separated): long prompts without long files.")

    @model_validator(mode="before")
    @classmethod
    def _one_body(cls, values: Any) -> Any:
        if isinstance(values, dict):
            exactly_one(values, ("prompt", "messages"), "a request", "test_invalid")
        return values

    @model_validator(mode="after")
    def _bounded_prompt(self) -> Request:
        if self.prompt is not None and (len(self.prompt) + 1) * self.repeat > MAX_REPEATED_CHARS:
            raise PydanticCustomError("test_invalid", "`prompt` repeated {repeat} times would be {chars:,} characters; a case's prompt may be at most {cap:,}.",
                                      {"repeat": self.repeat, "chars": (len(self.prompt) + 1) * self.repeat, "cap": MAX_REPEATED_CHARS})
        return self


# ---------------------------------------------------------------- fixtures

class AnswerError(Strict):
    """A provider failure instead of an answer."""

    error: Literal["timeout", "rate_limited", "unavailable", "auth", "bad_request"] = Field(
        description="`timeout`, `rate_limited` and `unavailable` are retried (then fallbacks run); `auth` and `bad_request` are not.")
    message: str | None = Field(None, description="The error text the provider gives.")


Answer = Annotated[str | AnswerError, Field(description="The answer text, or `{error: timeout}` for a failed call.")]
AnswerSpec = Annotated[
    Answer | tuple[Answer, ...],
    Field(description="One answer for every call of the model, or a list consumed one call (or retry) at a time; the last repeats."),
]
GuardrailFixture = Annotated[
    Literal["fire", "pass", "error"] | bool,
    Field(description="Force the guardrail's verdict: `fire` (true), `pass` (false) or `error` (the check fails)."),
]


class UsageSeed(Strict):
    """Counters already used before the case runs, charged through the policy's own admission plan."""

    user: str | None = Field(None, description="Whose counters (user-scoped windows and budgets); default: the request's user.")
    tier: str | None = Field(None, description="Which tier's windows and budgets; default: the request's tier.")
    limit: str | None = Field(None, description="Only this entry of `limits`, by id (default: every window or budget that applies).")
    model: str | None = Field(None, description="The model id the usage was spent on (counts towards per-model limits).")
    usd: float | None = Field(None, ge=0, le=MAX_USD, description="Dollars already spent (every budget that applies).")
    requests: Count | None = Field(None, ge=0, description="Requests already made (every request window that applies).")
    tokens: Count | None = Field(None, ge=0, description="Tokens already used (every token window that applies).")
    ago: Duration | None = Field(None, description="How long before `now` the usage happened (default: at `now`).")

    @model_validator(mode="before")
    @classmethod
    def _one_measure(cls, values: Any) -> Any:
        if isinstance(values, dict):
            exactly_one(values, ("usd", "requests", "tokens"), "a usage entry", "test_invalid")
        return values


class Fixtures(Strict):
    """What makes a case deterministic and offline."""

    now: str | float | None = Field(None, description="The engine's clock: ISO 8601 (`2025-03-14T12:00:00Z`) or epoch seconds.")
    answers: dict[str, AnswerSpec] = Field(default_factory=dict, description="Per model id (or litellm model name), what the model answers. A model called without an answer fails the case.")
    guardrails: dict[str, GuardrailFixture] = Field(default_factory=dict, description="Per guardrail id, a forced verdict; other guardrails run their real checks.")
    usage: tuple[UsageSeed, ...] = Field((), description="Counters spent before the request, e.g. `{usd: 0.95}` or `{requests: 10}`.")
    store: Literal["memory", "unreachable"] = Field(
        "memory", description="`memory`: a fresh in-memory store per case; `unreachable`: every store call fails (tests fail-closed).")

    @field_validator("now")
    @classmethod
    def _a_time(cls, value: str | float | None) -> str | float | None:
        if value is None:
            return value
        try:
            seconds = iso_seconds(value) if isinstance(value, str) else value
        except ValueError:
            raise PydanticCustomError("test_invalid", "{value} is not an ISO 8601 time such as 2025-03-14T12:00:00Z.",
                                      {"value": repr(value)[:60]}) from None
        if not 0 <= seconds < MAX_EPOCH_SECONDS:
            raise PydanticCustomError("test_invalid", "{value} is before 1970 or after the year 2999.", {"value": repr(value)[:60]})
        return value


# ---------------------------------------------------------------- expectations

class Range(Strict):
    """Inclusive bounds."""

    min: float | None = Field(None, description="Least value.")
    max: float | None = Field(None, description="Greatest value.")


class Matcher(Strict):
    """How a decision field is compared, when plain equality is not enough."""

    equals: Any = Field(None, description="Equal to this value.")
    contains: str | None = Field(None, description="The value (text, or a list's items) contains this text.")
    min: float | None = Field(None, description="A number at least this.")
    max: float | None = Field(None, description="A number at most this.")
    present: bool | None = Field(None, description="`true`: the field exists and is not null; `false`: it is absent or null.")
    length: int | None = Field(None, ge=0, description="A list or text of this length.")


class Expect(Strict):
    """What must hold after the request; only the keys given are checked."""

    outcome: Literal["answered", "blocked", "error"] | None = Field(None, description="The decision's outcome.")
    route: str | int | None = Field(None, description="The route taken: its `name`, or its position in `routes` counted from 0.")
    route_kind: Literal["conditional", "default", "degraded"] | None = Field(
        None, description="How the route was taken; `degraded` when a budget moved the request to its `degrade_to`.")
    models: tuple[str, ...] | None = Field(None, description="Model ids called, in order (drafts and reasks; judges excluded).")
    final_model: str | None = Field(None, description="Model id whose answer was returned.")
    blocked: bool | None = Field(None, description="Whether the request was refused.")
    reason: str | None = Field(None, description="Text the refusal or error reason contains.")
    content: str | None = Field(None, description="Text the returned answer contains.")
    redacted: tuple[str, ...] | None = Field(
        None, description="Exactly the entity kinds (email, phone, ...) a `redact` guardrail replaced; `[]` for none.")
    guardrails: dict[str, str] = Field(
        default_factory=dict, description="Per guardrail id, the action recorded: none, blocked, redacted, warned, escalated, reasked, would_block, ...")
    escalation: str | None = Field(None, description="Text the first escalation reason contains.")
    warnings: tuple[str, ...] = Field((), description="Texts that admission warnings contain (each must appear).")
    refused_by: str | None = Field(None, description="Text the name of the refusing limit contains.")
    cost: Range | None = Field(None, description="Bounds on the request's total cost in USD.")
    retry_after: Range | None = Field(None, description="Bounds on the retry-after seconds of a refusal.")
    decision: dict[str, Any] = Field(
        default_factory=dict, description="Any decision record field by dotted path (`admission.limits.0.status`, `calls.1.outcome`) → a value, or a matcher {equals, contains, min, max, present, length}.")


# ---------------------------------------------------------------- suite

class Case(Strict):
    """One request and what must happen to it."""

    name: str = Field(min_length=1, max_length=200, description="Unique name of the case, shown in reports.")
    description: str | None = Field(None, description="Why the case exists.")
    request: Request = Field(description="The request sent through the policy.")
    fixtures: Fixtures = Field(default_factory=Fixtures, description="Clock, counters, answers and verdicts for this case.")
    expect: Expect = Field(description="What must hold afterwards.")


class Defaults(Strict):
    """Shared by every case; a case's own values win (maps merge key by key)."""

    request: RequestDefaults = Field(default_factory=RequestDefaults, description="Default user, tier, context and metadata.")
    fixtures: Fixtures = Field(default_factory=Fixtures, description="Default clock, answers, verdicts and usage.")


class TestSuite(Strict):
    """A cascadepolicy test suite."""

    __test__ = False  # not a pytest test class

    model_config = ConfigDict(title="cascadepolicy test suite")

    policy: str = Field(min_length=1, description="The policy file under test, relative to this suite.")
    description: str | None = Field(None, description="What the suite covers.")
    env: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)], str] = Field(
        default_factory=dict, description="Environment variables set while the policy loads (e.g. a `REDIS_URL` the tests never connect to).")
    defaults: Defaults = Field(default_factory=Defaults, description="Request fields and fixtures shared by every case.")
    cases: tuple[Case, ...] = Field(min_length=1, description="The cases, run in order, each with a fresh store.")
