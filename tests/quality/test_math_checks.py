from __future__ import annotations

import pytest

from cascadepolicy.quality import Draft, build_check
from cascadepolicy.quality.numbers import equations_in, parse_number


def draft(text: str, prompt: str = "") -> Draft:
    return Draft(text=text, prompt=prompt, logprobs=None)


@pytest.mark.parametrize(
    ("written", "value"),
    [("$1,200", 1200.0), ("30%", 0.3), ("-2.5", -2.5), (".5", 0.5), ("$ 18", 18.0), ("1,200.50", 1200.5)],
)
def test_parse_number_reads_what_people_write(written: str, value: float) -> None:
    assert parse_number(written) == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "She has 16 - 3 = 13 eggs left.",
        "3 * 4 + 2 = 14",
        "It costs $1,200 x 3 = $3,600.",
        "20% of 50 = 10",
        "15 ÷ 3 = 5 and 4 × 6 = 24",
        "He drives 3 hours * 60 mph = 180 miles.",
        "So 9 * $2 = $<<9*2=18>>18.",
        "12 + 3 = 15 + 2 = 17",
        "10/3 = 3.33",
        "14 = 3 * 4 + 2",
        "7 \\* (3 + 5) = 56",
    ],
)
def test_arithmetic_accepts_correct_equations(text: str) -> None:
    result = build_check("arithmetic", {})(draft(text))
    assert result.passed and not result.skipped and result.score == 1.0, result.detail


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("12 * 4 = 46", "12 * 4 = 46"),
        ("3 * 4 + 2 = 20", "3 * 4 + 2 = 20"),
        ("Total: $1,200 + $300 = $1,600", "$1,200 + $300 = $1,600"),
        ("80000 * 150% = 100000", "80000 * 150% = 100000"),
        ("10/3 = 3.5", "10 / 3 = 3.5"),
        ("She pays $<<7*(3+5)=63>>63.", "<<7*(3+5)=63>>"),
    ],
)
def test_arithmetic_catches_wrong_equations(text: str, shown: str) -> None:
    result = build_check("arithmetic", {})(draft(text))
    assert not result.passed and result.score == 0.0
    assert shown in result.detail


def test_arithmetic_scores_the_share_correct() -> None:
    result = build_check("arithmetic", {})(draft("2 + 2 = 4. Then 4 * 3 = 12. Then 12 - 5 = 8."))
    assert result.score == pytest.approx(2 / 3)
    assert result.detail.startswith("1 of 3 equations wrong: 12 - 5 = 8")


def test_arithmetic_min_share_and_tolerance() -> None:
    loose = build_check("arithmetic", {"min_share": 0.5})(draft("2 + 2 = 4. 4 * 3 = 13."))
    assert loose.passed and loose.score == 0.5
    assert build_check("arithmetic", {"tolerance": 0.01, "allow_rounding": False})(draft("100 / 3 = 33.3")).passed
    assert not build_check("arithmetic", {"allow_rounding": False})(draft("100 / 3 = 33.3")).passed


def test_arithmetic_skips_or_fails_without_equations() -> None:
    assert build_check("arithmetic", {})(draft("The answer is 42.")).skipped
    bare = build_check("arithmetic", {"min_equations": 1})(draft("The answer is 42."))
    assert not bare.passed and not bare.skipped


def test_unit_conversions_and_variables_are_not_claims() -> None:
    assert equations_in("1 hour = 60 minutes, and 4x = 20") == []


def test_answer_format() -> None:
    check = build_check("answer_format", {})
    assert check(draft("so 9 * 2 = 18\n#### 18")).passed
    assert check(draft("The final answer is $1,250.")).passed
    assert check(draft("\\boxed{7}")).passed
    missing = check(draft("She makes 18 dollars."))
    assert not missing.passed and missing.detail == "no final answer statement"
    assert not build_check("answer_format", {"integer": True})(draft("#### 27.80")).passed
    assert not build_check("answer_format", {"max_decimals": 1})(draft("#### 2.75")).passed
    custom = build_check("answer_format", {"answer_pattern": r"RESULT:\s*(\S+)"})
    assert custom(draft("RESULT: 5")).passed
    assert not custom(draft("RESULT: five")).passed


def test_answer_format_pattern_needs_a_group() -> None:
    with pytest.raises(ValueError, match="capture group"):
        build_check("answer_format", {"answer_pattern": "####"})


