from __future__ import annotations

import sys
import types

import pytest

from cascadepolicy.guardrails import moderation, toxicity
from cascadepolicy.guardrails.base import DetectorUnavailable


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("You are a worthless idiot.", "insult"),
        ("I will hurt you if you come back.", "threat"),
        ("What the f*ck is this sh1t", "profanity"),
        ("I want to kill myself tonight", "self_harm"),
    ],
)
def test_categories(text: str, category: str) -> None:
    verdict = toxicity.scan(text)
    assert verdict.fired and category in {f.kind for f in verdict.findings}


@pytest.mark.parametrize(
    "text",
    ["Scunthorpe is a town in England.", "The assessment is due on Monday.", "Classic rock is great."],
)
def test_word_boundaries_avoid_substring_hits(text: str) -> None:
    assert toxicity.scan(text).findings == ()


def test_mild_word_below_threshold_is_reported_not_fired() -> None:
    verdict = toxicity.scan("Damn, I missed the bus.")
    assert not verdict.fired and 0 < verdict.score < toxicity.DEFAULT_THRESHOLD


def test_ml_backend_missing_is_a_clear_error() -> None:
    try:
        import profanity_check  # noqa: F401
    except ImportError:
        with pytest.raises(DetectorUnavailable, match="alt-profanity-check"):
            toxicity.scan("hello", backend="ml")
    else:
        assert not toxicity.scan("have a nice day", backend="ml").fired


def test_moderation_offline_fallback_is_the_lexicon() -> None:
    assert moderation.scan("You are a worthless idiot.", None).fired
    assert not moderation.scan("Have a nice day.", None).fired


def _fake_litellm(monkeypatch: pytest.MonkeyPatch, result: object) -> list[dict[str, object]]:
    calls: list[dict[str, object]] = []

    def moderation_call(**kwargs: object) -> object:
        calls.append(kwargs)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setitem(sys.modules, "litellm", types.SimpleNamespace(moderation=moderation_call))
    return calls


def test_moderation_provider_maps_flagged_categories(monkeypatch: pytest.MonkeyPatch) -> None:
    response = {
        "results": [
            {
                "flagged": True,
                "categories": {"harassment": True, "violence": False},
                "category_scores": {"harassment": 0.91, "violence": 0.02},
            }
        ]
    }
    calls = _fake_litellm(monkeypatch, response)
    verdict = moderation.scan("some text", "omni-moderation-latest")
    assert calls == [{"input": "some text", "model": "omni-moderation-latest"}]
    assert verdict.fired and [f.kind for f in verdict.findings] == ["harassment"]
    assert verdict.score == pytest.approx(0.91)


def test_moderation_provider_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_litellm(monkeypatch, {"results": [{"categories": {"hate": False}, "category_scores": {"hate": 0.01}}]})
    assert not moderation.scan("hello", "omni-moderation-latest").fired


def test_moderation_provider_errors_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_litellm(monkeypatch, RuntimeError("provider down"))
    with pytest.raises(RuntimeError, match="provider down"):
        moderation.scan("hello", "omni-moderation-latest")


def test_moderation_empty_response_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_litellm(monkeypatch, {"results": []})
    with pytest.raises(ValueError, match="no results"):
        moderation.scan("hello", "omni-moderation-latest")


@pytest.mark.parametrize("text", [
    "The winner will be waiting 4 minutes before the loser finishes the race.",
    "The loser of the vote got 20 votes.",
    "What a stupid mistake I made in step two.",
    "This is a dumb question, but how do I reset my password?",
    "The plan was worthless after the market closed.",
])
def test_words_with_neutral_senses_do_not_fire_alone(text: str) -> None:
    assert not toxicity.scan(text).fired


@pytest.mark.parametrize("text", [
    "You are such a loser.",
    "you're so stupid",
    "You pathetic loser.",
    "what a loser",
    "they are a bunch of clowns",
])
def test_the_same_words_aimed_at_someone_fire(text: str) -> None:
    verdict = toxicity.scan(text)
    assert verdict.fired and verdict.findings[0].kind == "insult"
