"""Shadow policies: a candidate policy's decision path run beside the live one, never calling a model.

    request ─▶ live walk (guardrails → route → admission → cascade → settle) ─▶ ▶ shadow: the candidate's
               request checks → input guardrails → route → admission (its own store) ─▶ decision.shadow → log

`policy.engine(shadow=candidate)` (a loaded `Policy`, or a `Shadow` for a
store of your choice) builds a second engine from the candidate with its own
store (a `MemoryStore` by default), no decision log, no warning callback, and
the live engine's clock, transport and offline setting. Each live request
starts a candidate request from the caller's own arguments (the messages as
given, before the live redaction); once the live walk has ended, the
candidate's `_decide` runs on it (`observe`): its request checks, input
guardrails, route and admission. Its store calls go to the shadow store,
never through the live driver; a model call (`Send`, a judge) is refused
inside the candidate's walk; blocking guardrail code (custom functions, a
moderation provider) is passed up to the live driver, which runs it under its
timeout as for a live rule. Nothing the shadow does raises into the live
request: a failure is recorded (`outcome: error`).

Admission is a dry run in the shadow namespace: the candidate reserves its
worst case there, then the reservation is settled at what the *live* request
actually spent (released when it spent nothing), so the candidate's windows
and budgets count the real traffic and its spend, as if it had routed the
same way, and refusals show up about when they would have. The candidate's
worst case is reported on its own (`worst_case_usd`).

The comparison lands on the live decision as `decision.shadow` (see
`docs/observability.md`), and each request whose shadow differs is passed to
`Shadow.on_difference`, a callable taking the shadow record: by default it
adds one to the OpenTelemetry counter `cascadepolicy.shadow.differences` of
the global meter provider once the application has imported OpenTelemetry
(nothing is imported otherwise); `differences_counter(meter_provider)` counts
through an explicit provider. `cascadepolicy replay CANDIDATE DECISIONS.jsonl` runs the same
evaluation over a decision log (`runtime.shadow_replay`).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cascadepolicy.compile.plan import Plan, PlannedStep, PlannedTarget, documents_tokens
from cascadepolicy.compile.worst_case import Usage
from cascadepolicy.effects import Blocking, StoreCall, relay
from cascadepolicy.errors import ProviderBadRequest, RequestError
from cascadepolicy.runtime.decision import Decision, RouteRecord
from cascadepolicy.runtime.features import text_tokens
from cascadepolicy.runtime.request import Request, check_params
from cascadepolicy.runtime.results import Result
from cascadepolicy.state.base import Store

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy
    from cascadepolicy.runtime.engine import Engine

# What a shadow record compares, in the order `differs` lists them.
COMPARED = ("route", "outcome", "reason", "models", "worst_case_usd")
_USD_TOLERANCE = 1e-9


class Shadow:
    """A candidate policy evaluated beside a live engine. `store`: where its admission counts (a fresh
    `MemoryStore` when None; it is called through its blocking interface, inline, so keep it local).
    `on_difference`: called with the shadow record of every request whose shadow differs."""

    def __init__(self, candidate: Policy, *, store: Store | None = None,
                 on_difference: Callable[[dict[str, Any]], None] | None = None) -> None:
        from cascadepolicy.state import MemoryStore

        self.candidate = _candidate(candidate)
        self.store: Store = store if store is not None else MemoryStore()
        self.on_difference = on_difference if on_difference is not None else DifferencesCounter()
        self.engine: Engine | None = None

    def bind(self, live: Engine) -> Shadow:
        """Build the candidate's engine beside `live`: its clock, transport and offline setting, the shadow's store."""
        return self.build(clock=live.clock, transport=live.transport, offline=live.offline)

    def build(self, *, clock: Callable[[], float], transport: Any, offline: bool) -> Shadow:
        """Build the candidate's engine (once): the shadow's store, no decision log, no warning callback. Its
        requests are made by `request`, not the engine's API, so they start no span and send no alert."""
        if self.engine is None:
            self.engine = self.candidate.engine(store=self.store, decision_log=None, clock=clock, transport=transport,
                                                offline=offline)
        return self

    @property
    def info(self) -> dict[str, Any]:
        spec = self.candidate.spec
        return {"name": spec.name, "version": spec.version, "hash": self.candidate.content_hash}

    # ------------------------------------------------------------ beside a live engine

    def start(self, live: Engine, messages: Sequence[Mapping[str, Any]], *, user: str | None, tier: str | None,
              context: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None, stream: bool,
              model: str | None, params: Mapping[str, Any] | None) -> Pending:
        """The candidate's request, from the caller's arguments as given (before any live redaction)."""
        try:
            return Pending(self, live, self.request(messages, user=user, tier=tier, context=context, metadata=metadata,
                                                    stream=stream, model=model, params=params, transport=live.transport))
        except RequestError as exc:
            return Pending(self, live, None, refusal=f"the request is refused: {exc}")
        except Exception as exc:
            return Pending(self, live, None, error=_error(exc))

    def request(self, messages: Sequence[Mapping[str, Any]], *, user: str | None, tier: str | None,
                context: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None, stream: bool = False,
                model: str | None = None, params: Mapping[str, Any] | None = None, transport: Any = None) -> Request:
        engine = self._engine
        request = Request.start(messages, user=user, tier=tier, context=context, metadata=metadata, stream=stream,
                                default_tier=engine.policy.spec.default_tier, policy_info=engine.policy_info,
                                detectors=engine.detectors, transport=transport if transport is not None else engine.transport,
                                model=model, params=params)
        check_params(engine.policy.spec, request)
        return request

    # ------------------------------------------------------------ the evaluation

    def evaluate(self, request: Request, spent: Usage) -> Generator[Any, Any, dict[str, Any]]:
        """The candidate's decision path for `request` (steps of a walk: only `Blocking` effects leave it):
        route, outcome, reason, the models of the steps it would run and their worst case; its admission
        reserves in the shadow store and settles at `spent` (the live request's actual usage)."""
        engine = self._engine
        decided = yield from relay(engine._decide(request), self._intercept)
        decision = request.decision
        record: dict[str, Any] = {"policy": self.info, "route": route_label(decision.route), "outcome": "would_answer",
                  "reason": None, "models": [], "worst_case_usd": None}
        if isinstance(decided, Result):
            record["outcome"], record["reason"] = "would_block", decided.reason
            return record
        steps, reservation = decided
        record["models"] = plan_models(steps)
        target = chosen_target(engine.plan, decision)
        if target is not None:
            record["worst_case_usd"] = worst_case_usd(engine, request, target)
        admitter = engine.admission.admitter
        now = engine.clock()
        if spent.usd and any(spent.usd.values()):
            yield from relay(admitter.settle(reservation, spent, now), self._intercept)
        else:
            yield from relay(admitter.release(reservation, now), self._intercept)
        return record

    def _intercept(self, effect: Any) -> Generator[Any, Any, Any] | None:
        if isinstance(effect, StoreCall):
            return _answer(lambda: getattr(self.store, effect.method)(*effect.args, **effect.kwargs))
        if isinstance(effect, Blocking):
            return None  # the live driver runs it under its timeout, as for a live rule
        return _raise(ProviderBadRequest("a shadow policy calls no model"))

    @property
    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("Shadow.bind(engine) was not called")
        return self.engine


