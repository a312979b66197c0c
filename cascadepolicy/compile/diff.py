"""`cascadepolicy diff OLD NEW`: what a policy change does to behaviour.

Both files go through the full loader, so the comparison is between the
validated models, not text: models, tiers, limits, guardrails, validators,
cascades and routes are matched by id (routes by name, else by position) and
reported as added, removed or changed, each field change with the line it
stands on. For routing, every combination of the values that the route
conditions of either policy can distinguish (enum and boolean fields, tiers,
the numbers and strings the conditions compare against, and absence) is run
through the routes of both policies' plans (`compile.plan`, what the engine
walks); requests whose target differs are shown as concrete examples.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cascadepolicy.compile.plan import Plan, compile_plan
from cascadepolicy.errors import ConditionError
from cascadepolicy.language.model import DefaultRoute, Target

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy

MAX_COMBINATIONS = 50_000
MAX_EXAMPLES = 5
_ABSENT = "<absent>"


@dataclass
class Change:
    section: str
    kind: str  # added | removed | changed
    name: str
    old: str | None  # file:line:col in the old policy
    new: str | None  # file:line:col in the new policy
    details: list[str] = field(default_factory=list)


@dataclass
class RouteExample:
    values: dict[str, Any]
    old: str
    new: str


@dataclass
class DiffReport:
    old_file: str
    new_file: str
    changes: list[Change]
    examples: list[RouteExample]
    combinations: int
    truncated: bool = False

    @property
    def empty(self) -> bool:
        return not self.changes and not self.examples

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diff_policies(old: Policy, new: Policy) -> DiffReport:
    changes: list[Change] = []
    a, b = old.spec, new.spec
    for section in ("models", "tiers", "validators", "cascades"):
        changes += _compare_maps(section, old, new, getattr(a, section), getattr(b, section))
    changes += _compare_lists("limits", old, new, a.limits, b.limits, lambda x, i: x.id)
    changes += _compare_lists("guardrails", old, new, a.guardrails, b.guardrails, lambda x, i: x.id)
    changes += _compare_lists("routes", old, new, a.routes, b.routes, lambda x, i: x.name or f"#{i}")
    old_order = [r.name for r in a.routes if r.name]
    new_order = [r.name for r in b.routes if r.name and r.name in old_order]
    if [n for n in old_order if n in new_order] != new_order:
        changes.append(Change("routes", "changed", "order", _loc(old, ("routes",)), _loc(new, ("routes",)),
                              [f"routes are tried in a new order: {' → '.join(new_order)} (was {' → '.join(n for n in old_order if n in new_order)})"]))
    for key in ("default_tier", "store", "context", "features", "audit"):
        before, after = _plain(getattr(a, key)), _plain(getattr(b, key))
        if before != after:
            changes.append(Change(key, "changed", key, _loc(old, (key,)), _loc(new, (key,)),
                                  _field_changes(before, after, new, (key,))))
    examples, combinations, truncated = _route_examples(old, new)
    return DiffReport(old.file, new.file, changes, examples, combinations, truncated)


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump(by_alias=True))
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _loc(policy: Policy, path: tuple[str | int, ...]) -> str | None:
    where = policy.location(path)
    return str(where) if where else None


def _compare_maps(section: str, old: Policy, new: Policy, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    out = []
    for name in a:
        if name not in b:
            out.append(Change(section, "removed", name, _loc(old, (section, name)), None))
    for name in b:
        if name not in a:
            out.append(Change(section, "added", name, None, _loc(new, (section, name))))
        elif _plain(a[name]) != _plain(b[name]):
            out.append(Change(section, "changed", name, _loc(old, (section, name)), _loc(new, (section, name)),
                              _field_changes(_plain(a[name]), _plain(b[name]), new, (section, name))))
    return out


def _compare_lists(section: str, old: Policy, new: Policy, a: tuple[Any, ...], b: tuple[Any, ...], key: Any) -> list[Change]:
    left = {key(x, i): (i, x) for i, x in enumerate(a)}
    right = {key(x, i): (i, x) for i, x in enumerate(b)}
    out = []
    for name, (i, _) in left.items():
        if name not in right:
            out.append(Change(section, "removed", name, _loc(old, (section, i)), None))
    for name, (j, x) in right.items():
        if name not in left:
            out.append(Change(section, "added", name, None, _loc(new, (section, j)), [_describe(x)]))
            continue
        i, y = left[name]
        if _plain(x) != _plain(y):
            out.append(Change(section, "changed", name, _loc(old, (section, i)), _loc(new, (section, j)),
                              _field_changes(_plain(y), _plain(x), new, (section, j))))
    return out


def _describe(element: Any) -> str:
    if isinstance(element, DefaultRoute):
        return f"default → {_target(element.default)}"
    if isinstance(element, Target) and hasattr(element, "when"):
        return f"when `{element.when}` → {_target(element)}"
    data = {k: v for k, v in _plain(element).items() if v not in (None, [], {}, ())}
    return ", ".join(f"{k}: {v}" for k, v in data.items())


def _field_changes(before: Any, after: Any, new: Policy, base: tuple[str | int, ...]) -> list[str]:
    out = []
    for path, (x, y) in _flat_diff(before, after, ()):
        name = ".".join(str(p) for p in path) or "value"
        where = _loc(new, (*base, *path)) if y is not _ABSENT else None
        if x is _ABSENT:
            text = f"{name}: added {y!r}"
        elif y is _ABSENT:
            text = f"{name}: removed (was {x!r})"
        else:
            text = f"{name}: {x!r} → {y!r}"
        out.append(f"{text}" + (f"  ({where})" if where else ""))
    return out


def _flat_diff(x: Any, y: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], tuple[Any, Any]]]:
    if isinstance(x, dict) and isinstance(y, dict):
        for key in dict.fromkeys([*x, *y]):
            yield from _flat_diff(x.get(key, _ABSENT), y.get(key, _ABSENT), (*path, key))
    elif isinstance(x, list) and isinstance(y, list) and all(isinstance(v, dict) for v in (*x, *y)):
        for i in range(max(len(x), len(y))):
            yield from _flat_diff(x[i] if i < len(x) else _ABSENT, y[i] if i < len(y) else _ABSENT, (*path, i))
    elif x != y:
        yield path, (x, y)


# ---------------------------------------------------------------- routing examples

def _target(target: Target) -> str:
    if target.cascade:
        return f"cascade {target.cascade}"
    if target.model:
        return f"model {target.model}"
    return f"block {target.block!r}"


def select_route(plan: Plan, values: Mapping[str, Any]) -> str:
    """The route and target `values` would take, walking the plan's routes as the engine does."""
    for route in plan.routes:
        label = route.name or f"#{route.index}"
        target = f"{route.target.kind} {route.target.id}" if route.target is not None else f"block {route.block!r}"
        if route.condition is None:
            return f"{label} → {target}"
        try:
            matched = route.condition.evaluate(values)
        except ConditionError:
            if route.on_error == "skip":
                continue
            return f"{label} → refused (the condition cannot be evaluated)"
        if matched:
            return f"{label} → {target}"
    return "no route"


