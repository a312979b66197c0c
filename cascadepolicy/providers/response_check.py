"""Provider responses checked before they are billed.

Sits at the litellm boundary (`cascadepolicy.providers.calls`), between a provider's
answer and the figures the engine settles against budgets. A provider, or
anything pretending to be one at `api_base`, is not trusted: its usage may be
missing, negative, fractional, a string or absurdly large; its completion may
run past the `max_tokens` that was asked for; its cost may be NaN; its
content may be a number, a list of parts or junk. The rules:

* nothing is ever billed negative, and usage that cannot be read is replaced
  by counting the text (litellm's cl100k tokenizer, as for mocked answers);
* a completion is never billed below what was received: a reported figure
  far under the answer's own token count is replaced by that count;
* completion tokens above the requested maximum are billed at what was
  received (the answer's tokens) and flagged;
* prompt tokens far above what was sent (text-only prompts) are billed at
  what was sent and flagged;
* a provider-side cost is used only when the usage was taken as reported and
  the cost is finite, not negative and within `COST_RATIO_MAX` of the table
  price for those tokens.

Every deviation is an anomaly: a sentence starting with its code (the
`ANOMALY_*` constants), kept in the call's `ModelCall.anomalies`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cascadepolicy.language.pricing import Price
from cascadepolicy.runtime.features import (
    TOKENS_PER_MESSAGE,
    TOKENS_PER_REPLY,
    count_prompt_tokens,
    text_tokens,
)

ANOMALY_USAGE_MISSING = "usage-missing"
ANOMALY_USAGE_INVALID = "usage-invalid"
ANOMALY_PROMPT_OVER_SENT = "prompt-over-sent"
ANOMALY_COMPLETION_OVER_MAX = "completion-over-max"
ANOMALY_COMPLETION_UNDER_REPORTED = "completion-under-reported"
ANOMALY_COST_INVALID = "cost-invalid"
ANOMALY_CONTENT_NOT_TEXT = "content-not-text"
ANOMALY_CHOICE_INVALID = "choice-invalid"

# Reported completion tokens are trusted unless the answer's own count exceeds
# them by this ratio plus slack: tokenizers differ between providers, so small
# gaps are normal, and reasoning models report hidden tokens the text lacks.
UNDER_REPORT_RATIO = 2.0
UNDER_REPORT_SLACK = 8
# Reported prompt tokens are trusted up to the UTF-8 size of what was sent (no
# tokenizer produces more tokens than bytes) plus what a provider's chat
# template and system preamble may add.
PROMPT_TEMPLATE_SLACK = 1024
# A provider-side cost may differ from the table price (cached input is
# cheaper, long-context tiers dearer), but not by more than this factor.
COST_RATIO_MAX = 4.0
# One stream can repeat the same problem thousands of times; the record keeps
# at most this many distinct anomaly sentences per call.
MAX_ANOMALIES = 16


@dataclass(frozen=True)
class Billing:
    """The figures a call is billed at, and what was wrong with the provider's."""

    prompt_tokens: int
    completion_tokens: int
    cost: float
    anomalies: tuple[str, ...]


class Anomalies:
    """Distinct anomaly sentences of one call, bounded by `MAX_ANOMALIES`, with repeat counts."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def add(self, code: str, sentence: str) -> None:
        key = f"{code}: {sentence}"
        if key in self._counts or len(self._counts) < MAX_ANOMALIES:
            self._counts[key] = self._counts.get(key, 0) + 1

    def __bool__(self) -> bool:
        return bool(self._counts)

    def sentences(self) -> tuple[str, ...]:
        return tuple(k if n == 1 else f"{k} ({n} times)" for k, n in self._counts.items())


# ---------------------------------------------------------------- content


def content_text(content: Any, found: Anomalies, where: str) -> str:
    """The text of a message or stream-delta `content`; anything that is not text is converted or skipped.

    A string is kept; None is no text; a list of content parts keeps the text
    parts; a number is converted to its digits; anything else is skipped.
    Everything but a string or None is recorded as an anomaly.
    """
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    kind = type(content).__name__
    if isinstance(content, int | float) and not isinstance(content, bool) and math.isfinite(content):
        found.add(ANOMALY_CONTENT_NOT_TEXT, f"{where} content was a {kind}; converted to text")
        return str(content)
    if isinstance(content, Mapping | list | tuple):
        parts = [content] if isinstance(content, Mapping) else list(content)
        texts = [p if isinstance(p, str) else p.get("text") if isinstance(p, Mapping) else None for p in parts]
        kept = [t for t in texts if isinstance(t, str)]
        found.add(ANOMALY_CONTENT_NOT_TEXT, f"{where} content was a {kind}; kept its {len(kept)} text part(s) "
                                            f"of {len(parts)}")
        return "".join(kept)
    found.add(ANOMALY_CONTENT_NOT_TEXT, f"{where} content was a {kind}; skipped")
    return ""


def first_choice(choices: Any, found: Anomalies, where: str) -> Any | None:
    """The first choice of a response or chunk, or None when there is no usable one."""
    if not isinstance(choices, Sequence) or isinstance(choices, str | bytes) or not choices:
        return None
    choice = choices[0]
    if isinstance(choice, str | bytes | int | float | bool) or choice is None:
        found.add(ANOMALY_CHOICE_INVALID, f"{where} choice was a {type(choice).__name__}; skipped")
        return None
    return choice


def attr(obj: Any, name: str) -> Any:
    """An attribute of a litellm object, or a key of a plain dict."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


# ---------------------------------------------------------------- usage and cost


