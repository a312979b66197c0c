"""The plan: everything a request can make the runtime do, compiled once from a policy.

    Policy ──compile_plan──▶ Plan ──▶ runtime (walks it) · worst case (sums its calls)
                                  ──▶ graph (draws its nodes and edges) · test coverage · diff · explain

A `Plan` is immutable (frozen dataclasses and tuples): the input guardrails,
the routes in order (compiled condition, `on_error`, target or block), the
admission templates of every window, budget and limit per tier
(`compile.limits`), the targets (a cascade, or one model alone) with their
admission node and the degradations between them, and their steps: model and fallbacks, acceptance rule with its checks and thresholds,
whether output guardrails run, `pass_draft`, and every model CALL the step may
make. Nothing else describes execution: the runtime walks these objects, and
the node ids it writes into `Decision.trace` are the plan's.

Each call carries a bound on its prompt, "the request's prompt + `extra`
tokens (+ the request's documents)", in tokens of the offline tokenizer:

* draft: the request, plus with `pass_draft` the longest answer an earlier
  step can give and the escalation message;
* reask k (k = 1 .. the most reasks an output guardrail allows): the draft's
  prompt plus k × (the step's longest answer + the feedback message);
* judge of a validator: the judge's template with its rubric, the question
  (part of the request) and the step's longest answer;
* grounding judge, for the draft and for each reask: its template, the longest
  answer and the request's documents (not the request's prompt).

Every call lists the model and the fallbacks it may move to; each of them may
be billed (a stream cut mid-answer is). The text the runtime appends that it
does not write itself (a guardrail's reason, a validator's detail, a
provider's error) is clipped by the runtime to `REASON_MAX_TOKENS`, and each
appended message to `FEEDBACK_MAX_TOKENS`, so these bounds hold by
construction rather than by estimate.

Counting a template or rubric needs a tokenizer, which lives in the runtime:
the engine passes its counter; views that never read the bounds (graph, diff,
coverage) use `utf8_bytes`, an upper bound (no token is shorter than a byte).
The loader compiles the plan too (`loading.buildable`), so whatever fails here
is a `plan-compile` diagnostic at validate time, never first in `engine()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from cascadepolicy.compile.limits import LimitTemplate, compile_limits
from cascadepolicy.diagnostics import Diagnostic
from cascadepolicy.errors import CascadePolicyError, PolicyError
from cascadepolicy.language.model import (
    Budget,
    ConditionalRoute,
    DefaultRoute,
    GroundingGuardrail,
    Guardrail,
    JudgeCheck,
    QualityCheck,
    Step,
    Target,
)
from cascadepolicy.language.pricing import Price

if TYPE_CHECKING:
    from cascadepolicy.language.conditions import Condition
    from cascadepolicy.policy import Policy
    from cascadepolicy.quality.base import Check

# Text the runtime appends to a prompt. A reason it quotes is clipped to
# REASON_MAX_TOKENS and the whole message to FEEDBACK_MAX_TOKENS (by the
# runtime, before the call), which is what the plan reserves for it.
FEEDBACK_MAX_TOKENS = 256
REASON_MAX_TOKENS = 192
ESCALATION_MESSAGE = "That draft was not accepted ({reason}). Give a better, complete answer."
REASK_MESSAGE = "Your previous answer was rejected by the {check} check ({reason}). Answer again without that problem."
REASK_FALLBACK_MESSAGE = "Answer again."
GROUNDING_PROMPT = ("Sources:\n{sources}\n\nAnswer:\n{answer}\n\nIs every claim of the answer supported by the sources? "
                    "Reply with a single line 'Score: N', N from 1 (unsupported) to 10 (fully supported).")
DOCUMENT_SEPARATOR = "\n---\n"
# What the offline count adds besides the text: per chat message 3 tokens and
# its role (one token for user and assistant), per prompt 3 for the reply.
MESSAGE_TOKENS = 4
REPLY_TOKENS = 3
# A text put inside a template can tokenize into a few more tokens than alone
# (a piece merges differently with its neighbours); per document, the
# separator between documents and that effect.
JOIN_SLACK_TOKENS = 4
DOCUMENT_TOKENS = 4

TokenCounter = Callable[[str], int]
CheckBuilder = Callable[[str, int, QualityCheck], "Check"]  # (validator set, index, its spec) -> the built check
Purpose = Literal["draft", "reask", "judge", "grounding"]


def utf8_bytes(text: str) -> int:
    """An upper bound of any byte-pair tokenizer's count: no token is shorter than one byte."""
    return len(text.encode("utf-8", "surrogatepass"))


