"""Durations and limits are range-checked at validate time, so no store overflows at run time.

`per: 99999999999999999999w` used to validate and then make every request on
SQLite raise OverflowError (a window of 6e25 seconds does not fit its
columns). Now every duration is at most ten years and every count, dollar
amount and price has a maximum; a policy at the maxima runs on each store.
"""

from __future__ import annotations

import pytest

import cascadepolicy
from cascadepolicy.language.model import (
    MAX_COUNT,
    MAX_DURATION_SECONDS,
    MAX_PRICE_PER_MILLION,
    MAX_USD,
    MAX_WEIGHT,
)
from cascadepolicy.loading.loader import check_text
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.state import Store

from .specs import StoreSpec

POLICY = """\
version: 1
name: maxima
models:
  small: {model: gpt-4o-mini, max_tokens: 50, timeout: TIMEOUT, pricing: {input_per_million: PRICE, output_per_million: 1}}
store: {kind: memory, reservation_ttl: TTL}
default_tier: free
tiers:
  free:
    rate: [{requests: REQUESTS, per: WINDOW}, {tokens: TOKENS, per: 315360000000ms}]
    budget: {usd: USD, per: PERIOD}
guardrails:
  - {id: pii, stage: input, check: pii, action: block, timeout: TIMEOUT}
validators:
  v: [{check: length, max_chars: CHARS, weight: WEIGHT}]
cascades:
  main: [{model: small, accept: {validators: v, min_score: 0.5}}]
routes:
  - default: {cascade: main}
"""
TEN_YEARS = f"{MAX_DURATION_SECONDS // 86_400}d"
MAXIMA = {"TIMEOUT": TEN_YEARS, "TTL": TEN_YEARS, "WINDOW": TEN_YEARS, "PERIOD": TEN_YEARS, "REQUESTS": str(MAX_COUNT),
          "TOKENS": str(MAX_COUNT), "USD": str(MAX_USD), "PRICE": str(MAX_PRICE_PER_MILLION), "CHARS": str(MAX_COUNT),
          "WEIGHT": str(MAX_WEIGHT)}


def policy_text(**changes: str) -> str:
    text = POLICY
    for name, value in {**MAXIMA, **changes}.items():
        text = text.replace(name, value)
    return text


def errors(text: str) -> list[tuple[str, int]]:
    return [(d.code, d.location.line if d.location else 0) for d in check_text(text, "maxima.yaml").diagnostics if d.is_error]


def test_the_maxima_validate() -> None:
    assert errors(policy_text()) == []


@pytest.mark.parametrize(("name", "value", "code", "line"), [
    ("WINDOW", "99999999999999999999w", "schema-duration", 9),
    ("WINDOW", "3651d", "schema-duration", 9),
    ("WINDOW", "522w", "schema-duration", 9),
    ("PERIOD", "87601h", "schema-duration", 10),
    ("TTL", "315360001s", "schema-duration", 5),
    ("TIMEOUT", "9999999999999999999999999s", "schema-duration", 4),
    ("REQUESTS", str(MAX_COUNT + 1), "schema-range", 9),
    ("TOKENS", "1" + "0" * 400, "schema-range", 9),
    ("USD", str(MAX_USD * 10), "schema-range", 10),
    ("USD", ".inf", "schema-range", 10),
    ("USD", ".nan", "schema-range", 10),
    ("PRICE", "1e300", "schema-range", 4),
    ("CHARS", str(MAX_COUNT + 1), "schema-range", 14),
    ("WEIGHT", ".inf", "schema-range", 14),
])
def test_a_value_over_its_maximum_is_an_error_where_it_is_written(name: str, value: str, code: str, line: int) -> None:
    assert (code, line) in errors(policy_text(**{name: value}))


def test_a_policy_at_the_maxima_runs_on_every_store(store_spec: StoreSpec, store: Store) -> None:
    engine = cascadepolicy.loads(policy_text(), "maxima.yaml").engine(store=store, transport=MockTransport({"small": "a short answer"}))
    for _ in range(3):
        result = engine.complete([{"role": "user", "content": "hello there"}], user="u1")
        assert not result.blocked and result.decision.admission is not None and result.decision.admission.admitted
    # A reopened store (SQLite, Redis) reads the counters back: the stored limits and windows fit.
    reopened = store_spec.open() if store_spec.shared else store
    try:
        rows = reopened.usage("maxima|", now=engine.clock())
        assert {row.limit for row in rows} >= {float(MAX_COUNT), float(MAX_USD)}
        assert {row.window for row in rows} >= {float(MAX_DURATION_SECONDS)}
    finally:
        if reopened is not store:
            reopened.close()