def _whole(value: Any) -> int | None:
    """A token count read as reported: a non-negative whole number, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value)
    return None


def sent_bound(messages: Sequence[Mapping[str, Any]]) -> int | None:
    """Most tokens a text-only prompt can be (its UTF-8 bytes and the message overhead), or None when
    a message carries something besides text (images, tool calls), which no byte count bounds."""
    total = TOKENS_PER_REPLY
    for message in messages:
        if set(message) - {"role", "content", "name"}:
            return None
        content = message.get("content")
        if isinstance(content, list):
            if not all(isinstance(p, Mapping) and p.get("type") == "text" for p in content):
                return None
            text = "".join(str(p.get("text", "")) for p in content)
        elif isinstance(content, str) or content is None:
            text = content or ""
        else:
            return None
        total += TOKENS_PER_MESSAGE + len(text.encode("utf-8", "surrogatepass")) + len(str(message.get("role", "")))
    return total


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_usage(usage: Any, messages: Sequence[Mapping[str, Any]], text: str, max_tokens: int, *,
                found: Anomalies, usage_expected: bool = True, extra_prompt: str = "") -> tuple[int, int, bool]:
    """Prompt and completion tokens to bill, and whether both are exactly as the provider reported.

    `usage` is the provider's (a litellm Usage, a dict, or None), `messages`
    what was sent, `text` the answer received, `max_tokens` what was asked for,
    `extra_prompt` the parameters sent that count as prompt (tool definitions, a
    response schema: `features.params_prompt`).
    """
    raw_prompt, raw_completion = attr(usage, "prompt_tokens"), attr(usage, "completion_tokens")
    reported_prompt, reported_completion = _whole(raw_prompt), _whole(raw_completion)
    received = text_tokens(text) if text else 0
    if usage is None or (not raw_prompt and not raw_completion):
        # litellm reports absent usage as zeros; a prompt always has tokens
        if usage_expected:
            found.add(ANOMALY_USAGE_MISSING, "the provider reported no usage; billed the tokens counted in the text")
        reported_prompt = reported_completion = None
    else:
        if reported_prompt is None or reported_prompt == 0:
            found.add(ANOMALY_USAGE_INVALID, f"prompt_tokens was {_shown(raw_prompt)}; billed the tokens counted "
                                             "in the prompt")
            reported_prompt = None
        if reported_completion is None:
            found.add(ANOMALY_USAGE_INVALID, f"completion_tokens was {_shown(raw_completion)}; billed the "
                                             f"{received} tokens counted in the answer")
    if reported_prompt is not None:
        bound = sent_bound(messages)
        if bound is not None and extra_prompt:
            bound += len(extra_prompt.encode("utf-8", "surrogatepass"))
        if bound is not None and reported_prompt > bound + PROMPT_TEMPLATE_SLACK:
            found.add(ANOMALY_PROMPT_OVER_SENT, f"prompt_tokens was {reported_prompt}, more than the prompt sent "
                                                f"can be (at most {bound}); billed the tokens counted in the prompt")
            reported_prompt = None
    over_max = False
    if reported_completion is not None:
        if reported_completion > max_tokens:
            over_max = True
            found.add(ANOMALY_COMPLETION_OVER_MAX, f"completion_tokens was {reported_completion}, above the "
                                                   f"max_tokens of {max_tokens} requested; billed the {received} "
                                                   "tokens received")
            reported_completion = None
        elif received > reported_completion * UNDER_REPORT_RATIO + UNDER_REPORT_SLACK or (
                received and not reported_completion):
            found.add(ANOMALY_COMPLETION_UNDER_REPORTED, f"completion_tokens was {reported_completion}, but the "
                                                         f"answer has {received} tokens; billed {received}")
            reported_completion = None
    if not over_max and received > max_tokens * UNDER_REPORT_RATIO + UNDER_REPORT_SLACK:
        found.add(ANOMALY_COMPLETION_OVER_MAX, f"the answer has {received} tokens, far above the max_tokens of "
                                               f"{max_tokens} requested; billed as received")
    counted = count_prompt_tokens(messages) + (text_tokens(extra_prompt) if extra_prompt else 0)
    prompt = counted if reported_prompt is None else reported_prompt
    completion = received if reported_completion is None else reported_completion
    return prompt, completion, reported_prompt is not None and reported_completion is not None


def check_cost(provider_cost: Callable[[], Any] | None, table_cost: float, found: Anomalies) -> float:
    """The provider-side cost when it is plausible, else the table price of the billed tokens."""
    if provider_cost is None:
        return table_cost
    try:
        raw = provider_cost()
    except Exception:  # litellm has no price for this model: the table price stands
        return table_cost
    cost = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None
    if cost is not None and math.isfinite(cost) and 0 <= cost <= table_cost * COST_RATIO_MAX:
        return float(cost)
    found.add(ANOMALY_COST_INVALID, f"the provider's cost was {_shown(raw)}, against {table_cost:.6g} USD at the "
                                    "table price; billed the table price")
    return table_cost


def bill(usage: Any, messages: Sequence[Mapping[str, Any]], text: str, max_tokens: int, price: Price,
         found: Anomalies, *, provider_cost: Callable[[], Any] | None = None, usage_expected: bool = True,
         extra_prompt: str = "") -> Billing:
    """What one call is billed at: `check_usage`, priced at the table, or at the provider's cost when it is plausible."""
    prompt, completion, as_reported = check_usage(usage, messages, text, max_tokens, found=found,
                                                  usage_expected=usage_expected, extra_prompt=extra_prompt)
    cost = price.cost(prompt, completion)
    if as_reported:
        cost = check_cost(provider_cost, cost, found)
    return Billing(prompt, completion, cost, found.sentences())
