"""Fixtures of a test case turned into what the engine takes.

Sits between the suite model and the engine: the clock, the mock answers
(one per model, or a sequence consumed call by call), forced guardrail
verdicts, a store that is unreachable on purpose, and counters seeded
*through the policy's own admission plan* (`Admitter.plan` with the plan's
templates of the tier or limit in question, `compile.limits`), so a seeded
`{usd: 0.95}` lands on exactly the counters the engine will read, whatever
their key format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cascadepolicy.compile.worst_case import Usage
from cascadepolicy.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    StoreError,
)
from cascadepolicy.language.model import duration_seconds
from cascadepolicy.policy import Policy
from cascadepolicy.providers.calls import MockAnswer
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.runtime.admission import Admitter
from cascadepolicy.state.base import Admission, Charge, Store
from cascadepolicy.state.base import Usage as CounterUsage
from cascadepolicy.testing.model import AnswerError, UsageSeed, iso_seconds

# A fixed default clock keeps calendar budgets (day, week, month) deterministic.
DEFAULT_NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC).timestamp()

_ERRORS: dict[str, type[ProviderError]] = {
    "timeout": ProviderTimeout, "rate_limited": ProviderRateLimited, "unavailable": ProviderUnavailable,
    "auth": ProviderAuthError, "bad_request": ProviderBadRequest,
}


def parse_now(value: str | float | None) -> float:
    if value is None:
        return DEFAULT_NOW
    if isinstance(value, int | float):
        return float(value)
    return iso_seconds(value)


class ScriptedAnswers(MockTransport):
    """The transport of a test case: answers by policy model id, consumed one call at a time,
    and the case's guardrail verdicts.

    Every model is answered, so no call can ever reach a provider; a model
    the case gives no answer for fails with a non-retryable error, and the
    miss is recorded so the runner can fail the case with a clear message.
    """

    def __init__(self, policy: Policy, answers: Mapping[str, Any], verdicts: Mapping[str, Any] | None = None) -> None:
        super().__init__({}, verdicts)
        by_litellm = {spec.model: model_id for model_id, spec in policy.spec.models.items()}
        models = set(policy.spec.models)
        self.queues: dict[str, list[Any]] = {}
        for key, spec in answers.items():
            model_id = key if key in models else by_litellm[key]
            self.queues[model_id] = list(spec) if isinstance(spec, tuple) else [spec]
        self.missing: list[str] = []

    def answer(self, model_id: str, litellm_model: str) -> MockAnswer:
        queue = self.queues.get(model_id)
        if not queue:
            self.missing.append(model_id)
            return ProviderBadRequest(f"the test case gives no answer for model {model_id!r}", model=model_id)
        spec = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(spec, AnswerError):
            return _ERRORS[spec.error](spec.message or f"{spec.error} (test fixture)", model=model_id)
        return str(spec)


def guardrail_verdicts(fixtures: Mapping[str, Any]) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}
    for rule_id, value in fixtures.items():
        if value == "error":
            verdicts[rule_id] = RuntimeError("check failed (test fixture)")
        else:
            verdicts[rule_id] = value is True or value == "fire"
    return verdicts


def seed_usage(policy: Policy, store: Store, seeds: Sequence[UsageSeed], *, user: str | None, tier: str | None,
               now: float) -> None:
    """Charge each seed to the counters the engine's admission plan names for it."""
    admitter = Admitter(policy, store)
    for seed in seeds:
        templates = None  # those of the seed's tier
        seed_tier = seed.tier or tier
        if seed.limit is not None:  # the templates of that limit alone
            index = next((i for i, x in enumerate(policy.spec.limits) if x.id == seed.limit), None)
            templates = [t for t in admitter.templates(None) if t.path == ("limits", index)]
            seed_tier = None
        # Per-model limits are planned only for the models a request may use.
        model = seed.model or (next((t.model for t in templates if t.model), None) if templates else None) or "-"
        at = now - (duration_seconds(seed.ago) if seed.ago else 0.0)
        planned = admitter.plan(user=seed.user or user, tier=seed_tier, worst=Usage({model: 0.0}, {model: 0.0}), now=at,
                                templates=templates)
        measure = "usd" if seed.usd is not None else "requests" if seed.requests is not None else "tokens"
        amount = float(seed.usd if seed.usd is not None else seed.requests if seed.requests is not None else seed.tokens or 0)
        charges = [p.charge._replace(limit=math.inf, amount=amount) for p in planned
                   if p.template.measure == measure and (seed.model is None or p.template.model in (None, seed.model))]
        if not charges:
            continue
        admission = store.reserve(charges, now=at, ttl=3600.0)
        assert admission.reservation_id is not None
        store.settle(admission.reservation_id, {c.key: amount for c in charges}, now=at)


class UnreachableStore:
    """A store whose every call fails, as a crashed Redis would."""

    def reserve(self, charges: Sequence[Charge], *, now: float, ttl: float) -> Admission:
        raise StoreError("the state store is unreachable (test fixture)")

    def settle(self, reservation_id: str, actual: Mapping[str, float], *, now: float) -> None:
        raise StoreError("the state store is unreachable (test fixture)")

    def release(self, reservation_id: str, *, now: float) -> None:
        raise StoreError("the state store is unreachable (test fixture)")

    def usage(self, key_prefix: str = "", *, now: float) -> list[CounterUsage]:
        raise StoreError("the state store is unreachable (test fixture)")

    def reset(self, key_prefix: str) -> int:
        raise StoreError("the state store is unreachable (test fixture)")

    def close(self) -> None:
        pass
