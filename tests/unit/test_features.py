"""Built-in request features: tokens, domain and complexity, and policy overrides."""

from __future__ import annotations

import pytest

from cascadepolicy.language.model import Features
from cascadepolicy.runtime.features import Detectors, RequestValues, count_prompt_tokens


@pytest.mark.parametrize(("text", "domain"), [
    ("Fix this Python function, it raises an exception on import", "code"),
    ("Solve the equation and calculate the total", "math"),
    ("Can my landlord sue me over the lease contract?", "legal"),
    ("What is the capital of France?", "general"),  # "capital" must not read as "api"
])
def test_domain_detector(text: str, domain: str) -> None:
    assert Detectors(Features()).domain(text) == domain


def test_policy_word_lists_replace_and_add_domains() -> None:
    detectors = Detectors(Features(domains={"travel": ("flight", "hotel"), "math": ("sudoku",)}))
    assert detectors.domain("Book a flight and a hotel") == "travel"
    assert detectors.domain("Solve this sudoku") == "math"
    assert detectors.domain("Solve the equation") != "math"  # the built-in math list was replaced


@pytest.mark.parametrize(("text", "level"), [
    ("hi", "trivial"),
    ("What is a mortgage?", "simple"),
    ("Prove that the square root of two is irrational", "expert"),
    ("Compare these two designs and explain why one scales better", "hard"),
])
def test_complexity_detector(text: str, level: str) -> None:
    assert Detectors(Features()).complexity_of(text) == level


def test_prompt_tokens_match_litellms_default_counter() -> None:
    from cascadepolicy.providers.calls import litellm_module

    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name three primes, please."}]
    assert count_prompt_tokens(messages) == litellm_module().token_counter(messages=messages)


def test_request_values_are_flat_and_lazy() -> None:
    values = RequestValues([{"role": "user", "content": "hello"}], Detectors(Features()), user="u1", tier="pro",
                           context={"user": {"plan": "team"}}, metadata={"feature": "chat"})
    assert values["user.plan"] == "team" and values["metadata.feature"] == "chat" and values["user.tier"] == "pro"
    assert "request.tokens" not in values.given  # computed only when a condition reads it
    assert values["request.tokens"] > 0 and "request.tokens" in values.given


def test_keyword_index_matches_stems_whole_words_phrases_and_symbols() -> None:
    from cascadepolicy.runtime.features import KeywordIndex

    index = KeywordIndex({"a": ("diagnos", "api", "stack trace", "def "), "b": ("+", "api", "how many")})
    counts = index.counts("diagnosis via the api: a stack trace in def main, capital + 2 + 3; how many?")
    # "diagnosis" (stem), "api" (whole word; not inside "capital"), "stack trace" (phrase), "def" (whole)
    assert counts == {"a": 4, "b": 4}  # b: "api", two "+" and "how many"
    assert index.counts("definitely diagnostic apis") == {"a": 1}  # "def " and "api" are whole words only
    assert index.counts("diagnose diagnosis") == {"a": 2}  # once per word


def test_keyword_index_counts_a_word_once_per_list() -> None:
    from cascadepolicy.runtime.features import KeywordIndex

    index = KeywordIndex({"code": ("refactor", "refactoring")})
    assert index.counts("refactoring") == {"code": 1}
