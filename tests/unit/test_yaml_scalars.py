"""Scalars ruamel.yaml's constructors fail on are a located yaml-syntax error, never an internal error."""

from __future__ import annotations

import pytest

import cascadepolicy


@pytest.mark.parametrize("text", ["+_", "-_", "0x_", "0b_", "0o_", "._", "a: +_", "version: 1\nname: +_\n"])
def test_a_scalar_the_yaml_library_cannot_construct_is_a_syntax_error(text: str) -> None:
    result = cascadepolicy.check_text(text, "odd.yaml")
    assert [d.code for d in result.diagnostics] == ["yaml-syntax"]
    assert str(result.diagnostics[0].location).startswith("odd.yaml:")
