"""pydantic's validation errors → located `Diagnostic`s: the one translator.

Policies (`schema_check`), test suites (`testing.schema`) and checks built
from a plain mapping (`quality.build_check`) are validated by pydantic models;
each error becomes a `Diagnostic` with a stable code from the caller's
`Dialect` (`schema-*` for policies, `test-*` for suites), the `file:line:col`
of the offending key or value, a sentence that says what is wrong, and a
"did you mean" where a close name exists. A value that came through `${VAR}`
interpolation is named by its reference (`name (from ${SECRET}) is not an
id`), never shown: it may be a secret, and the output may be a public CI
annotation.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cascadepolicy.diagnostics import Diagnostic, did_you_mean
from cascadepolicy.language.model import (
    CALLABLE_PATTERN,
    CONTEXT_NAME_PATTERN,
    DOMAIN_NAME_PATTERN,
    DURATION_PATTERN,
    ENV_NAME_PATTERN,
    ID_PATTERN,
    PERIOD_PATTERN,
    VISIBLE_PATTERN,
)
from cascadepolicy.language.model_paths import describe_value, keys_at, path_name
from cascadepolicy.loading.source import Interpolation, PathKey, SourceMap

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Dialect:
    """How one kind of document words its problems.

    `codes` maps each kind of problem (`unknown-key`, `missing-key`, `type`,
    `enum`, `range`, `duration`, `pattern`, `invalid`, `secret`, `version`) to
    the diagnostic code it is reported under; `whole` names the document;
    `skip` tells the steps of a pydantic location that name a union branch,
    not data; `tags` maps callable-discriminator tags to their model.
    """

    root: type[BaseModel]
    codes: Mapping[str, str]
    whole: str = "the document"
    skip: Callable[[Any], bool] = lambda step: False
    tags: Mapping[str, type[BaseModel]] = field(default_factory=dict)

    def code(self, kind: str) -> str:
        return self.codes.get(kind, self.codes["invalid"])

    def allowed_keys(self, loc: tuple[Any, ...]) -> set[str]:
        """The keys the model accepts at `loc` (a pydantic error location)."""
        return keys_at(self.root, loc, skip=self.skip, tags=self.tags)


def validate(model: type[M], data: Any, source_map: SourceMap, dialect: Dialect) -> tuple[M | None, list[Diagnostic]]:
    """The validated model, or None and a diagnostic for each of its problems."""
    try:
        return model.model_validate(as_tuples(data)), []
    except ValidationError as exc:
        return None, translate(exc, data, source_map, dialect)


def translate(exc: ValidationError, data: Any, source_map: SourceMap, dialect: Dialect) -> list[Diagnostic]:
    errors = _relevant(exc.errors(), dialect)
    return dedupe([_diagnostic(error, data, source_map, dialect) for error in errors])


def as_tuples(value: Any) -> Any:
    """Lists become tuples so the frozen models can hold them as they are."""
    if isinstance(value, dict):
        return {k: as_tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(as_tuples(v) for v in value)
    return value


def dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for d in diagnostics:
        key = (d.code, d.location, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _relevant(errors: list[Any], dialect: Dialect) -> list[Any]:
    """Drop errors that only echo another one.

    A misspelt required key (`pre:` for `per:`) is reported once, as an unknown
    key with "did you mean", not again as a missing key. Union alternatives
    fail together (`'maybe'` is neither a literal nor a boolean): one type
    error per location is kept, and none when a deeper error explains it. A
    list whose items failed is not also reported as too short (pydantic
    counts only the items that validated).
    """
    suggested = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            loc = tuple(error["loc"])
            for match in difflib.get_close_matches(str(loc[-1]), sorted(dialect.allowed_keys(loc[:-1])), n=1, cutoff=0.6):
                suggested.add((*loc[:-1], match))
    locs = [tuple(step for step in e["loc"] if not dialect.skip(step)) for e in errors]
    out, typed = [], set()
    for loc, error in zip(locs, errors, strict=True):
        deeper = any(len(other) > len(loc) and other[:len(loc)] == loc for other in locs)
        if error["type"] == "missing" and tuple(error["loc"]) in suggested:
            continue
        if error["type"] in TYPE_NOUNS or error["type"] == "literal_error":
            if deeper or loc in typed:
                continue
            typed.add(loc)
        elif error["type"] in ("too_short", "too_long") and deeper:
            continue
        out.append(error)
    return out


def data_path(loc: tuple[Any, ...], data: Any, missing: bool = False) -> tuple[PathKey, bool]:
    """The path in the data for a pydantic `loc` (dropping union tags); and whether the loc ends on a key.

    With `missing`, the last step names a key that is absent from the data and
    is kept, so that the message can name it.
    """
    path: list[str | int] = []
    cursor = data
    on_key = False
    for index, step in enumerate(loc):
        last = index == len(loc) - 1
        if step == "[key]":
            on_key = True
            continue
        if isinstance(cursor, dict) and step in cursor:
            path.append(step)
            cursor = cursor[step]
        elif isinstance(cursor, list | tuple) and isinstance(step, int) and 0 <= step < len(cursor):
            path.append(step)
            cursor = cursor[step]
        elif missing and last and isinstance(step, str) and isinstance(cursor, dict):
            path.append(step)  # a missing key: its parent is located
    return tuple(path), on_key


def _diagnostic(error: Any, data: Any, source_map: SourceMap, dialect: Dialect) -> Diagnostic:
    raw_loc = tuple(error["loc"])
    loc = tuple(step for step in raw_loc if not dialect.skip(step))
    kind = error["type"]
    ctx = error.get("ctx") or {}
    given = error.get("input")
    code = dialect.code
    path, on_key = data_path(loc, data, missing=kind == "missing")
    where = source_map.key(path) if on_key else source_map.value(path)
    field = path_name(path, dialect.whole)
    item = None if on_key else source_map.interpolated.get(path)
    if item is not None and (said := _without_value(kind, ctx, path)) is not None:
        return _from(item, code(said[0]), field, said[1], where, said[2])

    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        allowed = dialect.allowed_keys(raw_loc[:-1])
        if key in _SECRET_KEYS and "api_key_env" in allowed:
            return Diagnostic(code("secret"), f"{path_name(path)}: API keys are never written in a policy, where git would keep them.",
                              source_map.key(path), hint="put the key in an environment variable and name it: `api_key_env: OPENAI_API_KEY`.")
        hint = did_you_mean(key, allowed) if allowed else None
        if not hint and allowed:
            hint = "allowed here: " + ", ".join(sorted(allowed))
        return Diagnostic(code("unknown-key"), f"unknown key {key!r} in {path_name(path[:-1], dialect.whole)}.", source_map.key(path),
                          hint=hint)
    if kind == "missing":
        return Diagnostic(code("missing-key"), f"{path_name(path[:-1], dialect.whole)} is missing the required key {str(loc[-1])!r}.",
                          source_map.value(path[:-1]))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        discriminator = str(ctx.get("discriminator", "")).strip("'")
        tag = ctx.get("tag")
        options = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
        if kind == "union_tag_not_found":
            return Diagnostic(code("missing-key"), f"{field} is missing the required key {discriminator!r} (one of {', '.join(options)}).",
                              where)
        where = source_map.value((*path, discriminator)) or where
        tag_item = source_map.interpolated.get((*path, discriminator))
        if tag_item is not None:
            return _from(tag_item, code("enum"), f"{discriminator} in {field}", f"is not known; expected one of {', '.join(options)}", where)
        return Diagnostic(code("enum"), f"{discriminator} {tag!r} in {field} is not known; expected one of {', '.join(options)}.",
                          where, hint=did_you_mean(str(tag), options))
    if kind == "schema_route":
        return Diagnostic(code("invalid"), f"{field} is not a route: a route needs either `when` with a target (`cascade`, `model` or `block`) or `default`.", where)
    if kind == "literal_error":
        expected = _expected(ctx)
        return Diagnostic(code("enum"), f"{field} is {describe_value(given)}; expected one of {', '.join(expected)}.", where,
                          hint=did_you_mean(str(given), expected))
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        if pattern in (DURATION_PATTERN, PERIOD_PATTERN):
            if isinstance(given, str) and _ZERO_DURATION.match(given):
                return Diagnostic(code("duration"), f"{field} is {given!r}, a zero-length duration; it must be longer than zero.", where,
                                  hint=_DURATION_HINT)
            if isinstance(given, str) and _LONG_DURATION.match(given):
                return Diagnostic(code("duration"), f"{field} is {given[:40]!r}, {_TOO_LONG}.", where, hint=_LONG_HINT)
            return Diagnostic(code("duration"), f"{field} is {given!r}, which is not {_duration_form(pattern)}.", where, hint=_DURATION_HINT)
        return Diagnostic(code("pattern"), f"{field} is {given!r}, which is not {_pattern_form(pattern)}.", where)
    if kind in _RANGE:
        return Diagnostic(code("range"), f"{field} is {describe_value(given)}; it must be {_bound(kind, ctx)}.", where)
    if kind in TYPE_NOUNS:
        return Diagnostic(code("type"), f"{field} must be {TYPE_NOUNS[kind]}, not {describe_value(given)}.", where)
    if kind == "schema_version":
        version = data.get("version") if isinstance(data, dict) else None
        version_item = source_map.interpolated.get(("version",))
        if version_item is not None:
            return _from(version_item, code("version"), "`version`", "is not a version this release reads (1)",
                         source_map.value(("version",)), hint="write `version: 1`.")
        return Diagnostic(code("version"), f"`version` is {describe_value(version)}; this release reads policy language version 1.",
                          source_map.value(("version",)), hint="write `version: 1`.")
    if kind.startswith("schema_"):  # a model's own check names its problem kind: schema_timezone, schema_duration, ...
        return Diagnostic(code(kind.removeprefix("schema_")), f"{field}: {error['msg']}", where)
    return Diagnostic(code("invalid"), f"{field}: {str(error['msg']).rstrip('.')}.", where)


def _without_value(kind: str, ctx: dict[str, Any], path: PathKey) -> tuple[str, str, str | None] | None:
    """The problem kind, predicate and hint of a problem with an interpolated value, worded without the value."""
    if kind == "literal_error":
        return "enum", f"is not one of {', '.join(_expected(ctx))}", None
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        if pattern in (DURATION_PATTERN, PERIOD_PATTERN):
            return "duration", f"is not {_duration_form(pattern)}", _DURATION_HINT
        noun = str(path[-1]).replace("_", " ") if path and isinstance(path[-1], str) else "value"
        return "pattern", f"is not a valid {noun}: it must be {_pattern_form(pattern)}", None
    if kind in _RANGE:
        return "range", f"must be {_bound(kind, ctx)}", None
    if kind in TYPE_NOUNS:
        return "type", f"must be {TYPE_NOUNS[kind]}, not text", None
    if kind == "schema_duration":  # model.py's range check of a duration
        return "duration", f"is {_TOO_LONG}", _LONG_HINT
    return None


def _from(item: Interpolation, code: str, subject: str, predicate: str, where: Any, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, f"{subject} (from {item.written}) {predicate}.", where, hint=hint)


def _expected(ctx: dict[str, Any]) -> list[str]:
    return [e.strip(" '") for e in str(ctx.get("expected", "")).replace(" or ", ",").split(",") if e.strip()]


def _duration_form(pattern: Any) -> str:
    return "day, week, month or a duration" if pattern == PERIOD_PATTERN else "a duration"


def _pattern_form(pattern: Any) -> str:
    return _PATTERN_WORDS.get(str(pattern), f"the required form ({pattern})")


def _bound(kind: str, ctx: dict[str, Any]) -> str:
    return _RANGE[kind].format(**{k: _readable(ctx.get(k)) for k in ("gt", "ge", "lt", "le", "min_length", "max_length")})


def _readable(bound: Any) -> Any:
    """1000000000.0 reads 1,000,000,000."""
    if isinstance(bound, float) and bound.is_integer():
        bound = int(bound)
    return f"{bound:,}" if isinstance(bound, int) and not isinstance(bound, bool) else bound


TYPE_NOUNS = {
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number",
    "string_type": "text", "bool_type": "true or false", "bool_parsing": "true or false",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "tuple_type": "a list", "list_type": "a list",
}
_RANGE = {"greater_than": "greater than {gt}", "greater_than_equal": "at least {ge}",
          "less_than": "less than {lt}", "less_than_equal": "at most {le}",
          "too_short": "at least {min_length} item(s) long", "too_long": "at most {max_length} item(s) long",
          "string_too_short": "at least {min_length} character(s) long", "string_too_long": "at most {max_length} characters long",
          "finite_number": "a finite number"}
_DURATION_HINT = "write a positive whole number followed by s, m, h, d or w, such as 30s, 10m, 1h or 7d."
_SECRET_KEYS = {"api_key", "apikey", "key", "secret", "token", "password"}
_ZERO_DURATION = re.compile(r"^0+(ms|s|m|h|d|w)$")
_LONG_DURATION = re.compile(r"^[1-9][0-9]{12,}(ms|s|m|h|d|w)$")  # more digits than DURATION_PATTERN allows
_TOO_LONG = "longer than ten years, the longest duration a policy may give"
_LONG_HINT = "durations are at most 3650d; see 'Bounded evaluation' in docs/security.md."
_PATTERN_WORDS = {
    ID_PATTERN: "an id (a letter, then letters, digits, `_`, `.` or `-`)",
    ENV_NAME_PATTERN: "an environment variable name (letters, digits and `_`, not starting with a digit)",
    CALLABLE_PATTERN: "a `module:function` reference such as `mypkg.checks:house_rules`",
    CONTEXT_NAME_PATTERN: "a dotted lower-case field name such as `metadata.feature`",
    VISIBLE_PATTERN: "a keyword with a visible character",
    DOMAIN_NAME_PATTERN: "a domain name (a lower-case letter, then lower-case letters, digits or `_`)",
}