def documents_tokens(documents: object, count: TokenCounter) -> int:
    """The documents term of a grounding judge's prompt bound: each document and the separator after it."""
    if isinstance(documents, str):  # joined character by character, as `str.join` does
        return utf8_bytes(documents) + DOCUMENT_TOKENS * len(documents)
    if not isinstance(documents, list | tuple):
        return 0  # nothing a judge can read (or a one-shot iterable, which the prompt check refuses)
    return sum(count(d) + DOCUMENT_TOKENS for d in documents if isinstance(d, str))  # any other item fails the join


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: str  # start | guardrail | admission | route | block | step | accept | settle | end
    label: str
    location: str | None


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class Prompt:
    """A bound on a call's prompt: the request's prompt (when `request`) + `extra` + the documents (when `documents`)."""

    extra: int
    request: bool = True
    documents: bool = False

    def tokens(self, prompt_tokens: int, document_tokens: int) -> int:
        return (prompt_tokens if self.request else 0) + self.extra + (document_tokens if self.documents else 0)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model a call may reach: the call's own model, or one of its fallbacks (tried only when the tier allows it)."""

    model: str
    max_tokens: int
    overhead: int  # the model's prompt_overhead_tokens
    price: Price
    fallback: bool


@dataclass(frozen=True, slots=True)
class Call:
    """One model call a step may make, with every model it may reach and the bound of its prompt."""

    purpose: Purpose
    chain: tuple[Candidate, ...]
    prompt: Prompt
    answer: int = 0  # draft 0; reask k; a grounding judge reads answer k (0: the draft)
    source: str | None = None  # a judge's check (`validators.<set>[i]`) or guardrail id

    @property
    def model(self) -> str:
        return self.chain[0].model


@dataclass(frozen=True, slots=True)
class PlannedCheck:
    spec: QualityCheck
    weight: float
    required: bool
    location: str | None
    check: Check | None  # built by the engine's CheckBuilder; None in views, which never run it


@dataclass(frozen=True, slots=True)
class AcceptRule:
    node: str
    validators: str
    min_score: float
    by_complexity: tuple[tuple[str, float], ...]
    checks: tuple[PlannedCheck, ...]
    location: str | None

    def threshold(self, complexity: str) -> float:
        for level, score in self.by_complexity:
            if level == complexity:
                return score
        return self.min_score

    @property
    def built(self) -> tuple[tuple[Check, float, bool], ...]:
        return tuple((c.check, c.weight, c.required) for c in self.checks if c.check is not None)


@dataclass(frozen=True, slots=True)
class PlannedStep:
    index: int  # position in its cascade
    node: str
    model: str
    accept: AcceptRule | None
    guardrails: bool  # the output guardrails run on its answers
    pass_draft: bool
    max_reasks: int  # the most reasks its output guardrails can ask for
    location: str | None
    calls: tuple[Call, ...]  # draft, reask 1..max_reasks, grounding judges, validator judges

    @property
    def draft(self) -> Call:
        return self.calls[0]

    def reask(self, k: int) -> Call:
        return self.calls[k]

    def judges(self, purpose: Purpose) -> tuple[Call, ...]:
        return tuple(c for c in self.calls if c.purpose == purpose)


@dataclass(frozen=True, slots=True)
class PlannedTarget:
    id: str
    kind: Literal["cascade", "model"]
    admit: str  # its admission node
    steps: tuple[PlannedStep, ...]
    location: str | None

    @property
    def record(self) -> dict[str, str]:
        return {self.kind: self.id}


@dataclass(frozen=True, slots=True)
class PlannedRoute:
    index: int
    node: str
    name: str | None
    condition: Condition | None  # None: the default route
    on_error: Literal["block", "skip"]
    target: PlannedTarget | None  # None: a block route
    block: str | None  # the refusal of a block route
    location: str | None

    @property
    def block_node(self) -> str:
        return f"{self.node}:block"

    @property
    def record(self) -> dict[str, str]:
        return self.target.record if self.target is not None else {"block": self.block or ""}


@dataclass(frozen=True, slots=True)
class PlannedGuard:
    node: str
    index: int  # in the policy's `guardrails`
    rule: Guardrail
    location: str | None


