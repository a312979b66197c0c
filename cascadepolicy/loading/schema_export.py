"""The JSON Schemas users' editors and CI see, generated from the models.

`schemas/policy.schema.json` (a link to the copy shipped in the wheel) is
written from `cascadepolicy.language.model` by `make schema`; a test fails when the
file and the models disagree, so there is one source of truth.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCHEMA_FILES = {"policy": "policy.schema.json", "test": "test.schema.json"}
SCHEMA_IDS = {
    "policy": "https://cascadepolicy.dev/schemas/policy.schema.json",
    "test": "https://cascadepolicy.dev/schemas/test.schema.json",
}


def generate(kind: str = "policy") -> dict[str, Any]:
    from pydantic import BaseModel

    root: type[BaseModel]
    if kind == "policy":
        from cascadepolicy.language.model import PolicyDocument

        root = PolicyDocument
    else:
        from cascadepolicy.testing.model import TestSuite

        root = TestSuite
    schema = root.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_IDS[kind],
            **{k: v for k, v in schema.items() if k != "$schema"}}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def schema_text(kind: str = "policy") -> str:
    """The shipped schema file's text (no model import needed)."""
    return resources.files("cascadepolicy").joinpath("schemas").joinpath(SCHEMA_FILES[kind]).read_text(encoding="utf-8")


def main() -> None:
    from pathlib import Path

    target = Path(__file__).resolve().parents[1] / "schemas"  # the package's own schemas/
    for kind, name in SCHEMA_FILES.items():
        try:
            text = render(generate(kind))
        except ImportError:
            continue
        (target / name).write_text(text, encoding="utf-8")
        print(f"wrote {target / name}")


if __name__ == "__main__":
    main()
