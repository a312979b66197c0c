"""Suite files → `TestSuite`, with `file:line:col` diagnostics for bad ones.

The same approach as `cascadepolicy.loading.schema_check` for policies: the pydantic
models in `cascadepolicy.testing.model` validate the data, and each error
becomes a `Diagnostic` with a stable `test-*` code, the location of the
offending key or value from the source map, and a "did you mean" for a
misspelt key.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cascadepolicy.diagnostics import Diagnostic, did_you_mean
from cascadepolicy.language.model_paths import describe_value, keys_at, path_name
from cascadepolicy.loading.schema_check import TYPE_NOUNS, as_tuples, data_path, dedupe
from cascadepolicy.loading.source import SourceMap
from cascadepolicy.testing.model import TestSuite

_RANGES = ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_short", "too_long",
           "string_too_short", "string_too_long")


def check_suite_data(data: Any, source_map: SourceMap) -> tuple[TestSuite | None, list[Diagnostic]]:
    try:
        return TestSuite.model_validate(as_tuples(data)), []
    except ValidationError as exc:
        return None, dedupe([_diagnostic(error, data, source_map) for error in _relevant(exc.errors())])


def _relevant(errors: list[Any]) -> list[Any]:
    """Drop errors that only echo another one.

    Union alternatives fail together (`'maybe'` is neither a literal nor a
    boolean): keep one type error per location, and none when a deeper error
    explains it. A list whose items failed is not also reported as too short.
    """
    locs = [tuple(step for step in e["loc"] if not _is_branch(step)) for e in errors]
    out, typed = [], set()
    for loc, error in zip(locs, errors, strict=True):
        deeper = any(len(other) > len(loc) and other[:len(loc)] == loc for other in locs)
        if error["type"] in TYPE_NOUNS or error["type"] == "literal_error":
            if deeper or loc in typed:
                continue
            typed.add(loc)
        elif error["type"] in ("too_short", "too_long") and deeper:
            continue
        out.append(error)
    return out


def _is_branch(step: Any) -> bool:
    """pydantic names union branches in `loc` (`str`, `AnswerError`, `tuple[...]`); they are not data keys."""
    return isinstance(step, str) and (step in ("str", "int", "float", "bool", "function-after[_one_body(), Request]")
                                      or step[:1].isupper() or "[" in step or step.startswith(("literal", "function-"))
                                      or step in ("tuple", "dict"))


def _diagnostic(error: Any, data: Any, source_map: SourceMap) -> Diagnostic:
    raw_loc = tuple(error["loc"])
    loc = tuple(step for step in raw_loc if not _is_branch(step))
    kind = error["type"]
    ctx = error.get("ctx") or {}
    given = error.get("input")
    path, on_key = data_path(loc, data, missing=kind == "missing")
    where = source_map.key(path) if on_key else source_map.value(path)
    field = path_name(path, "the suite")
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        allowed = allowed_keys(raw_loc[:-1])
        hint = did_you_mean(key, allowed) or ("allowed here: " + ", ".join(sorted(allowed)) if allowed else None)
        return Diagnostic("test-unknown-key", f"unknown key {key!r} in {path_name(path[:-1], 'the suite')}.", source_map.key(path), hint=hint)
    if kind == "missing":
        return Diagnostic("test-missing-key", f"{path_name(path[:-1], 'the suite')} is missing the required key {str(loc[-1])!r}.",
                          source_map.value(path[:-1]))
    if kind == "literal_error":
        expected = [e.strip(" '") for e in str(ctx.get("expected", "")).replace(" or ", ",").split(",") if e.strip()]
        return Diagnostic("test-enum", f"{field} is {describe_value(given)}; expected one of {', '.join(expected)}.", where,
                          hint=did_you_mean(str(given), expected))
    if kind in TYPE_NOUNS:
        return Diagnostic("test-type", f"{field} must be {TYPE_NOUNS[kind]}, not {describe_value(given)}.", where)
    if kind in ("too_short", "too_long"):
        bound = f"at least {ctx.get('min_length')}" if kind == "too_short" else f"at most {ctx.get('max_length')}"
        return Diagnostic("test-invalid", f"{field} must have {bound} item(s).", where)
    if kind in _RANGES or kind == "string_pattern_mismatch":
        return Diagnostic("test-invalid", f"{field} is {describe_value(given)}: {error['msg'].lower()}.", where)
    return Diagnostic("test-invalid", f"{field}: {error['msg'].rstrip('.')}.", where)


def allowed_keys(loc: tuple[Any, ...]) -> set[str]:
    """The keys the suite model accepts at a pydantic error location."""
    return keys_at(TestSuite, loc, skip=_is_branch)
