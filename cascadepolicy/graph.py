"""The evaluation graph of a policy, as explicit nodes and edges.

This is the plan the engine walks: input guardrails, admission, the ordered
routes, each cascade step as call → output guardrails → validate → accept or
escalate, and settlement. Every node keeps the `file:line:col` of the policy
element it came from. `cascadepolicy graph` prints it as text or Mermaid.
"""

from __future__ import annotations

from dataclasses import dataclass

from cascadepolicy.model import ConditionalRoute, DefaultRoute, Target
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
        return "\n".join(lines) + "\n"

    def to_mermaid(self) -> str:
        shapes = {"route": ("{", "}"), "accept": ("{", "}"), "block": ("[/", "/]"), "start": ("((", "))"), "end": ("((", "))")}
        lines = ["flowchart TD"]
        for node in self.nodes:
            left, right = shapes.get(node.kind, ("[", "]"))
            label = node.label.replace('"', "'")
            lines.append(f'    {_mid(node.id)}{left}"{label}"{right}')
        for edge in self.edges:
            label = f"|{edge.label.replace('|', '/')}|" if edge.label else ""
            lines.append(f"    {_mid(edge.source)} -->{label} {_mid(edge.target)}")
        return "\n".join(lines) + "\n"


def _mid(node_id: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in node_id)


def build_graph(policy: Policy) -> Graph:
    spec = policy.spec
    nodes: list[Node] = []
    edges: list[Edge] = []

    def where(*path: str | int) -> str | None:
        loc = policy.location(tuple(path))
        return str(loc) if loc else None

    def add(node: Node) -> str:
        nodes.append(node)
        return node.id

    previous = add(Node("start", "start", "request", None))
    for index, rule in enumerate(spec.guardrails):
        if rule.stage != "input":
            continue
        node = add(Node(f"guard:{rule.id}", "guardrail", f"{rule.check} → {rule.action} ({rule.mode})", where("guardrails", index)))
        edges.append(Edge(previous, node, "pass"))
        if rule.action == "block":
            edges.append(Edge(node, "blocked", "fired"))
        previous = node
    admission = add(Node("admission", "admission", "reserve worst case: rate windows, budgets, limits", where("tiers") or where("limits")))
    edges.append(Edge(previous, admission))
    edges.append(Edge(admission, "blocked", "refused"))
    previous = admission
    step_entry: dict[str, str] = {}
    for name, steps in spec.cascades.items():
        for index, step in enumerate(steps):
            step_id = f"cascade:{name}:{index}"
            label = f"{name} step {index + 1}: call {step.model}"
            add(Node(step_id, "step", label, where("cascades", name, index)))
            if index == 0:
                step_entry[name] = step_id
            has_output = any(g.stage == "output" for g in spec.guardrails) and step.guardrails
            last = index == len(steps) - 1
            nxt = f"cascade:{name}:{index + 1}" if not last else None
            if step.accept:
                accept_id = add(Node(f"{step_id}:accept", "accept", f"score {step.accept.validators} ≥ {step.accept.min_score}",
                                     where("cascades", name, index, "accept")))
                edges.append(Edge(step_id, accept_id, "output guardrails" if has_output else "answer"))
                edges.append(Edge(accept_id, "settle", "accept"))
                if nxt:
                    edges.append(Edge(accept_id, nxt, "escalate"))
            else:
                edges.append(Edge(step_id, "settle", "answer"))
            if has_output and nxt:
                edges.append(Edge(step_id, nxt, "guardrail escalate"))
    for index, route in enumerate(spec.routes):
        route_id = f"route:{index + 1}"
        if isinstance(route, DefaultRoute):
            target: Target = route.default
            label = f"{route.name or 'default'}: default"
            edge_label = "always"
        else:
            assert isinstance(route, ConditionalRoute)
            target = route
            label = f"{route.name or f'route {index + 1}'}: {route.when}"
            edge_label = "true"
        add(Node(route_id, "route", label, where("routes", index)))
        edges.append(Edge(previous, route_id, "" if index == 0 else "false"))
        if target.block is not None:
            block_id = add(Node(f"{route_id}:block", "block", f"block: {target.block}", where("routes", index)))
            edges.append(Edge(route_id, block_id, edge_label))
        elif target.cascade is not None:
            edges.append(Edge(route_id, step_entry.get(target.cascade, target.cascade), edge_label))
        elif target.model is not None:
            model_id = f"model:{target.model}"
            if model_id not in {n.id for n in nodes}:
                add(Node(model_id, "step", f"call {target.model}", where("models", target.model)))
                edges.append(Edge(model_id, "settle", "answer"))
            edges.append(Edge(route_id, model_id, edge_label))
        previous = route_id
    add(Node("settle", "settle", "output checks done: settle actual cost, release the rest", where("store")))
    add(Node("blocked", "end", "refused (reason, retry-after)", None))
    add(Node("answered", "end", "answer + decision record", None))
    edges.append(Edge("settle", "answered"))
    return Graph(tuple(nodes), tuple(edges))
