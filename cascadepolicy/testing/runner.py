"""Loading a suite and running its cases through the policy's compiled graph.

`load_suite` parses the suite (source map for `file:line:col`), validates it
against `TestSuite`, loads the policy it names (with the suite's `env`), and
checks that every name the cases use (routes, models, guardrails, limits,
tiers) exists in the policy. `run_suite` builds a fresh engine per case with
a fixed clock, an in-memory store seeded by the fixtures, scripted answers
and forced verdicts: the real graph, offline and deterministic (an offline
engine: a check that needs the network and has no forced verdict is reported
as not run and fails closed).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cascadepolicy.diagnostics import Diagnostic, Location, did_you_mean, sort_diagnostics
from cascadepolicy.loading.callables import without_imports
from cascadepolicy.loading.compose import AllowOutside, load_named
from cascadepolicy.loading.confine import Confinement, Refused, shown
from cascadepolicy.loading.loader import check_file
from cascadepolicy.loading.source import SourceMap
from cascadepolicy.policy import Policy
from cascadepolicy.testing.coverage import Coverage, CoverageTracker
from cascadepolicy.testing.expect import check_expectations
from cascadepolicy.testing.fixtures import (
    ScriptedAnswers,
    UnreachableStore,
    guardrail_verdicts,
    parse_now,
    seed_usage,
)
from cascadepolicy.testing.model import Case, Fixtures, TestSuite
from cascadepolicy.testing.schema import check_suite_data


@dataclass
class LoadedSuite:
    file: str
    suite: TestSuite | None
    policy: Policy | None
    source_map: SourceMap
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.suite is not None and self.policy is not None and not any(d.is_error for d in self.diagnostics)


@dataclass
class CaseResult:
    name: str
    location: str | None
    passed: bool
    failures: list[str]
    seconds: float
    decision: dict[str, Any] | None = None


@dataclass
class SuiteResult:
    file: str
    policy_file: str | None
    cases: list[CaseResult]
    diagnostics: list[Diagnostic]
    coverage: Coverage | None
    seconds: float

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]

    @property
    def ok(self) -> bool:
        return not self.failed and not any(d.is_error for d in self.diagnostics)


def load_suite(path: str | os.PathLike[str], *, allow_outside: AllowOutside = ()) -> LoadedSuite:
    """The suite and its policy; the policy (and what it extends) must lie in the suite's repository or `allow_outside`."""
    display = os.fspath(path)
    document, diagnostics = load_named(Path(path), display, allow_outside)
    if document is None:
        return LoadedSuite(display, None, None, SourceMap(), diagnostics)
    suite, problems = check_suite_data(document.data, document.source_map)
    if suite is None:
        return LoadedSuite(display, None, None, document.source_map, sort_diagnostics(problems))
    smap = document.source_map
    policy_path = Path(path).parent / suite.policy
    policy_display = os.path.normpath(os.path.join(os.path.dirname(display), suite.policy))
    try:
        Confinement.around(Path(os.path.abspath(path)).parent, allow_outside).resolve(Path(path).parent, suite.policy)
    except Refused as refused:
        return LoadedSuite(display, suite, None, smap, [Diagnostic(
            "test-policy", f"the suite names the policy {shown(suite.policy)}, which {refused.reason}.", smap.value(("policy",)),
            hint="`policy` is a path relative to the suite file, inside its repository (or pass --allow-outside DIR).")])
    if not os.path.isfile(policy_path):
        return LoadedSuite(display, suite, None, smap, [Diagnostic(
            "test-policy", f"the suite names the policy {suite.policy!r}, which does not exist (looked for {policy_display}).",
            smap.value(("policy",)), hint="`policy` is a path relative to the suite file.")])
    loaded = check_file(policy_path, environ={**os.environ, **suite.env}, allow_outside=allow_outside)
    if loaded.policy is None:
        errors = [d for d in loaded.diagnostics if d.is_error]
        return LoadedSuite(display, suite, None, smap, [Diagnostic(
            "test-policy", f"the policy {policy_display} has {len(errors)} error(s); the suite cannot run.", smap.value(("policy",)),
            hint=errors[0].format().replace(str(policy_path), policy_display) if errors else None), *loaded.diagnostics])
    problems = [loaded.policy.masker.diagnostic(d) for d in _check_refs(suite, loaded.policy, smap)]
    return LoadedSuite(display, suite, loaded.policy, smap, sort_diagnostics(problems))


