"""The `json` check: the draft is valid JSON, optionally valid against a JSON Schema.

Where this sits: compiled by `registry.compile_check` when the policy is
loaded, so a schema that is not a JSON Schema is a located diagnostic at
validate time, not a failure when the engine is built. The schema is
self-contained: a `$ref` outside it (`https://...`, `file:...`, another
file) is refused when the policy is loaded, and the validator is given an
empty registry, so validating an answer never reads a file or the network.
The schema's own regular expressions are compiled and searched like the
`regex` check's (`user_regex`): bounded in size, stopped after a time limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from cascadepolicy.language import model as lang

from .base import CheckResult, Draft, ParamError
from .user_regex import PatternTimeout, UserPattern, policy_pattern

_REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef")
_ROOT = "urn:cascadepolicy:policy-schema"

_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)


def schema_validator(schema: dict[str, Any]) -> Any:
    """A jsonschema validator for a policy's schema; raises ParamError when it is not a usable schema."""
    import jsonschema  # a dependency of the package; imported here to keep import time low
    import referencing
    import referencing.jsonschema

    references = list(_references(schema, "$"))
    for where, ref in references:
        if not ref.startswith("#"):
            raise ParamError("schema", f"the JSON Schema refers outside itself at {where} ({ref[:80]!r}); "
                             "only references inside the schema (`#/...`) are allowed.", "check-json-schema")
    cls = jsonschema.validators.validator_for(schema, default=None)
    if cls is None:
        if "$schema" in schema:
            raise ParamError("schema", f"the JSON Schema's `$schema` ({str(schema['$schema'])[:80]!r}) is not a draft "
                             "jsonschema knows.", "check-json-schema")
        cls = jsonschema.validators.validator_for({})
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ParamError("schema", f"the JSON Schema is not valid at {exc.json_path}: {exc.message[:200]}.",
                         "check-json-schema", inside=tuple(exc.absolute_path),
                         hint="compare the schema with its draft's meta-schema (Draft 2020-12 unless `$schema` names another).") from None
    if not _has_nested_id(schema):  # with one, a fragment is relative to that subschema: the answer's check fails closed
        specification = referencing.jsonschema.specification_with(cls.META_SCHEMA.get("$id", ""),
                                                                   default=referencing.jsonschema.DRAFT202012)
        resolver = referencing.Registry().with_resource(_ROOT, specification.create_resource(schema)).resolver(_ROOT)
        for where, ref in references:
            try:
                resolver.lookup(ref)
            except referencing.exceptions.Unresolvable:
                raise ParamError("schema", f"the JSON Schema's reference at {where} ({ref[:80]!r}) points to nothing "
                                 "in the schema.", "check-json-schema") from None
    patterns = _schema_patterns(schema)
    if "unevaluatedProperties" in _keys(schema) and "patternProperties" in _keys(schema):
        raise ParamError("schema", "the JSON Schema uses `unevaluatedProperties` with `patternProperties`, whose regular "
                         "expressions could not be bounded in time there.", "check-json-schema",
                         hint="use `additionalProperties` instead of `unevaluatedProperties`.")
    return _bounded(cls, patterns)(schema, registry=referencing.Registry())


