"""Stage 3: the typed policy model (policy language v1).

These pydantic models are the single source of truth for the policy's
shape: `schemas/policy.schema.json` is generated from them
(`cascadepolicy schema`), and the loader validates every document against
them. Every model forbids unknown keys, is strict about types and frozen.
Cross-references (a route naming a cascade, ...) are checked later, in
`cascadepolicy.loading.checks`, because they need the whole document.

Every number has a range, so that nothing a policy says can overflow where it
is used (a store's columns, a float, a sleep or a timeout): durations are at
most MAX_DURATION_SECONDS, counts at most MAX_COUNT, dollars at most MAX_USD,
prices at most MAX_PRICE_PER_MILLION, weights at most MAX_WEIGHT, a validator's
regular expression at most MAX_PATTERN_CHARS characters, and no number is
infinite or NaN (`.inf` and `.nan` are YAML numbers).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cascadepolicy.language.params import REQUEST_PARAMS

SUPPORTED_VERSIONS = (1,)

MAX_DURATION_SECONDS = 10 * 365 * 86_400  # ten years: windows, periods, TTLs, timeouts
MAX_COUNT = 10**12  # requests, tokens, characters, words and other counts
MAX_USD = 10**9  # a budget, in US dollars
MAX_PRICE_PER_MILLION = 10**6  # USD per million tokens
MAX_WEIGHT = 10**6  # a check's weight in a composite score
MAX_PATTERN_CHARS = 1_000  # a validator's regular expression
MAX_ALERTS = 16  # webhooks of one policy
MAX_ALERT_TIMEOUT_SECONDS = 60  # one webhook post

# At most 12 digits (ten years in milliseconds has 12), so that no duration is
# a huge number before its range is checked.
DURATION_PATTERN = r"^[1-9][0-9]{0,11}(ms|s|m|h|d|w)$"
PERIOD_PATTERN = r"^(day|week|month|[1-9][0-9]{0,11}(s|m|h|d|w))$"
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
CALLABLE_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"
VISIBLE_PATTERN = r"\S"  # some character other than white space
DOMAIN_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
CONTEXT_NAME_PATTERN = r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+$"



@lru_cache(maxsize=256)
def duration_seconds(text: str) -> float:
    """Seconds in a duration such as `30s`, `10m`, `1h`, `7d` or `500ms`."""
    for unit in ("ms", "s", "m", "h", "d", "w"):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(text[: -len(unit)]) * _UNIT_SECONDS[unit]
    raise ValueError(f"not a duration: {text!r}")


def _at_most_ten_years(text: str) -> str:
    if text not in ("day", "week", "month") and duration_seconds(text) > MAX_DURATION_SECONDS:
        raise PydanticCustomError(
            "schema_duration", "{value} is longer than ten years, the longest duration a policy may give (3650d).", {"value": text})
    return text


Duration = Annotated[str, Field(pattern=DURATION_PATTERN, examples=["30s", "10m", "1h", "1d", "7d"]), AfterValidator(_at_most_ten_years)]
Period = Annotated[str, Field(pattern=PERIOD_PATTERN), AfterValidator(_at_most_ten_years)]
Count = Annotated[int, Field(le=MAX_COUNT)]
Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
Mode = Literal["enforce", "warn", "dry_run"]
Keyword = Annotated[str, Field(pattern=VISIBLE_PATTERN, description="A word, stem or phrase; it must contain a visible character.")]
# pydantic writes key patterns as `patternProperties` only; without this the
# JSON Schema would accept keys that the models reject.
CLOSED_KEYS: dict[str, Any] = {"additionalProperties": False}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True, allow_inf_nan=False)


def exactly_one(values: dict[str, Any], names: tuple[str, ...], what: str, error: str = "schema_invalid") -> None:
    """Raise the `error` type unless exactly one of `names` is given."""
    given = [n for n in names if values.get(n) is not None]
    if len(given) != 1:
        listed = ", ".join(f"`{n}`" for n in names)
        found = f"found {', '.join(f'`{g}`' for g in given)}" if given else "found none"
        raise PydanticCustomError(error, "{what} needs exactly one of {listed}; {found}.",
                                  {"what": what, "listed": listed, "found": found})


# ---------------------------------------------------------------- context

class ContextField(Strict):
    """A request field that conditions may use."""

    type: Literal["string", "integer", "number", "boolean"] = Field(
        "string", description="The field's type. A field with `enum` is a string.")
    enum: tuple[str, ...] | None = Field(
        None, min_length=1, description="The only values the field may take; conditions comparing it with any other value are errors.")
    description: str | None = Field(None, description="What the field means, for reviewers.")
    required: bool = Field(
        False, description="When true, a request without this field is refused instead of the condition failing closed at evaluation.")


ContextSpec = Annotated[
    Literal["string", "integer", "number", "boolean"] | ContextField,
    Field(description="A type name (`string`, `integer`, `number`, `boolean`) or a field description with `enum`."),
]


# ---------------------------------------------------------------- models

class Pricing(Strict):
    """Prices that override litellm's price table for one model."""

    input_per_million: float = Field(ge=0, le=MAX_PRICE_PER_MILLION, description="USD per one million prompt tokens.")
    output_per_million: float = Field(ge=0, le=MAX_PRICE_PER_MILLION, description="USD per one million completion tokens.")