def test_consistency() -> None:
    check = build_check("consistency", {})
    assert check(draft("16 - 3 = 13 eggs, 13 * 2 = 26 dollars.\n#### 26")).passed
    bad = check(draft("16 - 3 = 13 eggs, 13 * 2 = 26 dollars.\n#### 13"))
    assert not bad.passed and "26" in bad.detail
    assert build_check("consistency", {"mode": "any"})(draft("16 - 3 = 13, 13 * 2 = 26.\n#### 13")).passed
    assert check(draft("#### 26")).skipped
    assert check(draft("no answer here")).skipped


def test_grounding() -> None:
    prompt = "Tom has 3 boxes of 12 pens and gives away five pens. How many are left?"
    good = build_check("grounding", {})(draft("3 * 12 = 36, 36 - 5 = 31\n#### 31", prompt))
    assert good.passed and good.score == 1.0
    partial = build_check("grounding", {"min_share": 1.0})(draft("3 * 12 = 36\n#### 36", prompt))
    assert not partial.passed and partial.score == pytest.approx(2 / 3) and "unused: 5" in partial.detail
    assert build_check("grounding", {})(draft("#### 1", "What is one plus nothing?")).skipped


def test_provenance() -> None:
    prompt = "Apples cost $2 each. Ann buys 7 apples."
    assert build_check("provenance", {})(draft("7 * $2 = $14. 14 + 0 = 14", prompt)).passed
    made_up = build_check("provenance", {})(draft("7 * $2.50 = $17.50", prompt))
    assert not made_up.passed and "2.5" in made_up.detail
    assert build_check("provenance", {"max_unsupported": 1})(draft("7 * $2.50 = $17.50", prompt)).passed


def test_equations_come_in_reading_order() -> None:
    # the prose claim comes before the annotated one, so "the last result" is the annotated sum
    text = "Joan is 20 + 5 = 25. In all 20 + 25 + 23 = <<20+25+23=68>>68."
    assert [eq.right for eq in equations_in(text)] == [25, 68, 68]
    assert build_check("provenance", {})(draft(text, "Jessa is 20, Joan is 5 years older, Mary is 23.")).passed


def test_a_result_written_as_a_percentage_is_not_an_arithmetic_error() -> None:
    check = build_check("arithmetic", {})
    assert check(draft("(6 / 12) * 100 = 50%")).passed
    assert not check(draft("(12 / 20) * 100 = 55%")).passed


def test_grounding_reads_percent_factors_halves_and_referring_counts() -> None:
    check = build_check("grounding", {"min_share": 1.0})
    less = "A house costs $76,000. Juan's is 30% less. What are the two houses worth combined?"
    assert check(draft("76000 * 0.7 = 53200. 76000 + 53200 = 129200\n#### 129200", less)).passed
    assert not check(draft("76000 + 53200 = 129200\n#### 129200", less)).passed
    half = "Kalinda adds 4 pieces a minute; her mom adds half as many. How many do they add in 10 minutes?"
    assert check(draft("4 / 2 = 2. (4 + 2) * 10 = 60\n#### 60", half)).passed
    missed = check(draft("4 * 10 = 40\n#### 40", half))
    assert not missed.passed and "0.5" in missed.detail
    # "the three girls" refers to people already counted; "3 girls" is a quantity to use
    assert check(draft("20 + 25 + 23 = 68\n#### 68", "Ann is 20, Bo 25, Cy 23. Sum the ages of the three girls.")).passed
    assert not check(draft("20 + 25 = 45\n#### 45", "Ann is 20, Bo 25. Each of 3 girls has them. Total?")).passed


def test_provenance_knows_percent_factors() -> None:
    prompt = "The bagel costs $4 and the soup 25% more."
    assert build_check("provenance", {})(draft("4 * 1.25 = 5", prompt)).passed
    assert not build_check("provenance", {})(draft("4 * 1.35 = 5.4", prompt)).passed


def test_exactness() -> None:
    check = build_check("exactness", {})
    assert check(draft("12 / 4 = 3 boxes\n#### 3")).passed
    rounded = check(draft("0.3 * 14 = 4.2 goats. She can't buy a fraction of a goat, so 5.\n#### 5"))
    assert not rounded.passed and rounded.score == 0.0 and "fraction of a" in rounded.detail
    assert not check(draft("200 / 3 ≈ 66.67, so 67 students.\n#### 67")).passed
    negative = check(draft("45 - 90 = -45 goats left.\n#### 45"))
    assert not negative.passed and "negative" in negative.detail
    assert build_check("exactness", {"allow_negative": True})(draft("5 - 8 = -3 degrees\n#### -3")).passed
    assert build_check("exactness", {"phrases": ["oops"]})(draft("rounded, 3 + 4 = 7")).passed
    with pytest.raises(ValueError, match="phrases is a list; it must be at least 1 item"):
        build_check("exactness", {"phrases": []})
