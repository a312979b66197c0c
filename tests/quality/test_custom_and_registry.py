from __future__ import annotations

import pytest

from cascadepolicy.quality import CHECKS, Draft, build_check, check_params

MODULE = "tests.quality.fake_checks"


def test_custom_float_bool_and_check_result() -> None:
    check = build_check("custom", {"function": f"{MODULE}:mentions_units", "args": {"unit": "eggs"}})
    assert check(Draft("13 eggs", "q", None)).passed
    assert not check(Draft("13", "q", None)).passed
    full = build_check("custom", {"function": f"{MODULE}:full_result"})(Draft("x", "q", None))
    assert full.check == "custom" and full.score == 0.25 and full.detail == "custom verdict"


def test_custom_errors_fail_closed() -> None:
    crash = build_check("custom", {"function": f"{MODULE}:broken"})(Draft("x", "q", None))
    assert not crash.passed and "RuntimeError: boom" in crash.detail
    odd = build_check("custom", {"function": f"{MODULE}:wrong_type"})(Draft("x", "q", None))
    assert not odd.passed and "expected a float" in odd.detail


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("no_colon_here", "is not a `module:function` reference"),
        ("not_a_real_module_xyz:f", "module 'not_a_real_module_xyz' of 'not_a_real_module_xyz:f' cannot be found"),
        (f"{MODULE}:missing", "has no attribute 'missing'"),
        (f"{MODULE}:NOT_CALLABLE", "is not callable"),
    ],
)
def test_custom_resolution_errors(function: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_check("custom", {"function": function})


def test_unknown_kind_suggests() -> None:
    with pytest.raises(ValueError, match="unknown check 'arithmetc'; did you mean 'arithmetic'"):
        build_check("arithmetc", {})


def test_unknown_param_suggests() -> None:
    with pytest.raises(ValueError, match="check 'hedging': unknown key 'max_ration'.*did you mean 'max_ratio'"):
        build_check("hedging", {"max_ration": 0.2})


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("hedging", {"max_ratio": "high"}, "max_ratio must be a number"),
        ("regex", {"pattern": "a", "must_match": 1}, "must_match must be true or false"),
        ("length", {"min_words": 2.5}, "min_words must be a whole number"),
        ("hedging", {"phrases": "maybe"}, "phrases must be a list"),
        ("consistency", {"mode": "first"}, "expected one of last, any"),
        ("hedging", {"max_ratio": 2}, "it must be at most 1"),
    ],
)
def test_param_type_errors(kind: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_check(kind, params)


def test_every_kind_describes_its_params() -> None:
    for kind in CHECKS:
        described = check_params(kind)
        assert all({"type", "default", "required"} <= set(spec) for spec in described.values())
    assert check_params("regex")["pattern"]["required"] is True
    assert "judge" not in check_params("judge")  # the engine supplies it, the policy cannot
