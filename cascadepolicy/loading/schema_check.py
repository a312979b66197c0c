"""Stage 3: check the composed data against the policy model.

Validation is done by the pydantic models in `cascadepolicy.language.model`,
the same models the JSON Schema is generated from, so the schema an editor
shows and the checks `validate` runs cannot drift apart. Each pydantic error
becomes a located `schema-*` diagnostic through the one translator
(`pydantic_errors`), which test suites use too.
"""

from __future__ import annotations

from typing import Any

from cascadepolicy.diagnostics import Diagnostic
from cascadepolicy.language.model import ConditionalRoute, DefaultRoute, PolicyDocument
from cascadepolicy.loading.pydantic_errors import Dialect, validate
from cascadepolicy.loading.source import SourceMap

POLICY = Dialect(
    root=PolicyDocument,
    codes={kind: f"schema-{kind}" for kind in (
        "unknown-key", "missing-key", "type", "enum", "range", "duration", "pattern", "invalid", "secret", "version", "timezone")},
    tags={"conditional": ConditionalRoute, "default": DefaultRoute},
)


def check_schema(data: dict[str, Any], source_map: SourceMap) -> tuple[PolicyDocument | None, list[Diagnostic]]:
    return validate(PolicyDocument, data, source_map, POLICY)