class ModelSpec(Strict):
    """One model the policy may call, under a short id used everywhere else."""

    model: str = Field(min_length=1, description="The litellm model name, e.g. `gpt-4o-mini` or `openai/my-local-alias`.")
    max_tokens: int = Field(1024, ge=1, le=1_000_000, description="Most completion tokens one call may produce; also the worst case reserved against budgets.")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature passed to the provider.")
    pricing: Pricing | None = Field(None, description="Prices overriding litellm's table; required when the model is not in it.")
    api_base: str | None = Field(None, description="Base URL of an OpenAI-compatible server or proxy; `${VAR}` references are allowed.")
    api_key_env: str | None = Field(None, pattern=ENV_NAME_PATTERN, description="Name of the environment variable holding the API key. Keys are never written in the policy.")
    timeout: Duration = Field("60s", description="Per-call timeout, e.g. `30s`.")
    retries: int = Field(2, ge=0, le=10, description="Retries with exponential backoff on transient provider errors (timeouts, rate limits, 5xx).")
    fallbacks: tuple[Id, ...] = Field((), description="Model ids tried in order when this model still fails after its retries.")
    logprobs: bool = Field(False, description="Ask the provider for token log-probabilities (needed by the `logprob` validator).")
    prompt_overhead_tokens: int = Field(
        64, ge=0, le=100_000,
        description="Tokens the provider may add to every prompt (chat template, default system prompt); added to the offline prompt estimate when the worst case is reserved.")
    context_window: int | None = Field(
        None, ge=1, le=100_000_000,
        description="Most tokens the model takes in one call, prompt and `max_tokens` together (default: litellm's `max_input_tokens` for the model, else unchecked). A prompt that cannot fit is not sent: the call moves to the model's fallbacks, else fails like any call.")


# ---------------------------------------------------------------- store

class MemoryStore(Strict):
    """In-process state; lost on restart. For tests and single processes."""

    kind: Literal["memory"] = Field(description="`memory`: counters live in this process only.")
    reservation_ttl: Duration = Field("10m", description="An unsettled reservation (a crashed worker) stops counting after this long.")


class SqliteStore(Strict):
    """A SQLite file shared by the processes of one host."""

    kind: Literal["sqlite"] = Field(description="`sqlite`: one file, WAL mode, safe across processes on one host.")
    path: str = Field(".cascadepolicy/state.db", min_length=1, description="Path of the database file, relative to the working directory.")
    reservation_ttl: Duration = Field("10m", description="An unsettled reservation (a crashed worker) stops counting after this long.")


class RedisStore(Strict):
    """A Redis server shared by many hosts."""

    kind: Literal["redis"] = Field(description="`redis`: atomic server-side scripts, for many processes on many hosts.")
    url: str = Field(min_length=1, description="Redis URL, usually `${REDIS_URL:?...}`.")
    key_prefix: str = Field("cascadepolicy:", description="Prefix of every key this policy writes.")
    reservation_ttl: Duration = Field("10m", description="An unsettled reservation (a crashed worker) stops counting after this long.")


Store = Annotated[MemoryStore | SqliteStore | RedisStore, Field(discriminator="kind")]


# ---------------------------------------------------------------- limits

