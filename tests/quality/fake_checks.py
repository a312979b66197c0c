"""Callables the `custom` check tests resolve by name."""

from __future__ import annotations

from cascadepolicy.quality import CheckResult, Draft


def mentions_units(draft: Draft, unit: str = "dollars") -> float:
    return 1.0 if unit in draft.text else 0.0


def full_result(draft: Draft) -> CheckResult:
    return CheckResult("", 0.25, False, detail="custom verdict")


def broken(draft: Draft) -> float:
    raise RuntimeError("boom")


def wrong_type(draft: Draft) -> str:
    return "yes"


NOT_CALLABLE = 3
