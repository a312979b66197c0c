"""Expectations of a test case checked against a `Result` and its decision record.

Each check returns failure sentences ("expected ..., got ...") rather than
raising, so one case reports every expectation it misses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cascadepolicy.runtime.engine import Result
from cascadepolicy.testing.model import Expect, Matcher, Range

_MISSING = object()


def check_expectations(expect: Expect, result: Result) -> list[str]:
    d = result.decision
    failures: list[str] = []

    def same(what: str, expected: Any, got: Any) -> None:
        if expected is not None and expected != got:
            failures.append(f"{what}: expected {expected!r}, got {got!r}")

    def contains(what: str, expected: str | None, got: str | None) -> None:
        if expected is not None and (got is None or expected.lower() not in got.lower()):
            failures.append(f"{what}: expected text containing {expected!r}, got {got!r}")

    same("outcome", expect.outcome, d.outcome)
    if expect.route is not None:
        route = d.route
        got = None if route is None else (route.index if isinstance(expect.route, int) else route.name)
        same("route", expect.route, got)
    same("route_kind", expect.route_kind, d.route.kind if d.route else None)
    if expect.models is not None:
        same("models called", list(expect.models), d.models_called)
    same("final model", expect.final_model, d.final_model_id)
    same("blocked", expect.blocked, result.blocked)
    contains("reason", expect.reason, d.reason)
    contains("content", expect.content, result.content)
    if expect.redacted is not None:
        kinds = sorted({f["kind"] for g in d.guardrails if g.action == "redacted" for f in g.findings})
        same("redacted entity kinds", sorted(set(expect.redacted)), kinds)
    for rule_id, action in expect.guardrails.items():
        actions = [g.action for g in d.guardrails if g.id == rule_id]
        if action not in actions:
            failures.append(f"guardrail {rule_id!r}: expected action {action!r}, got {actions or 'no verdict'}")
    contains("escalation reason", expect.escalation, d.escalation_reason)
    warnings = d.admission.warnings if d.admission else []
    for text in expect.warnings:
        if not any(text.lower() in w.lower() for w in warnings):
            failures.append(f"warnings: expected one containing {text!r}, got {warnings}")
    contains("refused by", expect.refused_by, d.admission.refused_by if d.admission else None)
    _range(failures, "cost", expect.cost, d.cost)
    _range(failures, "retry_after", expect.retry_after, d.retry_after)
    if expect.decision:
        record = d.to_dict()
        for path, expected in expect.decision.items():
            failures += _check_path(record, path, expected)
    return failures


def _range(failures: list[str], what: str, bounds: Range | None, got: float | None) -> None:
    if bounds is None:
        return
    if got is None:
        failures.append(f"{what}: expected a number, got None")
        return
    if bounds.min is not None and got < bounds.min:
        failures.append(f"{what}: expected at least {bounds.min:g}, got {got:g}")
    if bounds.max is not None and got > bounds.max:
        failures.append(f"{what}: expected at most {bounds.max:g}, got {got:g}")


def lookup(record: Any, path: str) -> Any:
    """A decision field by dotted path (`admission.limits.0.status`); `_MISSING` when absent."""
    value = record
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _check_path(record: Mapping[str, Any], path: str, expected: Any) -> list[str]:
    got = lookup(record, path)
    where = f"decision.{path}"
    if isinstance(expected, dict) and expected and set(expected) <= set(Matcher.model_fields):
        matcher = Matcher.model_validate(expected, strict=False)
        return _match(where, matcher, got)
    if got is _MISSING:
        return [f"{where}: no such field in the decision record"]
    if _normal(got) != _normal(expected):
        return [f"{where}: expected {expected!r}, got {got!r}"]
    return []


def _match(where: str, m: Matcher, got: Any) -> list[str]:
    out: list[str] = []
    present = got is not _MISSING and got is not None
    if m.present is not None and m.present != present:
        out.append(f"{where}: expected {'a value' if m.present else 'no value'}, got {None if got is _MISSING else got!r}")
    if not present:
        if m.present is None:
            out.append(f"{where}: expected a value, got none")
        return out
    if m.equals is not None and _normal(got) != _normal(m.equals):
        out.append(f"{where}: expected {m.equals!r}, got {got!r}")
    if m.contains is not None:
        items = [str(x) for x in got] if isinstance(got, list) else [str(got)]
        if not any(m.contains.lower() in item.lower() for item in items):
            out.append(f"{where}: expected text containing {m.contains!r}, got {got!r}")
    if m.min is not None or m.max is not None:
        if not isinstance(got, int | float) or isinstance(got, bool):
            out.append(f"{where}: expected a number, got {got!r}")
        else:
            _range(out, where, Range(min=m.min, max=m.max), float(got))
    if m.length is not None and (not hasattr(got, "__len__") or len(got) != m.length):
        out.append(f"{where}: expected length {m.length}, got {got!r}")
    return out


def _normal(value: Any) -> Any:
    # Suites hold lists as tuples and numbers as int or float; compare by value.
    if isinstance(value, tuple | list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value