@dataclass
class Pending:
    """The shadow of one live request, from its start until the live walk has ended."""

    shadow: Shadow
    live: Engine
    request: Request | None
    refusal: str | None = None
    error: str | None = None

    def observe(self, live_request: Request) -> Generator[Any, Any, None]:
        """Evaluate the candidate and record the comparison on the live decision (steps of the live walk).
        Never raises into the live request, except a cancellation of it."""
        started = time.perf_counter()
        shadow = self.shadow
        try:
            live = live_view(self.live, live_request)
            if self.request is None:
                record: dict[str, Any] = {"policy": shadow.info, "route": None, "outcome": "error" if self.error else "would_block",
                          "reason": self.refusal, "models": [], "worst_case_usd": None}
                if self.error:
                    record["error"] = self.error
            else:
                record = yield from shadow.evaluate(self.request, live_request.usage())
            compare(record, live)
            record["latency_ms"] = (time.perf_counter() - started) * 1000
            live_request.decision.shadow = record
            if record["differs"] and shadow.on_difference is not None:
                try:
                    shadow.on_difference(record)
                except Exception as exc:  # a metrics exporter's failure is the record's note, not the request's
                    record["on_difference_error"] = _error(exc)
        except Exception as exc:  # the shadow never fails the live request
            live_request.decision.shadow = {"policy": shadow.info, "outcome": "error", "error": _error(exc),
                                            "differs": [], "latency_ms": (time.perf_counter() - started) * 1000}


