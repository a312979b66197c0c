"""The reference docs cover every diagnostic code and every key of the language."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cascadepolicy.diagnostics import CODES

ROOT = Path(__file__).resolve().parent.parent.parent


def test_every_code_is_documented() -> None:
    text = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### `([a-z-]+)`$", text, re.MULTILINE))
    assert headings == set(CODES)


def test_every_schema_key_is_in_the_language_reference() -> None:
    text = (ROOT / "docs" / "policy-language.md").read_text(encoding="utf-8")
    schema = json.loads((ROOT / "schemas" / "policy.schema.json").read_text(encoding="utf-8"))
    keys: set[str] = set(schema["properties"])
    for definition in schema["$defs"].values():
        keys |= set(definition.get("properties", {}))
    missing = sorted(k for k in keys if f"`{k}`" not in text)
    assert missing == []


def test_every_check_kind_is_in_the_language_reference() -> None:
    text = (ROOT / "docs" / "policy-language.md").read_text(encoding="utf-8")
    schema = json.loads((ROOT / "schemas" / "policy.schema.json").read_text(encoding="utf-8"))
    kinds = {d["properties"]["check"]["const"] for d in schema["$defs"].values()
             if "const" in d.get("properties", {}).get("check", {})}
    assert len(kinds) > 10
    assert sorted(k for k in kinds if f"`check: {k}`" not in text) == []
