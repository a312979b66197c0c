"""The most a request may cost: the amount admission reserves, summed from the plan's calls.

Sits between routing and admission. For a target and a tier, it adds up every
call the plan says the tier-allowed steps may make (`compile.plan`): each
draft and reask with its growing prompt, each judge and grounding judge, and
for each call the model and every fallback the tier allows, since a failed
call may still be billed. Which calls those are depends only on the plan, so
the terms are worked out once per (target, tier); a request only supplies
its prompt size and the size of its documents.

Prompt sizes are an offline estimate with one tokenizer. Providers' tokenizers
split text into up to ~20 % more tokens and chat templates add their own, so
a call's prompt is reserved as `ceil(bound * TOKENIZER_MARGIN) + prompt_overhead_tokens`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from cascadepolicy.compile.plan import Plan, PlannedTarget

TOKENIZER_MARGIN = 1.2


@dataclass(frozen=True)
class Usage:
    """Worst-case (before) or actual (after) use of one request."""

    tokens: Mapping[str, float]  # per model id
    usd: Mapping[str, float]  # per model id


def prompt_bound(estimate: int, overhead: int) -> int:
    """An upper bound of the prompt tokens a provider bills for an offline estimate."""
    return math.ceil(estimate * TOKENIZER_MARGIN) + overhead


# The calls of one model, summed: (model id, calls counting the request's prompt, extra tokens, calls
# counting the documents, prompt overheads + rounding, max_tokens, input and output price per token,
# the max_tokens of each of its answer calls (drafts and reasks), which a request's `max_tokens` lowers).
# Summing first reserves at most one token per call more than rounding each call's prompt up alone:
# the sum of n ceilings is at most the ceiling of the sum + n - 1.
_Term = tuple[str, int, int, int, int, int, float, float, tuple[int, ...]]


class WorstCase:
    """`worst(target, tier, prompt_tokens, document_tokens, max_tokens)`: the per-model worst case of one request.

    `max_tokens`: the most completion tokens the request lets an answer use (its own `max_tokens`, or its
    tier's cap); each draft and reask is reserved at the lower of it and its model's. Judges keep theirs,
    and the earlier answers a later prompt quotes stay bounded by the models' own (an upper bound still).
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._terms: dict[tuple[str, str | None], tuple[_Term, ...]] = {}

    def __call__(self, target: PlannedTarget, tier: str | None, prompt_tokens: int, document_tokens: int = 0,
                 max_tokens: int | None = None) -> Usage:
        terms = self._terms.get((target.admit, tier))
        if terms is None:
            terms = self._terms[(target.admit, tier)] = self._compile(target, tier)
        tokens: dict[str, float] = {}
        usd: dict[str, float] = {}
        margin, ceil = TOKENIZER_MARGIN, math.ceil
        for model, requests, extra, documents, overhead, completion, per_input, per_output, answers in terms:
            if max_tokens is not None:
                completion -= sum(cap - min(cap, max_tokens) for cap in answers)
            prompt = ceil((requests * prompt_tokens + extra + documents * document_tokens) * margin) + overhead
            tokens[model] = prompt + completion
            usd[model] = prompt * per_input + completion * per_output
        return Usage(tokens, usd)

    def _compile(self, target: PlannedTarget, tier: str | None) -> tuple[_Term, ...]:
        steps, _ = self.plan.allowed(target, tier)
        sums: dict[str, list[int]] = {}
        answers: dict[str, list[int]] = {}
        prices = {}
        for step in steps:
            for call in step.calls:
                prompt = call.prompt
                for c in call.chain:
                    if not self.plan.fallback_allowed(c, tier):
                        continue
                    calls, requests, extra, documents, overhead, max_tokens = sums.setdefault(c.model, [0] * 6)
                    sums[c.model] = [calls + 1, requests + prompt.request, extra + prompt.extra, documents + prompt.documents,
                                     overhead + c.overhead, max_tokens + c.max_tokens]
                    prices[c.model] = c.price
                    if call.purpose in ("draft", "reask"):
                        answers.setdefault(c.model, []).append(c.max_tokens)
        return tuple((model, requests, extra, documents, overhead + calls - 1, max_tokens,
                      prices[model].input_per_token, prices[model].output_per_token, tuple(answers.get(model, ())))
                     for model, (calls, requests, extra, documents, overhead, max_tokens) in sums.items())