class RateWindow(Strict):
    """At most `requests` requests, or `tokens` tokens, in any window of length `per`."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["requests"]}, {"required": ["tokens"]}]})

    requests: Count | None = Field(None, ge=1, description="Most requests admitted in any window of length `per`.")
    tokens: Count | None = Field(None, ge=1, description="Most tokens (prompt + worst-case completion, settled to actual) in any window of length `per`.")
    per: Duration = Field(description="Window length, e.g. `30s`, `1h`, `7d`. Windows slide: no window of this length ever admits more.")
    scope: Literal["user", "tier"] = Field("user", description="`user`: each user has their own window; `tier`: all users of the tier share one.")
    mode: Mode = Field("enforce", description="`enforce` refuses; `warn` admits and records; `dry_run` only records what would happen.")
    fail_open: bool = Field(False, description="Admit when the state store cannot be reached (default: refuse).")

    @model_validator(mode="before")
    @classmethod
    def _one_measure(cls, values: Any) -> Any:
        if isinstance(values, dict):
            exactly_one(values, ("requests", "tokens"), "a rate window")
        return values


class Budget(Strict):
    """A USD budget over a calendar or rolling period, with degradation thresholds."""

    model_config = ConfigDict(json_schema_extra={"dependentRequired": {"degrade_at": ["degrade_to"], "degrade_to": ["degrade_at"]}})

    usd: float = Field(gt=0, le=MAX_USD, description="The budget in US dollars for each period.")
    per: Period = Field(description="`day`, `week` or `month` (calendar periods in `timezone`), or a rolling duration such as `24h` or `30d`.")
    timezone: str = Field("UTC", description="IANA time zone in which calendar periods start, e.g. `Europe/Berlin`.")
    scope: Literal["user", "tier"] = Field("user", description="`user`: each user has their own budget; `tier`: all users of the tier share one.")
    warn_at: Ratio | None = Field(None, description="Share of the budget at which requests are still served but a warning is recorded and the callback called.")
    degrade_at: Ratio | None = Field(None, description="Share of the budget from which requests go to `degrade_to` instead of their route.")
    degrade_to: Id | None = Field(None, description="The cheaper cascade id used from `degrade_at` on.")
    block_at: Ratio = Field(1.0, description="Share of the budget from which requests are refused with a retry-after.")
    mode: Mode = Field("enforce", description="`enforce` refuses; `warn` admits and records; `dry_run` only records what would happen.")
    fail_open: bool = Field(False, description="Admit when the state store cannot be reached (default: refuse).")

    @model_validator(mode="after")
    def _degrade_pair(self) -> Budget:
        if (self.degrade_at is None) != (self.degrade_to is None):
            raise PydanticCustomError("schema_invalid", "`degrade_at` and `degrade_to` go together: give both or neither.")
        return self


if TYPE_CHECKING:
    RequestParam = str
else:  # one of the names, as a Literal so that the schema lists them and a typo gets a suggestion
    RequestParam = Literal[tuple(sorted(REQUEST_PARAMS))]


class TierParams(Strict):
    """The chat-completion parameters a tier's requests may pass to the models."""

    forbid: tuple[RequestParam, ...] = Field((), description="Parameters this tier's requests may not set (a request that sets one is refused).")
    max_tokens: Annotated[int, Field(ge=1, le=MAX_COUNT)] | None = Field(
        None, description="The most completion tokens a request may ask for; a larger `max_tokens` is lowered to this (recorded).")


class Tier(Strict):
    """What one class of caller may do."""

    description: str | None = Field(None, description="What the tier is, for reviewers.")
    rate: tuple[RateWindow, ...] = Field((), description="Rate windows; every one must admit a request.")
    budget: Budget | None = Field(None, description="USD budget with warn/degrade/block thresholds.")
    models: tuple[Id, ...] | None = Field(None, description="Model ids this tier may call; cascade steps with other models are skipped. Omit to allow all.")
    params: TierParams = Field(default_factory=TierParams, description="Which request parameters (tools, temperature, ...) the tier may pass to models.")


class Limit(Strict):
    """A limit outside tiers: global, or per model."""

    model_config = ConfigDict(json_schema_extra={
        "oneOf": [{"required": ["rate"]}, {"required": ["budget"]}],
        "if": {"properties": {"scope": {"const": "model"}}}, "then": {"required": ["model"]}, "else": {"not": {"required": ["model"]}}})

    id: Id = Field(description="Unique id, used in decision records and `cascadepolicy usage`.")
    scope: Literal["global", "model"] = Field(description="`global`: one counter for all requests; `model`: one counter for calls of `model`.")
    model: Id | None = Field(None, description="With `scope: model`, the model id the limit counts.")
    rate: RateWindow | None = Field(None, description="A rate window (its own `scope` key is not used here).")
    budget: Budget | None = Field(None, description="A USD budget (its own `scope` key is not used here).")

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, values: Any) -> Any:
        if isinstance(values, dict):
            exactly_one(values, ("rate", "budget"), "a limit")
        return values

    @model_validator(mode="after")
    def _model_scope(self) -> Limit:
        if (self.scope == "model") != (self.model is not None):
            raise PydanticCustomError("schema_invalid", "`model` is given exactly when `scope` is `model`.")
        return self


# ---------------------------------------------------------------- guardrails

