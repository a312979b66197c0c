"""The `json` check: the draft is valid JSON, optionally valid against a JSON Schema.

Where this sits: built by `registry.build_check`; the schema is checked once
at build time so a broken schema is a policy error, not a runtime surprise.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .base import CheckResult, Draft

_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)


def extract_json_text(text: str) -> str:
    """The first fenced ```json block if there is one (else any fenced block), else the whole text."""
    labelled = re.search(r"```(?:json|JSON)[ \t]*\n(.*?)```", text, re.DOTALL)
    found = labelled or _FENCE.search(text)
    return (found.group(1) if found else text).strip()


@dataclass(frozen=True)
class JsonCheck:
    """Parses the answer (or its fenced block) as JSON and validates it against `schema` when given."""

    kind: ClassVar[str] = "json"
    schema: dict[str, Any] | None = None
    _validator: Any = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.schema is None:
            return
        import jsonschema  # a dependency of the package; imported here to keep import time low

        cls = jsonschema.validators.validator_for(self.schema)
        try:
            cls.check_schema(self.schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"schema is not a valid JSON Schema: {exc.message}") from exc
        object.__setattr__(self, "_validator", cls(self.schema))

    def __call__(self, draft: Draft) -> CheckResult:
        candidate = extract_json_text(draft.text)
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError as exc:
            return CheckResult(self.kind, 0.0, False, detail=f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        if self._validator is None:
            return CheckResult(self.kind, 1.0, True, detail="valid JSON")
        errors = sorted(self._validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            where = errors[0].json_path
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            return CheckResult(self.kind, 0.0, False, detail=f"schema violation at {where}: {errors[0].message}{more}")
        return CheckResult(self.kind, 1.0, True, detail="valid JSON matching the schema")
