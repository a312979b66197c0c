"""The public surface: a sorted `__all__`, and an import that stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cascadepolicy

ROOT = Path(__file__).resolve().parents[2]


def test_all_is_sorted_and_importable() -> None:
    assert cascadepolicy.__all__ == sorted(cascadepolicy.__all__)
    for name in cascadepolicy.__all__:
        assert hasattr(cascadepolicy, name), name


def test_importing_the_package_does_not_import_litellm() -> None:
    code = "import sys, cascadepolicy; print('litellm' in sys.modules, 'tiktoken' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_loading_a_policy_does_not_import_litellm() -> None:
    code = ("import sys, cascadepolicy; cascadepolicy.load('policies/saas.yaml'); "
            "print('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    assert out == "False"