@dataclass(frozen=True)
class Plan:
    input_guards: tuple[PlannedGuard, ...]
    output_guards: tuple[PlannedGuard, ...]
    routes: tuple[PlannedRoute, ...]
    targets: tuple[PlannedTarget, ...]  # every target a route or a degradation names, each once
    degrade_to: Mapping[str, PlannedTarget]  # a budget's `degrade_to` id -> its target
    tier_models: Mapping[str, frozenset[str] | None]  # per tier, the models it may call (None: any)
    limits: Mapping[str | None, tuple[LimitTemplate, ...]]  # per tier (None: untiered), what admission charges
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    _allowed: Mapping[tuple[str, str | None], tuple[tuple[PlannedStep, ...], str | None]] = field(repr=False, compare=False)

    @property
    def grounding_judges(self) -> bool:
        """Whether some call reads the request's documents."""
        return any(isinstance(g.rule, GroundingGuardrail) and g.rule.judge for g in self.output_guards)

    def target(self, target_id: str) -> PlannedTarget:
        """The target with this id (a cascade before a model of the same id) that a route or degradation names."""
        found = sorted((t for t in self.targets if t.id == target_id), key=lambda t: t.kind)
        if not found:
            raise KeyError(target_id)
        return found[0]

    def allowed(self, target: PlannedTarget, tier: str | None) -> tuple[tuple[PlannedStep, ...], str | None]:
        """The steps of `target` a request of `tier` runs, or none and the refusal."""
        found = self._allowed.get((target.admit, tier))
        return found if found is not None else (target.steps, None)

    def fallback_allowed(self, candidate: Candidate, tier: str | None) -> bool:
        models = self.tier_models.get(tier or "")
        return not candidate.fallback or models is None or candidate.model in models

    def steps(self) -> Iterator[tuple[PlannedTarget, PlannedStep]]:
        for target in self.targets:
            for step in target.steps:
                yield target, step


def compile_plan(policy: Policy, *, count_tokens: TokenCounter = utf8_bytes, build_check: CheckBuilder | None = None) -> Plan:
    """The plan of `policy`. `count_tokens` counts a template's tokens; `build_check` builds the validators' checks.

    Raises `PolicyError` only: a `plan-compile` diagnostic at the element
    being compiled when anything else fails (the loader runs this compile, so
    `validate` reports it and `engine()` never meets it first).
    """
    compiler = _Compiler(policy, count_tokens, build_check)
    with compiler.within():
        return compiler.plan()


