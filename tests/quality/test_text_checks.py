from __future__ import annotations

import pytest

from cascadepolicy.quality import Draft, build_check


def draft(text: str) -> Draft:
    return Draft(text=text, prompt="q", logprobs=None)


def test_regex_must_and_must_not_match() -> None:
    must = build_check("regex", {"pattern": r"####\s*\d+"})
    assert must(draft("#### 18")).passed
    assert not must(draft("18")).passed
    forbid = build_check("regex", {"pattern": "lorem", "must_match": False, "flags": ["ignore_case"]})
    result = forbid(draft("LOREM ipsum"))
    assert not result.passed and "LOREM" in result.detail
    assert forbid(draft("fine")).passed


def test_regex_rejects_bad_pattern_and_flag() -> None:
    with pytest.raises(ValueError, match="not a valid regular expression"):
        build_check("regex", {"pattern": "("})
    with pytest.raises(ValueError, match="flags\\[0\\] is the text 'ignorecase'.*did you mean 'ignore_case'"):
        build_check("regex", {"pattern": "a", "flags": ["ignorecase"]})


def test_length() -> None:
    check = build_check("length", {"min_words": 3, "max_chars": 20})
    assert check(draft("one two three")).passed
    short = check(draft("one two"))
    assert not short.passed and "fewer than 3" in short.detail
    assert not check(draft("one two three four five six")).passed
    with pytest.raises(ValueError, match="at least one"):
        build_check("length", {})
    with pytest.raises(ValueError, match="larger than"):
        build_check("length", {"min_chars": 10, "max_chars": 5})


def test_hedging_ratio_per_sentence() -> None:
    check = build_check("hedging", {"max_ratio": 0.3})
    confident = check(draft("The total is 12. She pays 5 dollars. So 7 remain."))
    assert confident.passed and confident.score == 1.0
    hedgy = check(draft("I think the total is 12. Maybe she pays 5. So 7 remain."))
    assert not hedgy.passed and hedgy.score == pytest.approx(1 / 3)
    assert "2 of 3 sentences hedge" in hedgy.detail


def test_hedging_phrases_replace_the_default() -> None:
    check = build_check("hedging", {"phrases": ["allegedly"], "max_ratio": 0.0})
    assert check(draft("I think it is 12.")).passed
    assert not check(draft("It is allegedly 12.")).passed
    with pytest.raises(ValueError, match="at least 1 item"):
        build_check("hedging", {"phrases": []})


def test_refusal() -> None:
    check = build_check("refusal", {})
    assert not check(draft("I'm sorry, but I can't help with that request.")).passed
    assert not check(draft("As an AI, I cannot provide medical advice.")).passed
    assert check(draft("Sure: 3 + 4 = 7.")).passed
    custom = build_check("refusal", {"phrases": ["no comment"]})
    assert not custom(draft("No comment.")).passed
    assert custom(draft("I can't help with that")).passed


def test_coherence_flags_repetition_truncation_and_contradiction() -> None:
    check = build_check("coherence", {})
    assert check(draft("She has 13 eggs left. She sells them for $2 each, so she makes $26.")).passed
    looping = check(draft("the answer is ten and " * 30))
    assert not looping.passed and "repeat" in looping.detail
    cut = check(draft("First she buys 3 apples, and then she"))
    assert not cut.passed and cut.score == 0.0 and "mid-sentence" in cut.detail
    assert not check(draft("The total is 13 + <<13*2=")).passed
    contra = check(draft("The store is open on Sundays. The store is not open on Sundays."))
    assert not contra.passed and "contradicts itself" in contra.detail
    relaxed = build_check("coherence", {"check_contradiction": False, "check_truncation": False})
    assert relaxed(draft("The store is open on Sundays. The store is not open on Sundays, and")).passed


def test_json_with_schema_and_fenced_block() -> None:
    schema = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "number"}}}
    check = build_check("json", {"schema": schema})
    assert check(draft('Here you go:\n```json\n{"answer": 4}\n```')).passed
    wrong = check(draft('{"answer": "four"}'))
    assert not wrong.passed and "$.answer" in wrong.detail
    missing = check(draft("{}"))
    assert not missing.passed and "'answer' is a required property" in missing.detail
    broken = build_check("json", {})(draft('{"answer": 4'))
    assert not broken.passed and broken.detail.startswith("not valid JSON")


def test_json_rejects_invalid_schema_at_build_time() -> None:
    with pytest.raises(ValueError, match="the JSON Schema is not valid at \\$.type"):
        build_check("json", {"schema": {"type": "nonsense"}})