def _check_refs(suite: TestSuite, policy: Policy, smap: SourceMap) -> list[Diagnostic]:
    spec = policy.spec
    routes = {r.name for r in spec.routes if r.name}
    models = set(spec.models) | {m.model for m in spec.models.values()}
    out: list[Diagnostic] = []

    def need(value: str | None, known: Iterable[str], what: str, path: tuple[str | int, ...]) -> None:
        known = set(known)
        if value is not None and value not in known:
            out.append(Diagnostic("test-ref", f"the policy has no {what} {value!r}.", smap.value(path),
                                  hint=did_you_mean(value, known) or (f"known: {', '.join(sorted(known))}" if known else None)))

    def fixtures(f: Fixtures, base: tuple[str | int, ...]) -> None:
        for key in f.answers:
            need(key, models, "model", (*base, "answers", key))
        for key in f.guardrails:
            need(key, [g.id for g in spec.guardrails], "guardrail", (*base, "guardrails", key))
        for i, seed in enumerate(f.usage):
            need(seed.limit, [x.id for x in spec.limits], "limit", (*base, "usage", i, "limit"))
            need(seed.tier, spec.tiers, "tier", (*base, "usage", i, "tier"))
            need(seed.model, spec.models, "model", (*base, "usage", i, "model"))

    fixtures(suite.defaults.fixtures, ("defaults", "fixtures"))
    need(suite.defaults.request.tier, spec.tiers, "tier", ("defaults", "request", "tier"))
    seen: dict[str, int] = {}
    for i, case in enumerate(suite.cases):
        base: tuple[str | int, ...] = ("cases", i)
        if case.name in seen:
            out.append(Diagnostic("test-duplicate-name", f"case {case.name!r} is also case {seen[case.name]}; names must be unique.",
                                  smap.value((*base, "name"))))
        seen.setdefault(case.name, i)
        need(case.request.tier, spec.tiers, "tier", (*base, "request", "tier"))
        fixtures(case.fixtures, (*base, "fixtures"))
        e = case.expect
        if isinstance(e.route, str):
            need(e.route, routes, "route named", (*base, "expect", "route"))
        elif isinstance(e.route, int) and not 0 <= e.route < len(spec.routes):
            out.append(Diagnostic("test-ref", f"the policy has {len(spec.routes)} routes (0-{len(spec.routes) - 1}); there is no route {e.route}.",
                                  smap.value((*base, "expect", "route"))))
        for j, model in enumerate(e.models or ()):
            need(model, spec.models, "model", (*base, "expect", "models", j))
        need(e.final_model, spec.models, "model", (*base, "expect", "final_model"))
        for rule in e.guardrails:
            need(rule, [g.id for g in spec.guardrails], "guardrail", (*base, "expect", "guardrails", rule))
    return out


def run_suite(loaded: LoadedSuite, *, only: str | None = None, import_custom: bool = False) -> SuiteResult:
    """Run the cases; custom guardrails and validators are imported and run only with `import_custom`."""
    started = time.perf_counter()
    if not loaded.ok:
        return SuiteResult(loaded.file, None, [], loaded.diagnostics, None, 0.0)
    assert loaded.suite is not None and loaded.policy is not None
    tracker = CoverageTracker(loaded.policy)
    results = []
    for index, case in enumerate(loaded.suite.cases):
        if only is not None and only.lower() not in case.name.lower():
            continue
        where = loaded.source_map.value(("cases", index))
        result, decision = _run_case(loaded.suite, loaded.policy, case, where, import_custom)
        if decision is not None:
            tracker.record(case.name, decision)
        results.append(result)
    # What the reports print passes the policy's masker: no value it took from the environment is shown.
    masker = loaded.policy.masker
    for result in results:
        result.failures = [masker.text(f) for f in result.failures]
        result.decision = masker.data(result.decision)
    coverage = tracker.result()
    for item in coverage.items:
        item.name = masker.text(item.name)
    return SuiteResult(loaded.file, loaded.policy.file, results, loaded.diagnostics, coverage, time.perf_counter() - started)


def _merged(base: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in own.items():
        if value is None:  # `key: null` in a case removes a default
            out.pop(key, None)
            continue
        out[key] = _merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def _run_case(suite: TestSuite, policy: Policy, case: Case, where: Location | None,
              import_custom: bool) -> tuple[CaseResult, Any]:
    started = time.perf_counter()
    defaults, request, own = suite.defaults, case.request, case.fixtures
    user = request.user or defaults.request.user
    tier = request.tier or defaults.request.tier
    context = _merged(defaults.request.context, request.context)
    metadata = _merged(defaults.request.metadata, request.metadata)
    now = parse_now(own.now if own.now is not None else defaults.fixtures.now)
    verdicts = guardrail_verdicts({**defaults.fixtures.guardrails, **own.guardrails})
    answers = ScriptedAnswers(policy, {**defaults.fixtures.answers, **own.answers}, verdicts)
    store_kind = own.store if "store" in own.model_fields_set else defaults.fixtures.store
    unreachable = store_kind == "unreachable"
    from cascadepolicy.state import MemoryStore

    store: Any = UnreachableStore() if unreachable else MemoryStore()
    messages = ([{"role": "user", "content": " ".join([request.prompt] * request.repeat)}] if request.prompt is not None
                else [m.model_dump() for m in request.messages or ()])
    location = str(where) if where else None
    try:
        if not unreachable:
            effective_tier = tier or (context.get("user") or {}).get("tier") or policy.spec.default_tier
            seed_usage(policy, store, [*defaults.fixtures.usage, *own.usage], user=user, tier=effective_tier, now=now)
        # suites never append to the policy's audit log, and run the code a policy names only when trusted to
        with contextlib.nullcontext() if import_custom else without_imports():
            engine = policy.engine(store=store, clock=lambda: now, sleep=lambda _: None, decision_log=None, offline=True,
                                   transport=answers)
        result = engine.complete(messages, user=user, tier=tier, context=context, metadata=metadata)
    except Exception as exc:  # a case that crashes the engine fails; the suite goes on
        return CaseResult(case.name, location, False, [f"the request raised {type(exc).__name__}: {exc}"],
                          time.perf_counter() - started), None
    failures = check_expectations(case.expect, result)
    for model_id in dict.fromkeys(answers.missing):
        failures.append(f"model {model_id!r} was called but the case gives no answer for it (fixtures.answers)")
    return (CaseResult(case.name, location, not failures, failures, time.perf_counter() - started, result.decision.to_dict()),
            result.decision)