class DifferencesCounter:
    """`Shadow.on_difference` by default: the counter `cascadepolicy.shadow.differences` of `meter_provider`,
    else of the global provider once `opentelemetry.metrics` is imported (no import, no cost before)."""

    def __init__(self, meter_provider: Any = None) -> None:
        self.meter_provider = meter_provider
        self.counter: Any = None

    def __call__(self, record: Mapping[str, Any]) -> None:
        if self.counter is None:
            provider = self.meter_provider
            if provider is None:
                metrics = sys.modules.get("opentelemetry.metrics")
                if metrics is None:
                    return
                provider = metrics.get_meter_provider()  # the global proxy forwards to the provider once set
            self.counter = provider.get_meter("cascadepolicy").create_counter(
                "cascadepolicy.shadow.differences", "{request}",
                "Requests whose shadow policy's decision path differs from the live one")
        policy = record.get("policy") or {}
        self.counter.add(1, {"cascadepolicy.shadow.policy": str(policy.get("name") or ""),
                             "cascadepolicy.shadow.outcome": str(record.get("outcome")),
                             "cascadepolicy.shadow.differs": ",".join(record.get("differs") or ())})


def differences_counter(meter_provider: Any) -> DifferencesCounter:
    """An `on_difference` counting `cascadepolicy.shadow.differences` through `meter_provider`."""
    return DifferencesCounter(meter_provider)


# ---------------------------------------------------------------- views and comparison


def route_label(route: RouteRecord | Mapping[str, Any] | None) -> str | None:
    """A route as one string: its name (or number) and target, e.g. `cheap → cascade:main`, `pii → block`."""
    if not isinstance(route, RouteRecord | Mapping):
        return None  # none taken (refused before routing), or not a route in a hostile log
    fields: tuple[Any, Any, Any, Any] = ((route.index, route.name, route.kind, route.target) if isinstance(route, RouteRecord)
                                         else (route.get("index"), route.get("name"), route.get("kind"), route.get("target")))
    index, name, kind, target = fields
    target = target if isinstance(target, Mapping) else {}
    label = name or (f"route {index + 1}" if isinstance(index, int) else "route ?")
    to = "block" if "block" in target else ", ".join(f"{k}:{v}" for k, v in target.items())
    return f"{label} → {to}" + (" (degraded)" if kind == "degraded" else "")


def plan_models(steps: Sequence[PlannedStep]) -> list[str]:
    return [step.model for step in steps]


def chosen_target(plan: Plan, decision: Decision) -> PlannedTarget | None:
    """The target admission planned for: the route's, or the one it degraded to."""
    admission, route = decision.admission, decision.route
    if admission is not None and admission.degraded_to is not None:
        return plan.degrade_to.get(admission.degraded_to)
    if route is None or not 0 <= route.index < len(plan.routes):
        return None
    return plan.routes[route.index].target


def worst_case_usd(engine: Engine, request: Request, target: PlannedTarget) -> float:
    """The most `target` could spend on `request` (USD), as admission reserves it, whatever limits apply."""
    tokens = request.values["request.tokens"]
    documents = documents_tokens(request.extra["documents"], text_tokens) if engine.plan.grounding_judges else 0
    usage = engine.admission.worst_case(target, request.decision.tier, tokens, documents, request.max_tokens)
    return round(sum(usage.usd.values()), 12)


def live_view(engine: Engine, request: Request) -> dict[str, Any]:
    """The live request's decision in the shadow record's terms."""
    decision = request.decision
    view: dict[str, Any] = {"route": route_label(decision.route), "outcome": _outcome(decision.outcome),
                            "reason": decision.reason if decision.outcome == "blocked" else None,
                            "models": [], "worst_case_usd": None}
    if decision.outcome != "blocked":
        target = chosen_target(engine.plan, decision)
        if target is not None:
            steps, _ = engine.plan.allowed(target, decision.tier)
            view["models"] = plan_models(steps)
            view["worst_case_usd"] = worst_case_usd(engine, request, target)
    return view


