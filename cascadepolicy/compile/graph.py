"""The evaluation graph of a policy, as explicit nodes and edges.

This is the plan the engine walks: input guardrails, admission, the ordered
routes, each cascade step as call → output guardrails → validate → accept or
escalate, and settlement. Every node keeps the `file:line:col` of the policy
element it came from. `cascadepolicy graph` prints it as text or Mermaid.
Labels show policy values as written, so a value interpolated from the
environment appears as its `${VAR}` reference; the rendering masks any such
value left in an id or label as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cascadepolicy.language.model import Budget, ConditionalRoute, DefaultRoute, Target
from cascadepolicy.scrub import Masker

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # start | guardrail | admission | route | block | step | accept | settle | end
    label: str
    location: str | None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    masker: Masker = field(default_factory=Masker, compare=False)  # the policy's, applied when rendering

    def to_text(self) -> str:
        lines = []
        outgoing: dict[str, list[Edge]] = {}
        for edge in self.edges:
            outgoing.setdefault(edge.source, []).append(edge)
        for node in self.nodes:
            where = f"  ({node.location})" if node.location else ""
            lines.append(f"[{node.kind}] {node.id}: {node.label}{where}")
            for edge in outgoing.get(node.id, []):
                label = f" [{edge.label}]" if edge.label else ""
                lines.append(f"    -> {edge.target}{label}")
        return self.masker.text("\n".join(lines) + "\n")

    def to_mermaid(self) -> str:
        shapes = {"route": ("{", "}"), "accept": ("{", "}"), "block": ("[/", "/]"), "start": ("((", "))"), "end": ("((", "))")}
        shown, mid = self.masker.text, lambda node_id: _mid(self.masker.text(node_id))
        lines = ["flowchart TD"]
        for node in self.nodes:
            left, right = shapes.get(node.kind, ("[", "]"))
            label = shown(node.label).replace('"', "'")
            lines.append(f'    {mid(node.id)}{left}"{label}"{right}')
        for edge in self.edges:
            label = f"|{shown(edge.label).replace('|', '/')}|" if edge.label else ""
            lines.append(f"    {mid(edge.source)} -->{label} {mid(edge.target)}")
        return "\n".join(lines) + "\n"


def _mid(node_id: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in node_id)


def build_graph(policy: Policy) -> Graph:
    """The plan the engine walks, in its order; decision records list the ids of the nodes they passed."""
    spec = policy.spec
    nodes: list[Node] = []
    edges: list[Edge] = []
    ids: set[str] = set()

    def where(*path: str | int) -> str | None:
        loc = policy.location(tuple(path))
        return str(loc) if loc else None

    def written(value: str, *path: str | int) -> str:
        return policy.written(tuple(path), value)

    def add(node: Node) -> str:
        if node.id not in ids:
            ids.add(node.id)
            nodes.append(node)
        return node.id

    previous = add(Node("start", "start", "request", None))
    edges.append(Edge("start", "blocked", "unknown tier or invalid context"))
    for index, rule in enumerate(spec.guardrails):
        if rule.stage != "input":
            continue
        node = add(Node(f"guard:{rule.id}", "guardrail", f"{written(rule.check, 'guardrails', index, 'check')} → "
                        f"{written(rule.action, 'guardrails', index, 'action')} ({written(rule.mode, 'guardrails', index, 'mode')})",
                        where("guardrails", index)))
        edges.append(Edge(previous, node, "pass"))
        if rule.action == "block" and rule.mode == "enforce":
            edges.append(Edge(node, "blocked", "fired"))
        elif rule.on_timeout == "block" and rule.mode == "enforce":
            edges.append(Edge(node, "blocked", "check failed"))
        previous = node
    output_blocks = any(g.stage == "output" and g.mode == "enforce" for g in spec.guardrails)

    has_output = any(g.stage == "output" for g in spec.guardrails)
    degrade_targets = {b.degrade_to for b in _budgets(policy) if b.degrade_to}

    def target_entry(target_id: str) -> str:
        """The admission node of a target, with the steps behind it."""
        admit = f"admit:{target_id}"
        if admit in ids:
            return admit
        add(Node(admit, "admission", f"reserve the worst case of {target_id}: windows, budgets, limits", where("tiers") or where("limits")))
        edges.append(Edge(admit, "blocked", "refused"))
        for other in sorted(degrade_targets - {target_id}):
            edges.append(Edge(admit, f"admit:{other}", "degrade"))
        if target_id in spec.cascades:
            steps = spec.cascades[target_id]
            for index, step in enumerate(steps):
                step_id = add(Node(f"cascade:{target_id}:{index}", "step",
                                   f"{target_id} step {index + 1}: call {written(step.model, 'cascades', target_id, index, 'model')}",
                                   where("cascades", target_id, index)))
                if index == 0:
                    edges.append(Edge(admit, step_id, "admitted"))
                nxt = f"cascade:{target_id}:{index + 1}" if index + 1 < len(steps) else None
                if step.accept:
                    validators = written(step.accept.validators, "cascades", target_id, index, "accept", "validators")
                    accept_id = add(Node(f"{step_id}:accept", "accept", f"score {validators} ≥ {step.accept.min_score}",
                                         where("cascades", target_id, index, "accept")))
                    edges.append(Edge(step_id, accept_id, "output guardrails" if has_output and step.guardrails else "answer"))
                    edges.append(Edge(accept_id, "settle", "accept"))
                    if nxt:
                        edges.append(Edge(accept_id, nxt, "escalate"))
                else:
                    edges.append(Edge(step_id, "settle", "answer"))
                if nxt:
                    edges.append(Edge(step_id, nxt, "failed or rejected by a guardrail"))
                else:
                    edges.append(Edge(step_id, "failed", "provider error"))
                if output_blocks and step.guardrails:
                    edges.append(Edge(step_id, "blocked", "output guardrail"))
        else:
            model_id = add(Node(f"model:{target_id}", "step", f"call {target_id}", where("models", target_id)))
            edges.append(Edge(admit, model_id, "admitted"))
            edges.append(Edge(model_id, "settle", "answer"))
            edges.append(Edge(model_id, "failed", "provider error"))
            if output_blocks:
                edges.append(Edge(model_id, "blocked", "output guardrail"))
        return admit

    for index, route in enumerate(spec.routes):
        route_id = f"route:{index + 1}"
        if isinstance(route, DefaultRoute):
            target: Target = route.default
            label = f"{written(route.name, 'routes', index, 'name') if route.name else 'default'}: default"
            edge_label = "always"
        else:
            assert isinstance(route, ConditionalRoute)
            target = route
            label = f"{written(route.name, 'routes', index, 'name') if route.name else f'route {index + 1}'}: {written(route.when, 'routes', index, 'when')}"
            edge_label = "true"
            if route.on_error == "block":
                edges.append(Edge(route_id, "blocked", "condition error"))
        add(Node(route_id, "route", label, where("routes", index)))
        edges.append(Edge(previous, route_id, "" if index == 0 else "false"))
        if target.block is not None:
            block = written(target.block, "routes", index, *(("default",) if isinstance(route, DefaultRoute) else ()), "block")
            block_id = add(Node(f"{route_id}:block", "block", f"block: {block}", where("routes", index)))
            edges.append(Edge(route_id, block_id, edge_label))
            edges.append(Edge(block_id, "blocked"))
        else:
            edges.append(Edge(route_id, target_entry(target.cascade or target.model or ""), edge_label))
        previous = route_id
    for degrade_to in sorted(degrade_targets):
        target_entry(degrade_to)
    add(Node("settle", "settle", "settle the actual cost, release the rest of the reservation", where("store")))
    add(Node("blocked", "end", "refused (reason, retry-after)", None))
    add(Node("failed", "end", "error: no step produced an answer", None))
    add(Node("answered", "end", "answer + decision record", None))
    edges.append(Edge("settle", "answered"))
    return Graph(tuple(nodes), tuple(edges), policy.masker)


def _budgets(policy: Policy) -> list[Budget]:
    spec = policy.spec
    return [b for b in ([t.budget for t in spec.tiers.values()] + [limit.budget for limit in spec.limits]) if b is not None]