def _candidates(name: str, policies: tuple[Policy, ...]) -> list[Any]:
    values: list[Any] = []
    for policy in policies:
        ftype = policy.fields.get(name)
        if name == "user.tier":
            values += list(policy.spec.tiers)
        elif ftype is not None and ftype.enum:
            values += list(ftype.enum)
        elif ftype is not None and ftype.type == "boolean":
            values += [True, False]
        values += _constants(name, policy)
    if not values:
        values = ["x"]
    out = list(dict.fromkeys(v for v in values if not isinstance(v, bool)) ) + [v for v in (True, False) if v in values]
    if not name.startswith("request."):
        out.append(_ABSENT)  # context and metadata fields may be missing from a request
    return out


def _constants(name: str, policy: Policy) -> list[Any]:
    """Numbers and strings the conditions compare `name` with (numbers also ±1)."""
    out: list[Any] = []
    for condition in policy.conditions.values():
        if name not in condition.names:
            continue
        for node in ast.walk(ast.parse(condition.source, mode="eval")):
            if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
                if isinstance(node.value, int | float):
                    out += [node.value - 1, node.value, node.value + 1]
                elif isinstance(node.value, str):
                    out.append(node.value)
    numeric = [v for v in out if isinstance(v, int | float)]
    ftype = policy.fields.get(name)
    if ftype is not None and ftype.type in ("integer", "number"):
        return sorted(set(numeric))
    return list(dict.fromkeys(v for v in out if isinstance(v, str)))


def _route_examples(old: Policy, new: Policy) -> tuple[list[RouteExample], int, bool]:
    names = sorted({n for p in (old, new) for c in p.conditions.values() for n in c.names})
    pools = [_candidates(n, (old, new)) for n in names]
    plans = compile_plan(old), compile_plan(new)
    examples: list[RouteExample] = []
    seen: set[tuple[str, str]] = set()
    count = 0
    truncated = False
    for combo in itertools.product(*pools):
        if count >= MAX_COMBINATIONS:
            truncated = True
            break
        count += 1
        values = {n: v for n, v in zip(names, combo, strict=True) if v is not _ABSENT}
        before, after = select_route(plans[0], values), select_route(plans[1], values)
        if _target_of(before) != _target_of(after) and (before, after) not in seen:
            seen.add((before, after))
            examples.append(RouteExample(values, before, after))
            if len(examples) >= MAX_EXAMPLES:
                break
    return examples, count, truncated


def _target_of(selection: str) -> str:
    return selection.split(" → ", 1)[-1]


# ---------------------------------------------------------------- text

def format_diff(report: DiffReport) -> str:
    lines = [f"--- {report.old_file}", f"+++ {report.new_file}"]
    if report.empty:
        lines.append("no behaviour change")
        return "\n".join(lines) + "\n"
    marks = {"added": "+", "removed": "-", "changed": "~"}
    for change in report.changes:
        where = change.new if change.kind != "removed" else change.old
        lines.append(f"{marks[change.kind]} {change.section} {change.name} {change.kind}" + (f"  ({where})" if where else ""))
        for detail in change.details:
            lines.append(f"    {detail}")
    if report.examples:
        lines.append("requests routed differently:")
        for example in report.examples:
            shown = ", ".join(f"{k}={v!r}" for k, v in example.values.items()) or "(any request)"
            lines.append(f"  {shown}")
            lines.append(f"    old: {example.old}")
            lines.append(f"    new: {example.new}")
    elif any(c.section == "routes" for c in report.changes):
        lines.append(f"routing: no request differs among {report.combinations} combination(s) of the values the conditions read"
                     + (" (search truncated)" if report.truncated else ""))
    return "\n".join(lines) + "\n"
