"""docs/migrating.md stays true: every policy it shows validates, every Python block compiles.

A YAML block that starts with `version: 1` is a policy and must pass
`cascadepolicy validate` with no error; the others are the "before" side
(LiteLLM configuration). Python blocks are compiled (top-level `await`
allowed, as in a notebook) and the cascadepolicy names they use must exist.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import cascadepolicy
from cascadepolicy.runtime.decision import Decision
from cascadepolicy.runtime.engine import Engine

DOC = Path(__file__).resolve().parents[1] / "docs" / "migrating.md"
BLOCKS = re.findall(r"```(yaml|python)\n(.*?)```", DOC.read_text(), re.S)
POLICIES = [text for kind, text in BLOCKS if kind == "yaml" and text.startswith("version: 1")]
PYTHON = [text for kind, text in BLOCKS if kind == "python"]


def test_the_guide_has_its_three_migrations() -> None:
    assert len(POLICIES) == 3 and len(PYTHON) >= 5


@pytest.mark.parametrize("text", POLICIES, ids=[f"policy-{i}" for i in range(len(POLICIES))])
def test_every_policy_in_the_guide_validates(text: str) -> None:
    result = cascadepolicy.check_text(text, "migrating.md", environ={})
    assert not result.errors, [str(d) for d in result.errors]


@pytest.mark.parametrize("text", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_every_python_block_compiles_and_names_real_api(text: str) -> None:
    tree = compile(text, "migrating.md", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "cascadepolicy":
            assert hasattr(cascadepolicy, node.attr), f"cascadepolicy.{node.attr} does not exist"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "engine":
            assert hasattr(Engine, node.attr), f"Engine.{node.attr} does not exist"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "decision":
            assert node.attr in Decision.__dataclass_fields__ or hasattr(Decision, node.attr), node.attr