Role = Literal["user", "system", "assistant", "tool", "document"]
INPUT_ROLES: tuple[Role, ...] = ("user", "tool")  # tool results: the indirect-injection vector
RESTORE_ROLES: tuple[Role, ...] = ("user", "tool", "assistant")  # restored answers come back in the conversation


class GuardrailBase(Strict):
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"stage": {"const": "output"}}, "required": ["stage"]}, "then": {"not": {"required": ["apply_to"]}}},
        {"if": {"properties": {"restore": {"const": True}}, "required": ["restore"]},
         "then": {"properties": {"action": {"const": "redact"}, "stage": {"const": "input"}}}},
    ]})

    id: Id = Field(description="Unique id, named in decision records and block messages.")
    stage: Literal["input", "output"] = Field(
        description="`input`: the request's messages of the roles in `apply_to`, before any model call; `output`: each cascade step's answer, its text and its tool calls' arguments, before it is accepted.")
    action: Literal["block", "redact", "warn", "escalate", "reask"] = Field(
        description="`block` refuses; `redact` replaces findings with placeholders; `warn` records; `escalate` (output) rejects the answer and moves to the next step; `reask` (output) asks the same model again with feedback.")
    mode: Mode = Field("enforce", description="`enforce` acts; `warn` records what the action would be; `dry_run` records only the verdict.")
    message: str | None = Field(None, description="Text returned to the caller when the guardrail blocks.")
    timeout: Duration = Field("2s", description="Longest time the check may take.")
    on_timeout: Literal["block", "allow"] = Field("block", description="What happens when the check times out or fails: `block` (default, fail closed) or `allow`.")
    max_reasks: int = Field(1, ge=1, le=5, description="With `action: reask`, the most times the model is asked again.")
    apply_to: tuple[Role, ...] | None = Field(
        None, min_length=1,
        description="Input guardrails: the message roles scanned (a `developer` message counts as `system`, a `function` "
                    "message as `tool`); `document` scans `metadata.documents`. Omitted: `[user, tool]`, or "
                    "`[user, tool, assistant]` for a `redact` rule with `restore: true`. Not for output guardrails.")
    restore: bool = Field(
        False, description="On an input `redact` rule: the placeholders it put in the prompt are mapped back to the "
                           "caller's values in the answer (and its tool calls' arguments); the decision record keeps them masked.")

    @model_validator(mode="after")
    def _roles_and_restore(self) -> GuardrailBase:
        if self.stage == "output" and self.apply_to is not None:
            raise PydanticCustomError("schema_invalid", "`apply_to` is for input guardrails; an output guardrail scans "
                                      "the answer and its tool calls' arguments.")
        if self.restore and (self.action != "redact" or self.stage != "input"):
            raise PydanticCustomError("schema_invalid", "`restore: true` needs `action: redact` and `stage: input`: "
                                      "it maps the placeholders an input redaction made back in the answer.")
        return self

    def roles(self) -> frozenset[str]:
        """The roles an input rule scans: `apply_to`, or its default."""
        if self.apply_to is not None:
            return frozenset(self.apply_to)
        return frozenset(RESTORE_ROLES if self.restore else INPUT_ROLES)


class PiiGuardrail(GuardrailBase):
    check: Literal["pii"] = Field(description="Personal data: emails, phone numbers, SSNs, cards, IBANs, IPs, secrets.")
    entities: tuple[Literal["email", "phone", "ssn", "credit_card", "iban", "ip_address", "api_key", "street_address", "person"], ...] = Field(
        ("email", "phone", "ssn", "credit_card", "iban", "ip_address", "api_key"), min_length=1, description="Entity kinds to detect.")
    backend: Literal["builtin", "presidio"] = Field(
        "builtin", description="`builtin` detectors, or Microsoft Presidio when `presidio-analyzer` is installed.")


class InjectionGuardrail(GuardrailBase):
    check: Literal["prompt_injection"] = Field(description="Prompt injection and jailbreak attempts.")
    # injection.DEFAULT_THRESHOLD, the one the benchmark measures (tests/guardrails/test_injection_defaults.py)
    threshold: Ratio = Field(0.35, description="Score from which the guardrail fires.")


class ToxicityGuardrail(GuardrailBase):
    check: Literal["toxicity"] = Field(description="Insults, threats, hate, sexual content, self-harm (built-in lexicon).")
    threshold: Ratio = Field(0.5, description="Score from which the guardrail fires.")
    backend: Literal["lexicon", "ml"] = Field(
        "lexicon", description="`lexicon` (built in), or `ml`: the `alt-profanity-check` model when it is installed.")