def _schema_patterns(schema: dict[str, Any]) -> dict[str, UserPattern]:
    """Every regular expression of the schema (`pattern` values, `patternProperties` keys), compiled as a policy's own."""
    found: dict[str, UserPattern] = {}

    def visit(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    found[value] = _schema_pattern(value, (*path, key))
                if key == "patternProperties" and isinstance(value, dict):
                    for source in value:
                        found[source] = _schema_pattern(source, (*path, key, source))
                visit(value, (*path, key))
        elif isinstance(node, list | tuple):
            for index, value in enumerate(node):
                visit(value, (*path, index))

    visit(schema, ())
    return found


def _schema_pattern(source: str, inside: tuple[str | int, ...]) -> UserPattern:
    try:
        return policy_pattern(source, param="schema")
    except ParamError as exc:
        raise ParamError("schema", f"the JSON Schema's regular expression at {_json_path(inside)}: {exc}",
                         "check-json-schema", inside=inside, hint=exc.hint) from None


def _json_path(path: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _keys(schema: dict[str, Any]) -> set[str]:
    return {key for node in _nodes(schema) for key in node}


def _bounded(cls: Any, patterns: dict[str, UserPattern]) -> Any:
    """`cls` with the keywords that run regular expressions searching under the policy-pattern time limit.

    jsonschema runs `pattern`, `patternProperties` (and `additionalProperties`, which
    matches keys against them) with Python's `re`, which cannot be interrupted; these
    versions use the schema's compiled `UserPattern`s, which raise PatternTimeout."""
    from jsonschema import ValidationError, validators

    def search(source: str, text: str) -> bool:
        compiled = patterns.get(source) or policy_pattern(source, param="schema")
        return compiled.search(text) is not None

    def pattern(validator: Any, source: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not search(source, instance):
            yield ValidationError(f"{instance[:80]!r} does not match {source[:80]!r}")

    def pattern_properties(validator: Any, value: dict[str, Any], instance: Any, schema: Any) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        for source, subschema in value.items():
            for key, item in instance.items():
                if search(source, key):
                    yield from validator.descend(item, subschema, path=key, schema_path=source)

    def additional_properties(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        known, sources = schema.get("properties", {}), list(schema.get("patternProperties", {}))
        extras = [key for key in instance if key not in known and not any(search(s, key) for s in sources)]
        if validator.is_type(value, "object"):
            for extra in extras:
                yield from validator.descend(instance[extra], value, path=extra)
        elif value is False and extras:
            listed = ", ".join(repr(extra[:40]) for extra in sorted(extras)[:5])
            yield ValidationError(f"additional properties are not allowed ({listed} unexpected)")

    return validators.extend(cls, {"pattern": pattern, "patternProperties": pattern_properties,
                                   "additionalProperties": additional_properties})


def as_json(value: Any) -> Any:
    """The policy's value as JSON data: the document model holds YAML lists as tuples, which JSON Schema does not call arrays."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    return value


def _has_nested_id(schema: dict[str, Any]) -> bool:
    return any(key in ("$id", "id") for node in _nodes(schema) if node is not schema for key in node)


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _nodes(value)


def _references(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _REFERENCES and isinstance(value, str):
                yield f"{where}.{key}", value
            yield from _references(value, f"{where}.{key}")
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _references(value, f"{where}[{index}]")


def extract_json_text(text: str) -> str:
    """The first fenced ```json block if there is one (else any fenced block), else the whole text."""
    labelled = re.search(r"```(?:json|JSON)[ \t]*\n(.*?)```", text, re.DOTALL)
    found = labelled or _FENCE.search(text)
    return (found.group(1) if found else text).strip()


class JsonCheck:
    """Parses the answer (or its fenced block) as JSON and validates it against `schema` when given."""

    kind: ClassVar[str] = "json"

    def __init__(self, spec: lang.JsonCheck) -> None:
        self.spec = spec
        self._validator: Any = None if spec.json_schema is None else schema_validator(as_json(spec.json_schema))

    def __call__(self, draft: Draft) -> CheckResult:
        candidate = extract_json_text(draft.text)
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError as exc:
            return CheckResult(self.kind, 0.0, False, detail=f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        if self._validator is None:
            return CheckResult(self.kind, 1.0, True, detail="valid JSON")
        try:
            errors = sorted(self._validator.iter_errors(value), key=lambda e: e.json_path)
        except PatternTimeout as exc:  # fail closed, like the regex check
            return CheckResult(self.kind, 0.0, False, detail=f"a schema pattern not decided: {exc}")
        except Exception as exc:  # fail closed: a schema that cannot decide does not pass the answer
            return CheckResult(self.kind, 0.0, False, detail=f"the schema could not be applied: {type(exc).__name__}")
        if errors:
            where = errors[0].json_path
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            return CheckResult(self.kind, 0.0, False, detail=f"schema violation at {where}: {errors[0].message}{more}")
        return CheckResult(self.kind, 1.0, True, detail="valid JSON matching the schema")
