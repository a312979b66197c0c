"""The evaluation graph of a policy: the plan's nodes and edges, rendered.

The nodes and edges are the plan's (`cascadepolicy.compile.plan`), the same
objects the engine walks: input guardrails, the ordered routes, admission,
each step as call → output guardrails (reasks) → validate → accept or
escalate, tier skips, degradation, and settlement. Every node keeps the
`file:line:col` of the policy element it came from. `cascadepolicy graph`
prints it as text or Mermaid. Labels show policy values as written, so a
value interpolated from the environment appears as its `${VAR}` reference;
the rendering masks any such value left in an id or label as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cascadepolicy.compile.plan import Edge, Node, compile_plan
from cascadepolicy.scrub import Masker

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy


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


__all__ = ["Edge", "Graph", "Node", "build_graph"]


def _mid(node_id: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in node_id)


def build_graph(policy: Policy) -> Graph:
    """The plan's nodes, in the order a request meets them, and its edges; decision traces list node ids."""
    plan = compile_plan(policy)
    return Graph(plan.nodes, plan.edges, policy.masker)