class ModerationGuardrail(GuardrailBase):
    check: Literal["moderation"] = Field(description="A provider moderation model through litellm, or the offline lexicon when `provider` is omitted.")
    provider: str | None = Field(None, description="litellm moderation model, e.g. `omni-moderation-latest`.")
    threshold: Ratio = Field(0.5, description="Score from which the guardrail fires.")


class GroundingGuardrail(GuardrailBase):
    check: Literal["grounding"] = Field(description="The answer's claims must be supported by the request's source documents (`metadata.documents`).")
    threshold: Ratio = Field(0.5, description="Least share of supported claims (lexical), or least judge grade / 10.")
    judge: Id | None = Field(None, description="Model id that judges support instead of lexical overlap; its calls are reserved and counted.")


class CustomGuardrail(GuardrailBase):
    check: Literal["custom"] = Field(description="A Python callable `module:function` taking the text and returning a verdict.")
    function: str = Field(pattern=CALLABLE_PATTERN, description="`module:function` importable where the policy runs.")
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments passed to the function.")


Guardrail = Annotated[
    PiiGuardrail | InjectionGuardrail | ToxicityGuardrail | ModerationGuardrail | GroundingGuardrail | CustomGuardrail,
    Field(discriminator="check"),
]


# ---------------------------------------------------------------- validators

class CheckBase(Strict):
    """Keys every check has. Each check's fields are its parameters: their names, types, defaults and
    descriptions are defined here only, and the runtime check (`cascadepolicy.quality`) reads them
    from the validated model."""

    weight: float = Field(1.0, gt=0, le=MAX_WEIGHT, description="Weight of this check in the step's composite score.")
    required: bool = Field(False, description="When true, failing this check sets the composite score to 0.")


Flag = Literal["ignore_case", "multiline", "dotall", "verbose"]
Pattern = Annotated[str, Field(min_length=1, max_length=MAX_PATTERN_CHARS)]
Phrases = Annotated[tuple[Keyword, ...], Field(min_length=1)]
Tolerance = Annotated[float, Field(ge=0)]


class RegexCheck(CheckBase):
    check: Literal["regex"] = Field(description="The answer must (or must not) match a regular expression.")
    pattern: Pattern = Field(description="Python regular expression, searched anywhere in the answer.")
    must_match: bool = Field(True, description="`false` turns it into a must-not-match rule.")
    flags: tuple[Flag, ...] = Field((), description="Regular expression flags.")


class LengthCheck(CheckBase):
    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": [k]} for k in ("min_chars", "max_chars", "min_words", "max_words")]})

    check: Literal["length"] = Field(description="Answer length bounds; words approximate tokens (about 0.75 words per token).")
    min_chars: Count | None = Field(None, ge=0, description="Fewest characters.")
    max_chars: Count | None = Field(None, ge=1, description="Most characters.")
    min_words: Count | None = Field(None, ge=0, description="Fewest words.")
    max_words: Count | None = Field(None, ge=1, description="Most words.")

    @model_validator(mode="after")
    def _some_bound(self) -> LengthCheck:
        if all(v is None for v in (self.min_chars, self.max_chars, self.min_words, self.max_words)):
            raise PydanticCustomError("schema_invalid", "a length check needs at least one of min_chars, max_chars, min_words, max_words.")
        return self


class HedgingCheck(CheckBase):
    check: Literal["hedging"] = Field(description="Share of sentences that hedge (\"I think\", \"probably\", ...).")
    max_ratio: Ratio = Field(0.3, description="Most share of hedging sentences that still passes.")
    phrases: Phrases | None = Field(None, description="Phrases replacing the built-in list (null: the built-in list).")


class RefusalCheck(CheckBase):
    check: Literal["refusal"] = Field(description="The model declined to answer.")
    phrases: Phrases | None = Field(None, description="Phrases replacing the built-in list (null: the built-in list).")
    scan_chars: Count | None = Field(600, ge=1, description="Only the first this many characters are searched (null: the whole answer).")


class CoherenceCheck(CheckBase):
    check: Literal["coherence"] = Field(description="Self-contradiction, degenerate repetition, an answer that stops mid-sentence.")
    max_repeat_ratio: float = Field(0.5, gt=0, le=1, description="Most share of repeated n-grams that still passes.")
    ngram: int = Field(4, ge=2, le=10, description="n-gram length for the repetition measure.")
    min_words_for_repetition: Count = Field(40, ge=1, description="Answers shorter than this are not checked for repetition.")
    max_repeated_lines: Count = Field(2, ge=0, description="Most identical non-empty lines.")
    check_truncation: bool = Field(True, description="Fail answers that stop mid-sentence.")
    check_contradiction: bool = Field(True, description="Fail answers that state a sentence and its negation.")