class _Compiler:
    def __init__(self, policy: Policy, count_tokens: TokenCounter, build_check: CheckBuilder | None) -> None:
        self.policy = policy
        self.spec = policy.spec
        self.count = count_tokens
        self.build_check = build_check
        output = [g for g in self.spec.guardrails if g.stage == "output"]
        self.max_reasks = max((g.max_reasks for g in output if g.action == "reask" and g.mode == "enforce"), default=0)
        self.grounding_judges = [(g.id, g.judge) for g in output if isinstance(g, GroundingGuardrail) and g.judge]
        # the grounding judge's one message: the template, the answer, and the documents (counted apart)
        self.grounding_template = count_tokens(GROUNDING_PROMPT.format(sources="", answer="")) + REPLY_TOKENS + MESSAGE_TOKENS
        self.accepts: dict[str, tuple[PlannedCheck, ...]] = {}
        self.targets: dict[tuple[str, str], PlannedTarget] = {}

    def where(self, *path: str | int) -> str | None:
        return _where(self.policy, *path)

    @contextmanager
    def within(self, *path: str | int) -> Iterator[None]:
        """Compile the element at `path`: a failure inside it becomes a located `plan-compile` diagnostic."""
        try:
            yield
        except CascadePolicyError:  # located already (an inner element's, or the engine's check builder's)
            raise
        except Exception as exc:
            element = ".".join(str(p) for p in path) or "the policy"
            raise PolicyError([Diagnostic(
                "plan-compile", f"{element} cannot be compiled into the execution plan: {type(exc).__name__}: {exc}",
                self.policy.location(path), hint="the policy validated, so this is a bug in cascadepolicy: please report it "
                "with the policy.")]) from exc

    def plan(self) -> Plan:
        spec = self.spec
        guards = [PlannedGuard(f"guard:{rule.id}", index, rule, self.where("guardrails", index))
                  for index, rule in enumerate(spec.guardrails)]
        routes = tuple(self.route(index, route) for index, route in enumerate(spec.routes))
        degrade_to = {b.degrade_to: self.target_by_id(b.degrade_to) for b in _budgets(self.policy) if b.degrade_to}
        targets = tuple(self.targets.values())
        tier_models = {name: frozenset(t.models) if t.models is not None else None for name, t in spec.tiers.items()}
        allowed: dict[tuple[str, str | None], tuple[tuple[PlannedStep, ...], str | None]] = {
            (t.admit, tier): _allowed(t, tier, models) for t in targets for tier, models in tier_models.items() if models is not None}
        input_guards = tuple(g for g in guards if g.rule.stage == "input")
        output_guards = tuple(g for g in guards if g.rule.stage == "output")
        nodes, edges = _Drawing(self.policy, input_guards, routes, targets, degrade_to, tier_models, bool(output_guards)).draw()
        return Plan(input_guards, output_guards, routes, targets, MappingProxyType(degrade_to),
                    MappingProxyType(tier_models), MappingProxyType(compile_limits(self.policy)), nodes, edges,
                    MappingProxyType(allowed))

    # ------------------------------------------------------------ routes and targets

    def route(self, index: int, route: ConditionalRoute | DefaultRoute) -> PlannedRoute:
        where = self.where("routes", index)
        if isinstance(route, DefaultRoute):
            target, condition, on_error = route.default, None, "block"
        else:
            target, condition, on_error = route, self.policy.conditions[index], route.on_error
        with self.within("routes", index):
            planned = self.target(target)
        return PlannedRoute(index, f"route:{index + 1}", route.name, condition, on_error,  # type: ignore[arg-type]
                            planned, target.block, where)

    def target(self, target: Target) -> PlannedTarget | None:
        if target.cascade is not None:
            return self.target_of("cascade", target.cascade)
        if target.model is not None:
            return self.target_of("model", target.model)
        return None

    def target_by_id(self, target_id: str) -> PlannedTarget:
        """A degradation names a cascade or a model; a cascade wins when both have the id."""
        return self.target_of("cascade" if target_id in self.spec.cascades else "model", target_id)

    def target_of(self, kind: Literal["cascade", "model"], target_id: str) -> PlannedTarget:
        key = (kind, target_id)
        found = self.targets.get(key)
        if found is not None:
            return found
        # A model target's admission is `admit:<id>` like a cascade's, unless a cascade has the same id.
        admit = f"admit:{target_id}" if kind == "cascade" or target_id not in self.spec.cascades else f"admit:model:{target_id}"
        if kind == "cascade":
            steps = self.steps(self.spec.cascades[target_id], ("cascades", target_id), f"cascade:{target_id}")
            planned = PlannedTarget(target_id, kind, admit, steps, self.where("cascades", target_id))
        else:
            where = self.where("models", target_id)
            with self.within("models", target_id):
                step = self.step(0, Step(model=target_id), (), f"model:{target_id}", where, None)
            planned = PlannedTarget(target_id, kind, admit, (step,), where)
        self.targets[key] = planned
        return planned

    # ------------------------------------------------------------ steps and their calls

    def steps(self, steps: tuple[Step, ...], path: tuple[str | int, ...], prefix: str) -> tuple[PlannedStep, ...]:
        planned: list[PlannedStep] = []
        for index, step in enumerate(steps):
            # A passed draft is the rejected answer of some earlier step (the one before may have failed),
            # from its model or a fallback.
            with self.within(*path, index):
                earlier = max((c.max_tokens for s in steps[:index] for c in self.chain(s.model)), default=0)
                planned.append(self.step(index, step, (*path, index), f"{prefix}:{index}", self.where(*path, index), earlier))
        return tuple(planned)

    def step(self, index: int, step: Step, path: tuple[str | int, ...], node: str, where: str | None,
             earlier_answer: int | None) -> PlannedStep:
        chain = self.chain(step.model)
        answer = max(c.max_tokens for c in chain)
        base = 0
        if step.pass_draft and earlier_answer:
            base = 2 * MESSAGE_TOKENS + earlier_answer + FEEDBACK_MAX_TOKENS
        reasks = self.max_reasks if step.guardrails else 0
        per_reask = 2 * MESSAGE_TOKENS + answer + FEEDBACK_MAX_TOKENS
        calls = [Call("draft", chain, Prompt(base))]
        calls += [Call("reask", chain, Prompt(base + k * per_reask), k) for k in range(1, reasks + 1)]
        if step.guardrails:
            for guard_id, judge in self.grounding_judges:
                prompt = Prompt(self.grounding_template + answer + JOIN_SLACK_TOKENS, request=False, documents=True)
                calls += [Call("grounding", self.chain(judge), prompt, k, guard_id) for k in range(reasks + 1)]
        accept = None
        if step.accept is not None:
            rule = step.accept
            checks = self.accept_checks(rule.validators)
            accept = AcceptRule(f"{node}:accept", rule.validators, rule.min_score, tuple(rule.min_score_by_complexity.items()),
                                checks, self.where(*path, "accept"))
            for position, planned_check in enumerate(checks):
                spec = planned_check.spec
                if isinstance(spec, JudgeCheck):
                    template = self.count(_judge_template(spec))
                    prompt = Prompt(template + answer + 2 * JOIN_SLACK_TOKENS)  # the question is part of the request
                    calls.append(Call("judge", self.chain(spec.model), prompt, 0, f"validators.{rule.validators}[{position}]"))
        return PlannedStep(index, node, step.model, accept, step.guardrails, step.pass_draft, reasks, where, tuple(calls))

    def chain(self, model_id: str) -> tuple[Candidate, ...]:
        models, prices = self.spec.models, self.policy.prices
        spec = models[model_id]
        ids = [(model_id, False), *((f, True) for f in spec.fallbacks)]
        return tuple(Candidate(m, models[m].max_tokens, models[m].prompt_overhead_tokens, prices[m], fallback) for m, fallback in ids)

    def accept_checks(self, name: str) -> tuple[PlannedCheck, ...]:
        found = self.accepts.get(name)
        if found is None:
            build = self.build_check
            checks = []
            for index, spec in enumerate(self.spec.validators[name]):
                with self.within("validators", name, index):
                    checks.append(PlannedCheck(spec, spec.weight, spec.required, self.where("validators", name, index),
                                               build(name, index, spec) if build is not None else None))
            found = self.accepts[name] = tuple(checks)
        return found