def record_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """A logged decision record in the shadow record's terms. Its worst case is known when the engine ran
    a shadow (`shadow.live.worst_case_usd`) or its admission reserved dollars; its models are not logged."""
    outcome, reason = record.get("outcome"), record.get("reason")
    logged_live = _mapping(_mapping(record.get("shadow")).get("live"))
    worst = _number(logged_live.get("worst_case_usd"))
    if not worst:
        worst = _number(_mapping(record.get("admission")).get("reserved_usd"))
    return {"route": route_label(record.get("route")), "outcome": _outcome(outcome),
            "reason": (reason if isinstance(reason, str) else "blocked") if outcome == "blocked" else None,
            "models": None, "worst_case_usd": worst or None}


def compare(record: dict[str, Any], live: Mapping[str, Any]) -> None:
    """Fill in `live` and `differs` (the compared fields whose values differ) of a shadow record."""
    record["live"] = dict(live)
    differs = []
    for name in COMPARED:
        mine, theirs = record.get(name), live.get(name)
        if name in ("models", "worst_case_usd") and (theirs is None or "would_block" in (record.get("outcome"), live.get("outcome"))):
            continue  # not known on the live side, or a refusal (the outcome differs): nothing to compare
        if name == "reason" and not (record.get("outcome") == live.get("outcome") == "would_block"):
            continue  # a reason differs only between two refusals; otherwise the outcome does
        if name == "worst_case_usd" and mine is not None:
            if abs(float(mine) - float(theirs or 0.0)) <= _USD_TOLERANCE * max(1.0, abs(float(theirs or 0.0))):
                continue
        elif mine == theirs:
            continue
        differs.append(name)
    record["differs"] = differs


def usage_of_record(record: Mapping[str, Any]) -> Usage:
    """What a logged request spent, per model id (tokens and USD of its calls)."""
    tokens: dict[str, float] = {}
    usd: dict[str, float] = {}
    for call in record.get("calls") or ():
        if not isinstance(call, Mapping) or not isinstance(call.get("model_id"), str):
            continue
        model = call["model_id"]
        tokens[model] = tokens.get(model, 0.0) + _number(call.get("prompt_tokens")) + _number(call.get("completion_tokens"))
        usd[model] = usd.get(model, 0.0) + _number(call.get("cost"))
    return Usage(tokens, usd)


def _outcome(outcome: Any) -> str:
    return "would_block" if outcome == "blocked" else "would_answer"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    return float(value) if ok else 0.0


def _answer(fn: Callable[[], Any]) -> Generator[Any, Any, Any]:
    return fn()
    yield  # a generator that yields nothing: the answer of an intercepted effect


def _raise(exc: BaseException) -> Generator[Any, Any, Any]:
    raise exc
    yield


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _candidate(candidate: Any) -> Policy:
    # A loaded policy, told by its shape: importing `cascadepolicy.policy` or the loader here would close an
    # import cycle (policy -> engine -> shadow), so a path is loaded by the caller (`cascadepolicy.load`).
    if hasattr(candidate, "spec") and hasattr(candidate, "engine") and hasattr(candidate, "content_hash"):
        return candidate  # type: ignore[no-any-return]
    if isinstance(candidate, str | os.PathLike):
        raise TypeError(f"shadow={os.fspath(candidate)!r} is a path; load the candidate first: "
                        f"shadow=cascadepolicy.load({os.fspath(candidate)!r})")
    raise TypeError(f"shadow= takes a Policy (cascadepolicy.load) or a Shadow, not {type(candidate).__name__}")


def bind(shadow: Shadow | Policy, live: Engine) -> Shadow:
    """The engine's `shadow=` option: a `Shadow`, or a candidate `Policy` with a shadow store of its own."""
    return (shadow if isinstance(shadow, Shadow) else Shadow(shadow)).bind(live)


__all__ = ["DifferencesCounter", "Pending", "Shadow", "bind", "differences_counter", "compare", "live_view", "record_view", "route_label", "usage_of_record"]
