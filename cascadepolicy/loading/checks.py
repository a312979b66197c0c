"""Stage 4: whole-document checks on a schema-valid policy.

References (every model, cascade, validator set, tier, degrade target and
guardrail id that is named exists; ids are unique), conditions (parsed,
name-checked and compiled once), validators (each check compiled once:
its regular expressions, JSON Schema and bounds), logic (unreachable routes,
a missing default, cascade steps that cost more than their successor,
thresholds out of order, budgets on a non-durable store) and prices (every
model has one). Everything is returned as diagnostics plus the compiled
conditions and checks, which the engine reuses: what `validate` compiled is
what runs, and the engine adds only what needs the process (imports of the
code a policy names, the judge's model calls, the store).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cascadepolicy.diagnostics import Diagnostic, Location, Severity, did_you_mean
from cascadepolicy.errors import ConditionError
from cascadepolicy.language.conditions import (
    BUILTIN_FIELDS,
    DOMAINS,
    Condition,
    FieldType,
    compile_condition,
)
from cascadepolicy.language.model import (
    Budget,
    ConditionalRoute,
    ContextField,
    CustomCheck,
    CustomGuardrail,
    DefaultRoute,
    GroundingGuardrail,
    JudgeCheck,
    PolicyDocument,
    Target,
)
from cascadepolicy.language.model_paths import path_name
from cascadepolicy.language.pricing import Price, known_models, table_price
from cascadepolicy.loading import callables
from cascadepolicy.loading.source import PathKey, SourceMap
from cascadepolicy.quality.base import ParamError
from cascadepolicy.quality.registry import Compiled, compile_check

PROMPT_TOKENS_FOR_COST_ORDER = 500
WARNING = Severity.WARNING
# `${NAME}`, `${NAME:?message}` or `${NAME:-}`: an alert's URL comes whole from the environment (no default URL in the file).
ALERT_URL_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::\?[^}]*|:-)?\}")


def webhook_url(url: str) -> bool:
    """Whether `url` is an http(s) URL with a host: the only kind an alert posts to."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)
    except ValueError:  # a malformed port or IPv6 literal
        return False


def limit_names(doc: PolicyDocument) -> list[str]:
    """Every rate window, budget and limit by the name reports and alerts use (`compile.limits.LimitTemplate.name`)."""
    names: list[str] = []
    for tier_id, tier in doc.tiers.items():
        names += [f"tiers.{tier_id}.rate[{index}]" for index in range(len(tier.rate))]
        names += [f"tiers.{tier_id}.budget"] if tier.budget else []
    return names + [f"limits.{limit.id}" for limit in doc.limits]