def _judge_template(check: JudgeCheck) -> str:
    from cascadepolicy.quality.model import DEFAULT_RUBRIC, JUDGE_TEMPLATE

    return JUDGE_TEMPLATE.format(rubric=check.rubric or DEFAULT_RUBRIC, prompt="", answer="")


def _allowed(target: PlannedTarget, tier: str, models: frozenset[str]) -> tuple[tuple[PlannedStep, ...], str | None]:
    kept = tuple(s for s in target.steps if s.model in models)
    if not kept:
        return (), f"tier {tier!r} may not call any model of this route ({', '.join(s.model for s in target.steps)})"
    return kept, None


def _where(policy: Policy, *path: str | int) -> str | None:
    loc = policy.location(path)
    return str(loc) if loc else None


def _budgets(policy: Policy) -> list[Budget]:
    spec = policy.spec
    return [b for b in ([t.budget for t in spec.tiers.values()] + [limit.budget for limit in spec.limits]) if b is not None]


# ---------------------------------------------------------------- nodes and edges

class _Drawing:
    """The plan's nodes, in the order a request meets them, and every transition the runtime can take."""

    def __init__(self, policy: Policy, input_guards: tuple[PlannedGuard, ...], routes: tuple[PlannedRoute, ...],
                 targets: tuple[PlannedTarget, ...], degrade_to: Mapping[str, PlannedTarget],
                 tier_models: Mapping[str, frozenset[str] | None], has_output: bool) -> None:
        self.policy = policy
        self.input_guards = input_guards
        self.routes = routes
        self.targets = targets
        self.degrade_to = degrade_to
        self.tier_models = tier_models
        self.has_output = has_output
        self.output_blocks = any(g.stage == "output" and g.mode == "enforce" for g in policy.spec.guardrails)
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []

    def written(self, value: str, *path: str | int) -> str:
        return self.policy.written(tuple(path), value)

    def add(self, node: Node) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def edge(self, source: str, target: str, label: str = "") -> None:
        self.edges.append(Edge(source, target, label))

    def draw(self) -> tuple[tuple[Node, ...], tuple[Edge, ...]]:
        written = self.written
        previous = self.add(Node("start", "start", "request", None))
        self.edge("start", "blocked", "unknown tier or invalid context")
        for guard in self.input_guards:
            rule, i = guard.rule, guard.index
            node = self.add(Node(guard.node, "guardrail", f"{written(rule.check, 'guardrails', i, 'check')} → "
                                 f"{written(rule.action, 'guardrails', i, 'action')} ({written(rule.mode, 'guardrails', i, 'mode')})",
                                 guard.location))
            self.edge(previous, node, "pass")
            if rule.action == "block" and rule.mode == "enforce":
                self.edge(node, "blocked", "fired")
            elif rule.on_timeout == "block" and rule.mode == "enforce":
                self.edge(node, "blocked", "check failed")
            previous = node
        for route in self.routes:
            self.draw_route(route, previous)
            previous = route.node
        for degrade in sorted(self.degrade_to):
            self.draw_target(self.degrade_to[degrade])
        self.add(Node("settle", "settle", "settle the actual cost, release the rest of the reservation", _where(self.policy, "store")))
        self.add(Node("blocked", "end", "refused (reason, retry-after)", None))
        self.add(Node("failed", "end", "error: no step produced an answer", None))
        self.add(Node("answered", "end", "answer + decision record", None))
        self.edge("settle", "answered")
        return tuple(self.nodes.values()), tuple(dict.fromkeys(self.edges))

    def draw_route(self, route: PlannedRoute, previous: str) -> None:
        written, i = self.written, route.index
        default = route.condition is None
        if default:
            label = f"{written(route.name, 'routes', i, 'name') if route.name else 'default'}: default"
            edge_label = "always"
        else:
            assert route.condition is not None
            name = written(route.name, 'routes', i, 'name') if route.name else f"route {i + 1}"
            label = f"{name}: {written(route.condition.source, 'routes', i, 'when')}"
            edge_label = "true"
            if route.on_error == "block":
                self.edge(route.node, "blocked", "condition error")
        self.add(Node(route.node, "route", label, route.location))
        self.edge(previous, route.node, "" if i == 0 else "false")
        if route.target is None:
            block = written(route.block or "", "routes", i, *(("default",) if default else ()), "block")
            self.add(Node(route.block_node, "block", f"block: {block}", route.location))
            self.edge(route.node, route.block_node, edge_label)
            self.edge(route.block_node, "blocked")
        else:
            self.edge(route.node, self.draw_target(route.target), edge_label)

    def draw_target(self, target: PlannedTarget) -> str:
        admit = target.admit
        if admit in self.nodes:
            return admit
        self.add(Node(admit, "admission", f"reserve the worst case of {target.id}: windows, budgets, limits",
                      _where(self.policy, "tiers") or _where(self.policy, "limits")))
        self.edge(admit, "blocked", "refused")
        for other in sorted(self.degrade_to, key=lambda d: self.degrade_to[d].admit):
            if self.degrade_to[other] is not target:
                self.edge(admit, self.degrade_to[other].admit, "degrade")
        steps = target.steps
        written = self.written
        for position, step in enumerate(steps):
            if target.kind == "cascade":
                model = written(step.model, "cascades", target.id, step.index, "model")
                label = f"{target.id} step {step.index + 1}: call {model}"
            else:
                label = f"call {target.id}"
            self.add(Node(step.node, "step", label, step.location))
            if position == 0:
                self.edge(admit, step.node, "admitted")
            nxt = steps[position + 1].node if position + 1 < len(steps) else None
            if step.accept is not None:
                accept = step.accept
                validators = written(accept.validators, "cascades", target.id, step.index, "accept", "validators")
                self.add(Node(accept.node, "accept", f"score {validators} ≥ {accept.min_score}", accept.location))
                self.edge(step.node, accept.node, "output guardrails" if self.has_output and step.guardrails else "answer")
                self.edge(accept.node, "settle", "accept")
                if nxt:
                    self.edge(accept.node, nxt, "escalate")
            else:
                self.edge(step.node, "settle", "answer")
            if nxt:
                self.edge(step.node, nxt, "failed or rejected by a guardrail")
            else:
                self.edge(step.node, "failed", "provider error")
            if self.output_blocks and step.guardrails:
                self.edge(step.node, "blocked", "output guardrail")
            if step.max_reasks:
                self.edge(step.node, step.node, f"reask (at most {step.max_reasks})")
        self.draw_tier_skips(target)
        return admit

    def draw_tier_skips(self, target: PlannedTarget) -> None:
        """A tier that may not call some steps' models passes over them."""
        for tier, models in self.tier_models.items():
            if models is None:
                continue
            kept = [s for s in target.steps if s.model in models]
            if not kept:
                continue
            label = f"tier {self.written(tier, 'tiers', tier)}"
            pairs = zip([None, *kept], kept, strict=False)
            for before, after in pairs:
                first = before is None
                if first and after.index != 0:
                    self.edge(target.admit, after.node, label)
                elif not first and before is not None and after.index != before.index + 1:
                    self.edge(before.node, after.node, label)
                    if before.accept is not None:
                        self.edge(before.accept.node, after.node, label)
