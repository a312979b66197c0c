from __future__ import annotations

import pytest

from cascadepolicy.guardrails import grounding, injection, pii, registry
from cascadepolicy.loading import callables

SOURCES = [
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    "It is 330 metres tall and was designed by the company of Gustave Eiffel.",
]


def test_supported_answer_passes() -> None:
    answer = "The Eiffel Tower was completed in 1889. It is 330 metres tall."
    verdict = grounding.scan(answer, SOURCES)
    assert not verdict.fired and verdict.findings == ()


def test_unsupported_number_and_claim_fire_with_spans() -> None:
    answer = "The Eiffel Tower was completed in 1901. It was painted gold by Napoleon."
    verdict = grounding.scan(answer, SOURCES)
    assert verdict.fired
    assert [answer[f.start : f.end] for f in verdict.findings] == [
        "The Eiffel Tower was completed in 1901.",
        "It was painted gold by Napoleon.",
    ]


def test_threshold_sets_the_tolerated_share() -> None:
    answer = "The Eiffel Tower was completed in 1889. It was painted gold by Napoleon."
    assert grounding.scan(answer, SOURCES, threshold=0.5).fired is False  # 1 of 2 unsupported
    assert grounding.scan(answer, SOURCES, threshold=0.9).fired is True


def test_grounding_needs_sources() -> None:
    with pytest.raises(ValueError, match="at least one source"):
        grounding.scan("anything", [])


def test_registry_names() -> None:
    assert set(registry.CHECKS) == {"pii", "prompt_injection", "toxicity", "moderation", "grounding"}
    assert registry.CHECKS["pii"] is pii.scan
    assert registry.CHECKS["prompt_injection"] is injection.scan


class CallableCheck:
    def __call__(self, text: str) -> bool:
        return "x" in text


NOT_CALLABLE = 42


def test_load_custom_module_function_and_class() -> None:
    assert callables.resolve("cascadepolicy.guardrails.pii:scan", entry_points=True) is pii.scan
    check = callables.resolve(f"{__name__}:CallableCheck", entry_points=True)
    assert check("xyz") is True


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no_such_module_zz:check", "cannot be found"),
        ("cascadepolicy.guardrails.pii:nope", "has no attribute 'nope'"),
        (f"{__name__}:NOT_CALLABLE", "not callable"),
        ("module_without_function:", "must be written"),
        ("no-such-entry-point", "entry point"),
    ],
)
def test_load_custom_errors(ref: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        callables.resolve(ref, entry_points=True)