class JsonCheck(CheckBase):
    check: Literal["json"] = Field(description="The answer is valid JSON (a fenced ```json block is extracted), optionally against a JSON Schema.")
    json_schema: dict[str, Any] | None = Field(
        None, alias="schema", description="JSON Schema the answer must satisfy; its `$ref`s stay inside it (`#/...`).")


class ToolCallCheck(CheckBase):
    check: Literal["tool_call"] = Field(description="Each tool call names a tool the request offers, and its arguments are JSON valid against that tool's parameter schema.")
    require_call: bool = Field(False, description="A text answer fails; when false, a text answer skips this check.")
    allow_unknown_tools: bool = Field(False, description="A call to a tool the request does not offer passes when its arguments are a JSON object; when false, it fails.")


class ArithmeticCheck(CheckBase):
    check: Literal["arithmetic"] = Field(description="Every `a op b = c` the answer writes is recomputed.")
    tolerance: Tolerance = Field(1e-6, description="Relative tolerance for a result to count as right.")
    allow_rounding: bool = Field(True, description="Accept results rounded to the precision written.")
    min_share: Ratio = Field(1.0, description="Least share of correct equations that passes.")
    min_equations: Count = Field(0, ge=0, description="Fewest equations the answer must show.")


class AnswerFormatCheck(CheckBase):
    check: Literal["answer_format"] = Field(description="A final answer exists and is a number (`#### N`, `\\boxed{N}`, `the answer is N`).")
    answer_pattern: Pattern | None = Field(
        None, description="Regular expression with one capture group for the final answer, replacing the built-in ones (null: the built-in ones).")
    numeric: bool = Field(True, description="The final answer must be a number.")
    integer: bool = Field(False, description="The final answer must be a whole number.")
    max_decimals: Count | None = Field(None, ge=0, description="Most decimal places in the final answer (null: any).")


class ConsistencyCheck(CheckBase):
    check: Literal["consistency"] = Field(description="The final answer agrees with the result computed in the working.")
    answer_pattern: Pattern | None = Field(
        None, description="Regular expression with one capture group for the final answer (null: the built-in ones).")
    mode: Literal["last", "any"] = Field("last", description="`last`: the final answer equals the last result; `any`: any result.")
    tolerance: Tolerance = Field(1e-6, description="Relative tolerance.")


class GroundedNumbersCheck(CheckBase):
    check: Literal["grounding"] = Field(description="The working uses the numbers given in the question.")
    min_share: Ratio = Field(0.75, description="Least share of the question's numbers used.")
    number_words: bool = Field(True, description="Count number words (\"three\", \"half\") as numbers.")
    ignore: tuple[float, ...] = Field((1.0,), description="Numbers of the question that need not be used.")
    tolerance: Tolerance = Field(1e-6, description="Relative tolerance.")


class ProvenanceCheck(CheckBase):
    check: Literal["provenance"] = Field(description="Every operand in the working comes from the question, an earlier result or a known constant.")
    constants: tuple[float, ...] | None = Field(
        None, description="Constants always allowed (null: the built-in list 0-10, 12, 24, 30, 31, 52, 60, 100, 365, 1000, 0.5).")
    number_words: bool = Field(True, description="Count number words as numbers.")
    max_unsupported: Count = Field(0, ge=0, description="Most operands of unknown origin that still pass.")
    tolerance: Tolerance = Field(1e-6, description="Relative tolerance.")


class ExactnessCheck(CheckBase):
    check: Literal["exactness"] = Field(description="The working stays exact: it does not round, approximate, patch a part-item or note a contradiction, and no quantity goes negative.")
    phrases: Phrases | None = Field(
        None, description="Phrases of inexact working replacing the built-in list (null: \"rounded\", \"approximately\", \"fraction of a\", \"however\", ...).")
    allow_negative: bool = Field(False, description="Accept negative computed results.")


class LogprobCheck(CheckBase):
    check: Literal["logprob"] = Field(description="Mean and minimum token log-probability; skipped (and recorded) when the provider returns none.")
    min_mean: float | None = Field(-1.0, le=0, description="Least mean token log-probability (null: no bound).")
    min_token: float | None = Field(None, le=0, description="Least log-probability of any single token (null: no bound).")


class JudgeCheck(CheckBase):
    check: Literal["judge"] = Field(description="A model grades the answer 1-10 against a rubric; its cost is counted.")
    model: Id = Field(description="Model id of the judge.")
    rubric: str | None = Field(None, min_length=1, description="What a good answer does (null: a general rubric).")
    min_score: float = Field(7.0, ge=1, le=10, description="Least grade that passes.")


