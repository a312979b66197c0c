"""No import cycles in the package, counting imports inside functions.

`if TYPE_CHECKING:` blocks never run and do not count. The same reading as
../shared/tools/import_cycles.py --lazy, kept here so the test runs anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "cascadepolicy"


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        dotted = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        names[dotted.removesuffix(".__init__")] = path
    return names


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = name.split(".")
                    parts = parts[: len(parts) - node.level + (path.name == "__init__.py")]
                    base = ".".join([*parts, *([base] if base else [])])
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
            for field in ("body", "orelse", "finalbody"):  # functions, classes, if/try/with/for/while
                visit(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {m for m in found if m in known and m != name}


def cycles() -> list[list[str]]:
    known = module_names()
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            strong(v)
    return found


def test_the_package_has_no_import_cycles() -> None:
    assert cycles() == []


def test_imports_inside_functions_count(tmp_path: Path) -> None:
    # The reading itself: a lazy import back into the package is an edge.
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from cascadepolicy.policy import Policy\n", encoding="utf-8")
    known = {"cascadepolicy.policy": PACKAGE / "policy.py", "cascadepolicy.m": path}
    assert imports_of("cascadepolicy.m", path, known) == {"cascadepolicy.policy"}
