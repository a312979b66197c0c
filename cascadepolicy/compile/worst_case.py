"""The most a planned cascade may cost: the amount admission reserves.

Sits between routing and admission. For the steps a request is about to run,
it sums, per model, the tokens and dollars of every call those steps could
make: each step's model and the fallbacks a failed call may move to (a failed
call may still be billed), every reask an output guardrail allows, and every
judge call of a validator or grounding guardrail. Which calls those are
depends only on the policy, so the terms of the sum are worked out once per
step list; a request only supplies its prompt size.

Prompt sizes are an offline estimate with one tokenizer. Providers' tokenizers
split text into up to ~20 % more tokens and chat templates add their own, so
the bound is `ceil(estimate * TOKENIZER_MARGIN) + prompt_overhead_tokens`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cascadepolicy.language.model import ModelSpec, Step
from cascadepolicy.language.pricing import Price

JUDGE_PROMPT_TOKENS = 200  # the judge's rubric and instructions, on top of question and answer
TOKENIZER_MARGIN = 1.2


@dataclass(frozen=True)
class Usage:
    """Worst-case (before) or actual (after) use of one request."""

    tokens: Mapping[str, float]  # per model id
    usd: Mapping[str, float]  # per model id


def prompt_bound(estimate: int, overhead: int) -> int:
    """An upper bound of the prompt tokens a provider bills for an offline estimate."""
    return math.ceil(estimate * TOKENIZER_MARGIN) + overhead


class PlannedStep(Protocol):
    @property
    def step(self) -> Step: ...

    @property
    def judges(self) -> tuple[tuple[str, int], ...]: ...  # judge model ids, with the tokens their prompt adds

    @property
    def node(self) -> str: ...  # the step's graph node id, which names it


@dataclass(frozen=True, slots=True)
class _Term:
    """One call a step may make: its prompt is the request's plus `extra_tokens`."""

    model: str
    extra_tokens: int
    reads_documents: bool  # a grounding judge also reads the request's documents
    overhead: int
    max_tokens: int
    price: Price


class WorstCase:
    """`worst(steps, prompt_tokens, document_tokens)`: the per-model worst case of a step list."""

    def __init__(self, models: Mapping[str, ModelSpec], prices: Mapping[str, Price], *, calls_per_step: int,
                 grounding_judges: Sequence[str]) -> None:
        self.models = models
        self.prices = prices
        self.calls_per_step = calls_per_step  # the call itself and every reask
        self.grounding_judges = tuple(grounding_judges)
        self._terms: dict[tuple[str, ...], tuple[_Term, ...]] = {}

    def __call__(self, steps: Sequence[PlannedStep], prompt_tokens: int, document_tokens: int = 0) -> Usage:
        tokens: dict[str, float] = {}
        usd: dict[str, float] = {}
        calls = self.calls_per_step
        for term in self._terms_of(steps):
            prompt = prompt_bound(prompt_tokens + term.extra_tokens + (document_tokens if term.reads_documents else 0),
                                  term.overhead)
            model, price = term.model, term.price
            tokens[model] = tokens.get(model, 0.0) + (prompt + term.max_tokens) * calls
            usd[model] = usd.get(model, 0.0) + price.worst_case(prompt, term.max_tokens) * calls
        return Usage(tokens, usd)

    def _terms_of(self, steps: Sequence[PlannedStep]) -> tuple[_Term, ...]:
        key = tuple(s.node for s in steps)
        terms = self._terms.get(key)
        if terms is None:
            terms = self._terms[key] = self._compile(steps)
        return terms

    def _compile(self, steps: Sequence[PlannedStep]) -> tuple[_Term, ...]:
        models = self.models
        terms: list[_Term] = []
        previous_draft = 0
        for compiled in steps:
            step = compiled.step
            draft = previous_draft if step.pass_draft else 0
            for candidate in (step.model, *models[step.model].fallbacks):
                terms.append(self._term(candidate, draft, False))
            answer = models[step.model].max_tokens  # a judge reads the question and the answer
            grounding = [(judge, JUDGE_PROMPT_TOKENS) for judge in self.grounding_judges] if step.guardrails else []
            for judge, added in compiled.judges:
                terms.append(self._term(judge, added + draft + answer, False))
            for judge, added in grounding:
                terms.append(self._term(judge, added + draft + answer, True))
            previous_draft = models[step.model].max_tokens
        return tuple(terms)

    def _term(self, model_id: str, extra: int, reads_documents: bool) -> _Term:
        spec = self.models[model_id]
        return _Term(model_id, extra, reads_documents, spec.prompt_overhead_tokens, spec.max_tokens, self.prices[model_id])
