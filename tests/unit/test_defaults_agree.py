"""Every validator parameter is defined once: its default is the same wherever it appears.

The source is the check's model in `cascadepolicy.language.model`; the runtime
checks (`cascadepolicy.quality`) take the validated model and define no
parameter of their own; the JSON Schema is generated from the models; the
language reference (docs/policy-language.md) and docs/validators.md state
the defaults in prose tables, which are read back here.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from cascadepolicy.language import model as lang
from cascadepolicy.quality.registry import CHECKS, check_params, runtime_class

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "policy.schema.json").read_text(encoding="utf-8"))
GUARDRAILS: dict[str, type[BaseModel]] = {
    typing.get_args(cls.model_fields["check"].annotation)[0]: cls for cls in typing.get_args(typing.get_args(lang.Guardrail)[0])
}
ROW = re.compile(r"^\| `(?P<key>[a-z_]+)` \| (?P<type>.*?) \| (?P<default>\*\*required\*\*|—|`[^`]*`) \| (?P<description>.*) \|$")


def model_defaults(cls: type[BaseModel]) -> dict[str, Any]:
    """Key (as written in a policy) -> default in JSON terms; required keys are absent."""
    out = {}
    for name, info in cls.model_fields.items():
        if not info.is_required():
            out[info.alias or name] = json.loads(json.dumps(info.get_default(call_default_factory=True)))
    return out


def rendered(value: Any) -> str:
    """A default as the language reference writes it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list | dict) and value:
        return f"`{value!r}`"
    return f"`{value}`" if not isinstance(value, list | dict) else ("`[]`" if isinstance(value, list) else "`{}`")


def reference_tables(section: str, until: str) -> dict[str, dict[str, re.Match[str]]]:
    """`check: kind` -> key -> its table row, in one section of the language reference."""
    text = (ROOT / "docs" / "policy-language.md").read_text(encoding="utf-8")
    body = text[text.index(section):text.index(until)]
    tables: dict[str, dict[str, re.Match[str]]] = {}
    kind = None
    for line in body.splitlines():
        heading = re.match(r"^`check: ([a-z_]+)`", line)
        if heading:
            kind = heading.group(1)
            tables[kind] = {}
        elif kind and (row := ROW.match(line)):
            tables[kind][row["key"]] = row
    return tables


def test_the_runtime_checks_take_the_model_and_define_no_parameter() -> None:
    for kind, spec in CHECKS.items():
        cls = runtime_class(kind)
        assert list(inspect.signature(cls).parameters) == ["spec"], kind
        own = {name for klass in cls.__mro__ if klass is not object for name in vars(klass)}
        assert not own & set(spec.model_fields) - {"check"}, f"{kind} repeats parameters of {spec.__name__}"


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_model_and_json_schema_defaults_agree(kind: str) -> None:
    cls = CHECKS[kind]
    properties = SCHEMA["$defs"][cls.__name__]["properties"]
    for key, default in model_defaults(cls).items():
        if "default" in properties[key]:
            assert properties[key]["default"] == default, f"{kind}.{key}"
    assert {key: spec["default"] for key, spec in check_params(kind).items() if not spec["required"]} == {
        key: cls.model_fields[key if key != "schema" else "json_schema"].get_default(call_default_factory=True)
        for key in model_defaults(cls) if key not in ("weight", "required")}


@pytest.mark.parametrize(("section", "until", "models"), [
    ("## `validators`", "## `cascades`", CHECKS),
    ("## `guardrails`", "## `validators`", GUARDRAILS),
], ids=["validators", "guardrails"])
def test_language_reference_states_the_model_defaults(section: str, until: str, models: dict[str, type[BaseModel]]) -> None:
    tables = reference_tables(section, until)
    assert set(tables) == set(models)
    for kind, cls in models.items():
        defaults = model_defaults(cls)
        fields = {info.alias or name: info for name, info in cls.model_fields.items()}
        assert set(tables[kind]) == set(fields), kind
        for key, row in tables[kind].items():
            expected = "**required**" if key not in defaults else rendered(defaults[key])
            assert row["default"] == expected, f"check: {kind}, key {key}: the reference says {row['default']}"
            assert row["description"].startswith(fields[key].description or ""), f"check: {kind}, key {key}"


def test_no_description_restates_a_default() -> None:
    """A default is stated by the model's default, not in prose that can drift from it."""
    for kind, cls in CHECKS.items():
        for name, info in cls.model_fields.items():
            assert "(default" not in (info.description or ""), f"{kind}.{name}: {info.description}"


def test_validators_guide_states_the_model_defaults() -> None:
    """docs/validators.md writes `param` (default, ...) in prose: each literal default is the model's."""
    text = (ROOT / "docs" / "validators.md").read_text(encoding="utf-8")
    checked = 0
    for line in text.splitlines():
        row = re.match(r"^\| `([a-z_]+)` \| (.*?) \| ", line)
        if not row or row.group(1) not in CHECKS:
            continue
        defaults = model_defaults(CHECKS[row.group(1)])
        for key, written in re.findall(r"`([a-z_]+)` \(([^;,)]*)", row.group(2)):
            if key not in defaults:
                continue
            try:
                value = yaml.safe_load(written.replace("`", ""))
            except yaml.YAMLError:
                continue
            if isinstance(value, bool) or value is None or isinstance(value, int | float | list):
                assert _same(value, defaults[key]), f"validators.md: {row.group(1)}.{key} ({written}) vs {defaults[key]!r}"
                checked += 1
    assert checked >= 20


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b or a == b and type(a) is type(b)
    return float(a) == float(b)