@dataclass
class CheckResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    conditions: dict[int, Condition] = field(default_factory=dict)
    prices: dict[str, Price] = field(default_factory=dict)
    fields: dict[str, FieldType] = field(default_factory=dict)
    validators: dict[str, tuple[CompiledCheck, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledCheck:
    """One check of a validator set as compiled at load time; the engine links it (`quality.registry.link_check`)."""

    check: Compiled
    weight: float
    required: bool


def condition_fields(doc: PolicyDocument) -> dict[str, FieldType]:
    fields = dict(BUILTIN_FIELDS)
    domains = tuple(dict.fromkeys((*DOMAINS, *doc.features.domains)))
    fields["request.domain"] = FieldType("string", domains, BUILTIN_FIELDS["request.domain"].description)
    if doc.tiers:
        fields["user.tier"] = FieldType("string", tuple(doc.tiers), BUILTIN_FIELDS["user.tier"].description)
    for name, spec in doc.context.items():
        if isinstance(spec, ContextField):
            fields[name] = FieldType("string" if spec.enum else spec.type, spec.enum, spec.description or "")
        else:
            fields[name] = FieldType(spec)
    return fields


def check_policy(doc: PolicyDocument, source_map: SourceMap) -> CheckResult:
    return _Checker(doc, source_map).run()


class _Checker:
    def __init__(self, doc: PolicyDocument, source_map: SourceMap) -> None:
        self.doc = doc
        self.map = source_map
        self.result = CheckResult()

    def add(self, code: str, message: str, path: PathKey, hint: str | None = None,
            severity: Severity = Severity.ERROR, key: bool = False) -> None:
        where = self.map.key(path) if key else self.map.value(path)
        self.result.diagnostics.append(Diagnostic(code, message, where, severity, hint))

    def ref(self, kind: str, name: str | None, known: Iterable[str], path: PathKey) -> bool:
        if name is None:
            return True
        known = list(known)
        if name in known:
            return True
        plural = "cascades and models" if kind == "cascade or model" else f"{kind}s"
        listing = f" Defined {plural}: {', '.join(sorted(known))}." if known else f" The policy defines no {plural}."
        self.add("ref-undefined", f"{path_name(path)} names the {kind} {self.written(path, repr(name))}, which is not defined.{listing}",
                 path, hint=self.suggest(path, name, known))
        return False

    # A value interpolated from the environment is named by its reference and gets no "did you mean":
    # a close suggestion would tell the reader most of a secret.
    def written(self, path: PathKey, shown: str) -> str:
        item = self.map.interpolated.get(path)
        return shown if item is None else f"(from {item.written})"

    def suggest(self, path: PathKey, name: str, known: Iterable[str]) -> str | None:
        return None if path in self.map.interpolated else did_you_mean(name, known)

    def run(self) -> CheckResult:
        self.check_context()
        self.check_models()
        self.check_tiers_and_limits()
        self.check_guardrails()
        self.check_validators()
        self.check_cascades()
        self.check_routes()
        self.check_alerts()
        return self.result

    # ---------------------------------------------------------------- sections

    def check_context(self) -> None:
        for name, spec in self.doc.context.items():
            path: PathKey = ("context", name)
            if name.startswith("request."):
                self.add("schema-invalid", f"`{name}`: fields under `request.` are computed by cascadepolicy and cannot be declared.",
                         path, key=True)
            if name == "user.tier" and isinstance(spec, ContextField) and spec.enum and self.doc.tiers:
                for value in spec.enum:
                    self.ref("tier", value, self.doc.tiers, path)
        self.result.fields = condition_fields(self.doc)

    def check_models(self) -> None:
        models = self.doc.models
        for model_id, spec in models.items():
            path: PathKey = ("models", model_id)
            for index, fallback in enumerate(spec.fallbacks):
                if self.ref("model", fallback, models, (*path, "fallbacks", index)) and fallback == model_id:
                    self.add("ref-undefined", f"model {model_id!r} lists itself as a fallback.", (*path, "fallbacks", index))
            price = table_price(spec.model)
            if spec.pricing is not None:
                max_out = price.max_output_tokens if price else None
                price = Price(spec.pricing.input_per_million / 1e6, spec.pricing.output_per_million / 1e6, max_out, "policy")
            if price is None:
                written = self.written((*path, "model"), f"({spec.model})")
                self.add("price-unknown", f"model {model_id!r} {written} has no price in litellm's table and the policy gives none; budgets cannot be enforced without one.",
                         (*path, "model"), hint=" ".join(filter(None, (
                             self.suggest((*path, "model"), spec.model, known_models()),
                             "Add `pricing: {input_per_million: ..., output_per_million: ...}` to the model."))))
                continue
            self.result.prices[model_id] = price
            if price.max_output_tokens and spec.max_tokens > price.max_output_tokens:
                self.add("model-context", f"model {model_id!r} allows max_tokens {spec.max_tokens}, but {spec.model} produces at most {price.max_output_tokens}.",
                         (*path, "max_tokens"), severity=WARNING)

    def check_tiers_and_limits(self) -> None:
        doc = self.doc
        self.ref("tier", doc.default_tier, doc.tiers, ("default_tier",))
        targets = {**doc.cascades, **doc.models}
        has_limits = bool(doc.limits)
        for tier_id, tier in doc.tiers.items():
            path: PathKey = ("tiers", tier_id)
            for index, model_id in enumerate(tier.models or ()):
                self.ref("model", model_id, doc.models, (*path, "models", index))
            if tier.budget:
                self.check_budget(tier.budget, (*path, "budget"), targets)
            has_limits = has_limits or bool(tier.rate or tier.budget)
        seen: dict[str, int] = {}
        for index, limit in enumerate(doc.limits):
            path = ("limits", index)
            self.unique("limit", limit.id, seen, index, (*path, "id"))
            self.ref("model", limit.model, doc.models, (*path, "model"))
            if limit.budget:
                self.check_budget(limit.budget, (*path, "budget"), targets)
        if has_limits and doc.store.kind == "memory":
            self.add("store-not-durable", "rate windows and budgets are kept in the memory store: they reset on every restart and are not shared between processes.",
                     ("store",) if ("store",) in self.map.values else (), severity=WARNING,
                     hint="use `store: {kind: sqlite}` (one host) or `store: {kind: redis, url: ...}` (many hosts).")

    def check_budget(self, budget: Budget, path: PathKey, targets: dict[str, object]) -> None:
        self.ref("cascade or model", budget.degrade_to, targets, (*path, "degrade_to"))
        order = [(n, v) for n, v in (("warn_at", budget.warn_at), ("degrade_at", budget.degrade_at), ("block_at", budget.block_at)) if v is not None]
        for (first, a), (second, b) in zip(order, order[1:], strict=False):
            if a > b:
                self.add("budget-thresholds", f"{first} ({a}) is above {second} ({b}); thresholds must rise: warn_at <= degrade_at <= block_at.",
                         (*path, first))
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(budget.timezone)
        except Exception:
            self.add("schema-timezone", f"{budget.timezone!r} is not an IANA time zone name.", (*path, "timezone"),
                     hint="use a name such as UTC, Europe/Berlin or America/New_York.")

    def unique(self, kind: str, value: str, seen: dict[str, int], index: int, path: PathKey) -> None:
        if value in seen:
            self.add("ref-duplicate-id", f"{kind} id {value!r} is already used by entry {seen[value] + 1}; ids must be unique.", path)
        else:
            seen[value] = index

    def check_guardrails(self) -> None:
        seen: dict[str, int] = {}
        for index, rule in enumerate(self.doc.guardrails):
            path: PathKey = ("guardrails", index)
            self.unique("guardrail", rule.id, seen, index, (*path, "id"))
            if rule.action in ("escalate", "reask") and rule.stage != "output":
                self.add("guardrail-action", f"guardrail {rule.id!r}: action `{rule.action}` works only on output guardrails, which can reject an answer.",
                         (*path, "action"), hint="use `block`, `redact` or `warn` on input.")
            if rule.action == "redact" and rule.check not in ("pii", "custom"):
                self.add("guardrail-action", f"guardrail {rule.id!r}: `{rule.check}` finds no spans to redact; use `block`, `warn` or `escalate`.",
                         (*path, "action"))
            if rule.check == "grounding" and rule.stage != "output":
                self.add("guardrail-action", f"guardrail {rule.id!r}: `grounding` checks answers, so its stage must be `output`.", (*path, "stage"))
            if isinstance(rule, CustomGuardrail):
                self.check_callable(rule.function, (*path, "function"), entry_points=True)
            if isinstance(rule, GroundingGuardrail):
                self.ref("model", rule.judge, self.doc.models, (*path, "judge"))

    def check_callable(self, ref: str, path: PathKey, entry_points: bool = False) -> None:
        # Located and parsed, never imported: validating a policy must not run the code it names.
        problem = callables.check(ref, entry_points=entry_points)
        if problem is not None:
            self.add("ref-custom-callable", problem.message, path, hint=problem.hint)

    def check_validators(self) -> None:
        for name, checks in self.doc.validators.items():
            compiled: list[CompiledCheck] = []
            for index, check in enumerate(checks):
                path: PathKey = ("validators", name, index)
                if isinstance(check, JudgeCheck):
                    self.ref("model", check.model, self.doc.models, (*path, "model"))
                if isinstance(check, CustomCheck):
                    self.check_callable(check.function, (*path, "function"))
                try:
                    compiled.append(CompiledCheck(compile_check(check), check.weight, check.required))
                except ParamError as exc:
                    at: PathKey = (*path, exc.param, *exc.inside) if exc.param is not None else path
                    item = self.map.interpolated.get(at)
                    source = f", {exc.param} (from {item.written})" if item is not None else ""
                    self.add(exc.code, f"validator set {name!r}, check {index + 1} (`{check.check}`){source}: {exc}", at, hint=exc.hint)
            self.result.validators[name] = tuple(compiled)

    def check_cascades(self) -> None:
        prices = self.result.prices
        for name, steps in self.doc.cascades.items():
            for index, step in enumerate(steps):
                path: PathKey = ("cascades", name, index)
                self.ref("model", step.model, self.doc.models, (*path, "model"))
                if step.accept:
                    self.ref("validator set", step.accept.validators, self.doc.validators, (*path, "accept", "validators"))
                    if index == len(steps) - 1 and len(steps) > 1:
                        self.add("cascade-last-accept", f"cascade {name!r}: the last step has an acceptance rule but no step to escalate to; its answer is returned even when it scores below min_score.",
                                 (*path, "accept"), severity=WARNING)
                if index + 1 < len(steps):
                    here, nxt = prices.get(step.model), prices.get(steps[index + 1].model)
                    if here and nxt:
                        a = here.worst_case(PROMPT_TOKENS_FOR_COST_ORDER, self.doc.models[step.model].max_tokens)
                        b = nxt.worst_case(PROMPT_TOKENS_FOR_COST_ORDER, self.doc.models[steps[index + 1].model].max_tokens)
                        if a > b:
                            self.add("cascade-cost-order", f"cascade {name!r}: step {index + 1} ({step.model}, ${a:.4f} worst case) costs more than step {index + 2} ({steps[index + 1].model}, ${b:.4f}); a cascade should escalate to stronger, usually dearer, models.",
                                     (*path, "model"), severity=WARNING)

    def check_routes(self) -> None:
        doc = self.doc
        fields = self.result.fields
        unconditional: int | None = None
        names: dict[str, int] = {}
        for index, route in enumerate(doc.routes):
            path: PathKey = ("routes", index)
            if route.name:
                self.unique("route", route.name, names, index, (*path, "name"))
            if unconditional is not None:
                self.add("route-unreachable", f"route {index + 1} can never be taken: route {unconditional + 1} before it matches every request.",
                         path, hint="move the default (or always-true) route to the end.")
            if isinstance(route, DefaultRoute):
                self.check_target(route.default, (*path, "default"))
                unconditional = index if unconditional is None else unconditional
                continue
            assert isinstance(route, ConditionalRoute)
            self.check_target(route, path)
            where = self.condition_location((*path, "when"))
            condition, problems = compile_condition(route.when, fields, where)
            self.result.diagnostics.extend(problems)
            if condition is None:
                continue
            self.result.conditions[index] = condition
            if not condition.names:  # a constant: decide it now rather than on every request
                try:
                    always = condition.evaluate({})
                except ConditionError as exc:
                    self.result.diagnostics.append(Diagnostic(
                        "expr-too-complex", f"route {index + 1}: the condition can never be evaluated: {exc.__cause__ or exc}.", where))
                    continue
                if always and unconditional is None:
                    unconditional = index
                elif not always:
                    self.result.diagnostics.append(Diagnostic(
                        "route-unreachable", f"route {index + 1} can never be taken: its condition `{route.when}` is always false.", where))
        if unconditional is None:
            self.add("route-no-default", "the routes have no default, so a request that matches no condition would have nowhere to go.",
                     ("routes",), hint="end the list with `- default: {cascade: ...}`.")

    def check_alerts(self) -> None:
        seen: dict[str, int] = {}
        names = limit_names(self.doc)
        for index, alert in enumerate(self.doc.alerts):
            path: PathKey = ("alerts", index)
            self.unique("alert", alert.id, seen, index, (*path, "id"))
            self.check_alert_url(alert.id, alert.url, (*path, "url"))
            for at, name in enumerate(alert.limits or ()):
                self.ref("limit", name, names, (*path, "limits", at))

    def check_alert_url(self, alert_id: str, url: str, path: PathKey) -> None:
        # A webhook's URL is its credential (Slack, Teams, Discord put the token in the path), and where
        # alerts go is a deployment's choice: so always one environment reference, never text git keeps.
        item = self.map.interpolated.get(path)
        if item is None or not ALERT_URL_REFERENCE.fullmatch(item.written):
            self.add("alert-url", f"alert {alert_id!r}: a webhook URL is written in the policy, where git would keep it "
                     "and every reader of the repository could post to it.", path,
                     hint="put the URL in an environment variable and write `url: ${ALERT_WEBHOOK_URL}` "
                          "(or `${ALERT_WEBHOOK_URL:-}` to turn the alert off where it is unset).")
            return
        if url and not webhook_url(url):
            self.add("alert-url", f"alert {alert_id!r}: url (from {item.written}) is not an http or https URL with a host.", path,
                     hint="set the variable to the webhook's address, e.g. https://hooks.example.com/services/...")

    def condition_location(self, path: PathKey) -> Location | None:
        where = self.map.value(path)
        if where is not None and path in self.map.quoted:
            where = where.shifted(1)
        return where

    def check_target(self, target: Target, path: PathKey) -> None:
        self.ref("cascade", target.cascade, self.doc.cascades, (*path, "cascade"))
        self.ref("model", target.model, self.doc.models, (*path, "model"))