class CustomCheck(CheckBase):
    check: Literal["custom"] = Field(description="A Python callable `module:function` scoring the draft.")
    function: str = Field(pattern=CALLABLE_PATTERN, description="`module:function` taking a Draft (and `args`) and returning a score 0..1 or a CheckResult.")
    args: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments passed to the function.")
    min_score: Ratio = Field(0.5, description="Least score that passes.")


QualityCheck = Annotated[
    RegexCheck | LengthCheck | HedgingCheck | RefusalCheck | CoherenceCheck | JsonCheck | ToolCallCheck | ArithmeticCheck
    | AnswerFormatCheck | ConsistencyCheck | GroundedNumbersCheck | ProvenanceCheck | ExactnessCheck | LogprobCheck | JudgeCheck
    | CustomCheck,
    Field(discriminator="check"),
]


# ---------------------------------------------------------------- cascades

class Accept(Strict):
    """When a step's answer is good enough to return."""

    validators: Id = Field(description="Name of a validator set in `validators`.")
    min_score: Ratio = Field(description="Least composite score that accepts the answer.")
    min_score_by_complexity: dict[Literal["trivial", "simple", "moderate", "hard", "expert"], Ratio] = Field(
        default_factory=dict, description="Per `request.complexity` thresholds overriding `min_score`.")


class Step(Strict):
    """One step of a cascade: call a model, then accept or escalate."""

    model: Id = Field(description="Model id to call.")
    accept: Accept | None = Field(None, description="Acceptance rule; without it the answer is accepted as it is.")
    pass_draft: bool = Field(False, description="Give the rejected draft of the previous step to this model as context.")
    guardrails: bool = Field(True, description="Run the output guardrails on this step's answer.")


# ---------------------------------------------------------------- routes

class BlockTarget(Strict):
    block: str = Field(min_length=1, description="Refuse the request with this message.")


def _route_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        if "default" in value:
            return "default"
        if "when" in value:
            return "conditional"
        return None
    return "default" if isinstance(value, DefaultRoute) else "conditional"


