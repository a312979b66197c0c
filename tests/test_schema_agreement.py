"""The JSON Schema and the pydantic models agree.

The schema is generated from the models (one source of truth); these tests
prove the committed file is up to date, documents every property, accepts
every policy the models accept and rejects what the schema stage rejects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from cascadepolicy.loading.compose import compose
from cascadepolicy.loading.schema_export import generate, render
from cascadepolicy.loading.source import load_file

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).parent / "cases"
SCHEMA_FILE = ROOT / "schemas" / "policy.schema.json"
ENV = {"REDIS_URL": "redis://127.0.0.1:6379/0"}
# Checks the schema language cannot express; the models (and `validate`) make them.
NOT_IN_SCHEMA = {"schema-timezone"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_committed_schema_is_generated_from_the_models() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(generate()), \
        "schemas/policy.schema.json is stale: run `python -m cascadepolicy.loading.schema_export`"


def test_shipped_copy_is_the_linked_file() -> None:
    shipped = ROOT / "cascadepolicy" / "schemas" / "policy.schema.json"
    assert SCHEMA_FILE.resolve() == shipped.resolve()


def _properties(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            yield f"{where}/properties/{name}", sub
        for key, value in node.items():
            if key not in ("if", "then", "else", "not"):  # constraints, not declarations
                yield from _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _properties(value, f"{where}/{index}")


def test_every_property_has_a_description(schema: dict[str, Any]) -> None:
    found = list(_properties(schema))
    assert len(found) > 100
    missing = [where for where, sub in found if not (isinstance(sub, dict) and sub.get("description"))]
    assert missing == []


def test_top_level_sections_are_all_in_the_schema(schema: dict[str, Any]) -> None:
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"version", "name", "models", "routes"}
    assert {"context", "models", "store", "tiers", "limits", "guardrails", "validators", "cascades",
            "routes", "extends"} <= set(schema["properties"])


def _valid_documents() -> list[Path]:
    policies = sorted(p for p in (ROOT / "policies").glob("*.yaml") if not p.name.endswith("_test.yaml"))
    return policies + sorted((CASES / "valid").glob("*.yaml")) \
        + sorted((CASES / "warning").glob("*.yaml"))


@pytest.mark.parametrize("path", _valid_documents(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_accepted_policies_validate_against_the_schema(path: Path, validator: Draft202012Validator) -> None:
    document, diagnostics = compose(path, str(path), ENV)
    assert document is not None and not [d for d in diagnostics if d.is_error]
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document.data)]
    assert errors == []


def _schema_cases() -> list[Path]:
    out = []
    for path in sorted((CASES / "invalid").glob("schema-*.yaml")):
        code = path.read_text(encoding="utf-8").split()[2]
        if code not in NOT_IN_SCHEMA:
            out.append(path)
    return out


def test_every_schema_code_is_covered() -> None:
    codes = {p.read_text(encoding="utf-8").split()[2] for p in _schema_cases()}
    assert codes >= {"schema-unknown-key", "schema-type", "schema-enum", "schema-range", "schema-missing-key",
                     "schema-duration", "schema-pattern", "schema-version", "schema-invalid", "schema-secret"}


@pytest.mark.parametrize("path", _schema_cases(), ids=lambda p: p.stem)
def test_schema_errors_are_rejected_by_the_schema_too(path: Path, validator: Draft202012Validator) -> None:
    document, diagnostics = load_file(path)
    assert document is not None and diagnostics == []
    assert list(validator.iter_errors(document.data)), f"the JSON Schema accepts {path.name}"
