"""The `json` check: the draft is valid JSON, optionally valid against a JSON Schema.

Where this sits: compiled by `registry.compile_check` when the policy is
loaded, so a schema that is not a JSON Schema is a located diagnostic at
validate time, not a failure when the engine is built. The schema is
self-contained: a `$ref` outside it (`https://...`, `file:...`, another
file) is refused when the policy is loaded, and the validator is given an
empty registry, so validating an answer never reads a file or the network.
The schema's own regular expressions are compiled and searched like the
`regex` check's (`user_regex`): bounded in size, stopped after a time limit.

The same machinery checks JSON that arrives with a request, whose schemas
the caller wrote: a tool call's arguments against the tool's parameter
schema (`tools.ToolCallCheck`) and an answer against the request's
`response_format` (`response_format_check`). JSON is parsed bounded
(`parse_json`: size, nesting depth, number of values) and validated under a
time limit (`validate_bounded`), so a hostile answer or schema fails the
check within seconds instead of holding the request.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, ClassVar

from cascadepolicy.errors import CascadePolicyError, RequestError
from cascadepolicy.language import model as lang

from .base import Check, CheckResult, Draft, ParamError
from .user_regex import PatternTimeout, UserPattern, policy_pattern

MAX_JSON_CHARS = 1_000_000  # a longer answer or tool-call argument string is not parsed
MAX_JSON_DEPTH = 64  # nesting of objects and arrays, like a policy file's (loading.yaml_limits)
MAX_JSON_VALUES = 100_000  # values in one JSON document (or one schema from a request)
VALIDATE_TIMEOUT_SECONDS = 1.0  # one document against one schema, every keyword included

_DEADLINE: ContextVar[float] = ContextVar("cascadepolicy_schema_deadline", default=float("inf"))


class _ValidationTimeout(CascadePolicyError):
    """Validating one document took longer than VALIDATE_TIMEOUT_SECONDS."""


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

    own = {"pattern": pattern, "patternProperties": pattern_properties, "additionalProperties": additional_properties}
    return validators.extend(cls, {keyword: _timed(fn) for keyword, fn in {**cls.VALIDATORS, **own}.items()})


def _timed(keyword: Any) -> Any:
    """`keyword` checking the deadline of `validate_bounded` first: a schema whose combinators
    (`anyOf` over `$ref`s of `anyOf`s...) take exponential time stops at the deadline."""

    def run(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if time.monotonic() > _DEADLINE.get():
            raise _ValidationTimeout(f"validation took longer than {VALIDATE_TIMEOUT_SECONDS:g} s")
        found = keyword(validator, value, instance, schema)
        if found is not None:
            yield from found

    return run


def json_shape_problem(value: Any, what: str = "the JSON") -> str | None:
    """Why `value` is too large or too deep to check (MAX_JSON_DEPTH, MAX_JSON_VALUES), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_JSON_VALUES:
            return f"{what} has more than {MAX_JSON_VALUES:,} values"
        if isinstance(node, Mapping | list | tuple):
            if depth > MAX_JSON_DEPTH:
                return f"{what} nests deeper than {MAX_JSON_DEPTH} levels"
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, Mapping) else node))
    return None