class Target(Strict):
    """Where a matching request goes: exactly one of `cascade`, `model`, `block`."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["cascade"]}, {"required": ["model"]}, {"required": ["block"]}]})

    cascade: Id | None = Field(None, description="Run this cascade.")
    model: Id | None = Field(None, description="Call this model alone (a one-step cascade without validation).")
    block: str | None = Field(None, min_length=1, description="Refuse the request with this message.")

    @model_validator(mode="before")
    @classmethod
    def _one_target(cls, values: Any) -> Any:
        if isinstance(values, dict):
            exactly_one(values, ("cascade", "model", "block"), "a route target")
        return values


class ConditionalRoute(Target):
    """Taken when `when` is true; routes are tried in order."""

    model_config = ConfigDict(json_schema_extra={
        "oneOf": [{"required": ["when", "cascade"]}, {"required": ["when", "model"]}, {"required": ["when", "block"]}]})

    name: Id | None = Field(None, description="A name for the route in decision records.")
    when: str = Field(min_length=1, max_length=2000, description="Condition over the request context, e.g. `user.tier == 'free' and request.tokens > 4000`.")
    on_error: Literal["block", "skip"] = Field("block", description="When the condition cannot be evaluated: `block` (fail closed) or `skip` to the next route.")


class DefaultRoute(Strict):
    """Taken when no earlier route matched; required, and last."""

    name: Id | None = Field(None, description="A name for the route in decision records.")
    default: Target = Field(description="Where every remaining request goes.")


Route = Annotated[
    Annotated[ConditionalRoute, Tag("conditional")] | Annotated[DefaultRoute, Tag("default")],
    Discriminator(_route_tag, custom_error_type="schema_route",
                  custom_error_message="a route needs either `when` with a target or `default`"),
]


# ---------------------------------------------------------------- features


class Features(Strict):
    """Word lists of the built-in request detectors."""

    domains: dict[Annotated[str, Field(pattern=DOMAIN_NAME_PATTERN)], tuple[Keyword, ...]] = Field(
        default_factory=dict, json_schema_extra=CLOSED_KEYS, description="Per domain, keywords replacing the built-in list (a new name adds a domain).")
    complexity: dict[Literal["trivial", "simple", "moderate", "hard", "expert"], tuple[Keyword, ...]] = Field(
        default_factory=dict, description="Per complexity level, keywords replacing the built-in list.")


def _at_most_a_minute(text: str) -> str:
    if duration_seconds(text) > MAX_ALERT_TIMEOUT_SECONDS:
        raise PydanticCustomError("schema_duration", "{value} is longer than 60s, the longest an alert may wait for its webhook.", {"value": text})
    return text


AlertTimeout = Annotated[Duration, AfterValidator(_at_most_a_minute)]


class Alert(Strict):
    """A webhook told when a budget or rate window warns, degrades or blocks."""

    id: Id = Field(description="Unique id, named in each alert and in the engine's alert counters.")
    url: str = Field(description="The webhook's http(s) URL, always one environment reference such as `${ALERT_WEBHOOK_URL}` (a hook's URL is its credential); `${NAME:-}` turns the alert off where the variable is unset.")
    on: tuple[Literal["warn", "degrade", "block"], ...] = Field(
        ("warn", "degrade", "block"), min_length=1,
        description="Crossings that post: `warn` (a budget's `warn_at`), `degrade` (`degrade_at`), `block` (a refusal, or one a `warn`-mode limit would make).")
    limits: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] | None = Field(
        None, min_length=1,
        description="Only these limits, by name: `tiers.<tier>.budget`, `tiers.<tier>.rate[<i>]`, `limits.<id>` (omit: every limit).")
    timeout: AlertTimeout = Field("2s", description="Longest wait for the webhook to answer one post (at most `60s`); the request never waits for it.")
    format: Literal["json", "slack"] = Field("json", description="`json`: the alert's fields; `slack`: a `text` message for Slack, Teams or Mattermost incoming webhooks.")


class Audit(Strict):
    """Where decision records go."""

    decision_log: str | None = Field(None, description="Append every decision record as one JSON line to this file.")
    include_text: bool = Field(False, description="Keep prompt and answer text in records (still with PII masked).")


# ---------------------------------------------------------------- policy

class PolicyDocument(Strict):
    """A cascadepolicy policy, language version 1."""

    model_config = ConfigDict(title="cascadepolicy policy", json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"})

    version: Literal[1] = Field(description="Policy language version; this release reads version 1.")
    name: Id = Field(description="Policy name, recorded in every decision.")
    description: str | None = Field(None, description="What the policy is for.")
    extends: str | tuple[str, ...] | None = Field(
        None, description="Base policy file(s), relative to this file. Maps merge key by key, lists and scalars replace; later files win.")
    context: dict[Annotated[str, Field(pattern=CONTEXT_NAME_PATTERN)], ContextSpec] = Field(
        default_factory=dict, json_schema_extra=CLOSED_KEYS, description="Request fields usable in conditions, by dotted name (e.g. `metadata.feature`).")
    models: dict[Id, ModelSpec] = Field(min_length=1, json_schema_extra=CLOSED_KEYS, description="Models the policy may call, by id.")
    store: Store = Field(default_factory=lambda: MemoryStore(kind="memory"), description="Where counters and spend are kept: `memory`, `sqlite` or `redis`.")
    default_tier: Id | None = Field(None, description="Tier of requests that name none; without it such requests are refused when tiers exist.")
    tiers: dict[Id, Tier] = Field(default_factory=dict, json_schema_extra=CLOSED_KEYS, description="Caller tiers with their rate windows and budgets.")
    limits: tuple[Limit, ...] = Field((), description="Global and per-model limits.")
    guardrails: tuple[Guardrail, ...] = Field((), description="Checks on input and output, in order.")
    validators: dict[Id, Annotated[tuple[QualityCheck, ...], Field(min_length=1)]] = Field(default_factory=dict, json_schema_extra=CLOSED_KEYS, description="Named sets of quality checks used by cascade steps.")
    cascades: dict[Id, Annotated[tuple[Step, ...], Field(min_length=1)]] = Field(default_factory=dict, json_schema_extra=CLOSED_KEYS, description="Ordered steps: each step's answer is accepted or escalated to the next.")
    routes: tuple[Route, ...] = Field(min_length=1, description="Ordered routes; the first whose condition holds is taken; the last must be `default`.")
    features: Features = Field(default_factory=Features, description="Word lists of the built-in detectors behind `request.domain` and `request.complexity`.")
    audit: Audit = Field(default_factory=Audit, description="Decision record output.")
    alerts: tuple[Alert, ...] = Field((), max_length=MAX_ALERTS, description="Webhooks told when a budget or rate window warns, degrades or blocks.")

    @model_validator(mode="before")
    @classmethod
    def _known_version(cls, values: Any) -> Any:
        if isinstance(values, dict) and "version" in values and values["version"] not in SUPPORTED_VERSIONS:
            raise PydanticCustomError("schema_version", "policy version {v!r} is not supported; this release reads version 1.",
                                      {"v": values["version"]})
        return values
