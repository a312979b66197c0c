"""Routing: the node that picks the request's target, after the input guardrails and before admission.

    request → input guardrails → ▶ route → admission → cascade → settle → Result

The plan's routes are tried in policy order; the first whose condition holds
(or the default route) names the target, or a block. A condition that cannot
be evaluated refuses the request (fail closed) unless its route says
`on_error: skip`. The decision's `RouteRecord` keeps the route taken, the
values its condition read and every route tried before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cascadepolicy.compile.plan import PlannedRoute
from cascadepolicy.errors import ConditionError
from cascadepolicy.runtime.decision import RouteRecord
from cascadepolicy.runtime.request import Request


def route(routes: Sequence[PlannedRoute], request: Request) -> PlannedRoute | str:
    """The route the request takes, or why none can be chosen."""
    decision = request.decision
    tried: list[dict[str, Any]] = []
    for planned in routes:
        decision.trace.append(planned.node)
        if planned.condition is None:
            decision.route = RouteRecord(planned.index, planned.name, "default", planned.record, planned.location, tried=tried)
            return planned
        try:
            matched = planned.condition.evaluate(request.values)
        except ConditionError as exc:
            tried.append({"index": planned.index, "condition": planned.condition.source, "error": str(exc)})
            if planned.on_error == "skip":
                continue
            decision.route = RouteRecord(planned.index, planned.name, "conditional", planned.record, planned.location,
                                         planned.condition.source, tried=tried)
            return f"route {planned.index + 1} ({planned.location}): {exc}"
        if matched:
            decision.route = RouteRecord(planned.index, planned.name, "conditional", planned.record, planned.location,
                                         planned.condition.source, planned.condition.trace(request.values), tried)
            return planned
        tried.append({"index": planned.index, "condition": planned.condition.source, "matched": False,
                      "values": planned.condition.trace(request.values)})
    return "no route matched"  # unreachable: validation requires a default route