_JSON_TYPES: tuple[tuple[type, str], ...] = ((bool, "a boolean"), (dict, "an object"), (list, "an array"), (str, "a string"))


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, with its article: 'an array', 'a string', 'null'."""
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "a number")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_json(text: str, what: str = "the JSON") -> tuple[Any, str | None]:
    """(value, None), or (None, why it is not JSON this package checks): strict JSON (no NaN or
    Infinity), at most MAX_JSON_CHARS characters, MAX_JSON_DEPTH levels and MAX_JSON_VALUES values."""
    if len(text) > MAX_JSON_CHARS:
        return None, f"{what} is longer than {MAX_JSON_CHARS:,} characters"
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, f"{what} nests deeper than {MAX_JSON_DEPTH} levels"
    except ValueError as exc:  # NaN/Infinity, or an integer longer than Python converts
        return None, f"not valid JSON: {str(exc)[:120]}"
    problem = json_shape_problem(value, what)
    return (None, problem) if problem else (value, None)


def validate_bounded(validator: Any, value: Any) -> str | None:
    """The first schema violation of `value` as a sentence, or None; fails closed (a sentence) when the
    schema cannot decide within VALIDATE_TIMEOUT_SECONDS or raises."""
    token = _DEADLINE.set(time.monotonic() + VALIDATE_TIMEOUT_SECONDS)
    try:
        errors = sorted(validator.iter_errors(value), key=lambda e: e.json_path)
    except PatternTimeout as exc:  # fail closed, like the regex check
        return f"a schema pattern not decided: {exc}"
    except _ValidationTimeout as exc:
        return f"the schema could not decide: {exc}"
    except RecursionError:
        return "the schema could not be applied: it refers to itself without end"
    except Exception as exc:  # fail closed: a schema that cannot decide does not pass the answer
        return f"the schema could not be applied: {type(exc).__name__}"
    finally:
        _DEADLINE.reset(token)
    if not errors:
        return None
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"schema violation at {errors[0].json_path}: {errors[0].message[:200]}{more}"


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


def judge_json(kind: str, text: str, validator: Any, *, want_object: bool = False) -> CheckResult:
    """The verdict on `text` as JSON, against `validator` when there is one (None: any JSON)."""
    value, problem = parse_json(text)
    if problem is None and want_object and not isinstance(value, dict):
        problem = f"the JSON is {json_type(value)}, not an object"
    if problem is None and validator is not None:
        problem = validate_bounded(validator, value)
    if problem is not None:
        return CheckResult(kind, 0.0, False, detail=problem)
    return CheckResult(kind, 1.0, True, detail="valid JSON" if validator is None else "valid JSON matching the schema")


class JsonCheck:
    """Parses the answer (or its fenced block) as JSON and validates it against `schema` when given."""

    kind: ClassVar[str] = "json"

    def __init__(self, spec: lang.JsonCheck) -> None:
        self.spec = spec
        self._validator: Any = None if spec.json_schema is None else schema_validator(as_json(spec.json_schema))

    def __call__(self, draft: Draft) -> CheckResult:
        return judge_json(self.kind, extract_json_text(draft.text), self._validator)


class ResponseFormatCheck:
    """The whole answer is what the request's `response_format` asked for: the caller parses the
    content as it is, so a fenced block is not extracted."""

    kind: ClassVar[str] = "response_format"

    def __init__(self, validator: Any, *, want_object: bool) -> None:
        self._validator = validator
        self._want_object = want_object

    def __call__(self, draft: Draft) -> CheckResult:
        return judge_json(self.kind, draft.text, self._validator, want_object=self._want_object)


def request_schema_validator(schema: Any, what: str) -> Any:
    """A bounded validator for a JSON Schema a request carries (untrusted); raises ParamError."""
    if not isinstance(schema, Mapping):
        raise ParamError(None, f"{what} is {type(schema).__name__}, not a JSON Schema object.")
    problem = json_shape_problem(schema, what)
    if problem is not None:
        raise ParamError(None, f"{problem}.")
    return schema_validator(as_json(schema))


def response_format_check(response_format: Any) -> Check | None:
    """The check a request's `response_format` implies, or None when it asks for text.

    `{"type": "json_object"}`: the answer is a JSON object. `{"type": "json_schema", "json_schema":
    {"schema": {...}}}` (OpenAI's shape; a pydantic model class as litellm accepts it too): the
    answer validates against the schema. Raises RequestError, before any model is called, for a
    `response_format` this cannot check (an unknown type, a missing or unusable schema)."""
    if response_format is None:
        return None
    if isinstance(response_format, type) and hasattr(response_format, "model_json_schema"):
        response_format = {"type": "json_schema", "json_schema": {"schema": response_format.model_json_schema()}}
    if not isinstance(response_format, Mapping):
        raise RequestError(f"response_format is {type(response_format).__name__}; pass a mapping such as "
                           "{'type': 'json_object'} or {'type': 'json_schema', 'json_schema': {'schema': {...}}}.")
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormatCheck(None, want_object=True)
    if kind != "json_schema":
        raise RequestError(f"response_format type {str(kind)[:40]!r} is not one cascadepolicy can check; "
                           "use 'text', 'json_object' or 'json_schema'.")
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if schema is None:
        raise RequestError("response_format of type 'json_schema' has no schema; "
                           "pass {'type': 'json_schema', 'json_schema': {'name': ..., 'schema': {...}}}.")
    try:
        validator = request_schema_validator(schema, "the response_format schema")
    except ParamError as exc:
        raise RequestError(f"response_format's JSON Schema cannot be used: {exc}") from None
    return ResponseFormatCheck(validator, want_object=False)
