"""Turn a check's YAML parameters into the fields of its dataclass, strictly.

Where this sits: `registry.build_check` calls `bind` with the mapping a policy
wrote under a validator; every check kind is a frozen dataclass whose fields
are its parameters, so the field list is the one source of truth for the
parameter names, types and defaults (`describe` renders it for the schema).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _fields(cls: type) -> dict[str, tuple[Any, dataclasses.Field[Any]]]:
    hints = typing.get_type_hints(cls)
    return {
        f.name: (hints[f.name], f)
        for f in dataclasses.fields(cls)
        if f.init and not f.metadata.get("internal")
    }


def bind(kind: str, cls: type, params: Mapping[str, Any], *, extra: Mapping[str, Any] = {}) -> Any:
    """Instantiate `cls` from `params`; unknown names, missing required names and wrong types raise ValueError."""
    fields = _fields(cls)
    values: dict[str, Any] = {}
    for name, value in params.items():
        if name not in fields:
            close = difflib.get_close_matches(str(name), list(fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(sorted(fields)) or 'none'}"
            raise ValueError(f"check '{kind}' has no parameter '{name}'{hint}")
        values[name] = _coerce(kind, name, fields[name][0], value)
    for name, (_, field) in fields.items():
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if required and name not in values and name not in extra:
            raise ValueError(f"check '{kind}' needs the parameter '{name}'")
    try:
        return cls(**values, **extra)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"check '{kind}': {exc}") from exc


def _coerce(kind: str, name: str, hint: Any, value: Any) -> Any:
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    for option in options:
        ok, coerced = _try(option, value)
        if ok:
            return coerced
    raise ValueError(
        f"check '{kind}': parameter '{name}' must be {_describe_type(hint)}, got {type(value).__name__} {value!r}"
    )


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _try(option: Any, value: Any) -> tuple[bool, Any]:
    if option is type(None):
        return value is None, None
    if option is Any:
        return True, value
    if option is bool:
        return isinstance(value, bool), value
    if option is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if option is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if option is str:
        return isinstance(value, str), value
    origin = typing.get_origin(option)
    if origin is typing.Literal:
        return value in typing.get_args(option), value
    if origin is tuple:  # tuple[str, ...]: YAML writes a list
        item = typing.get_args(option)[0]
        if not isinstance(value, (list, tuple)):
            return False, None
        coerced = [_try(item, v) for v in value]
        return all(ok for ok, _ in coerced), tuple(v for _, v in coerced)
    if origin in (dict, Mapping) or option in (dict, Mapping):
        return isinstance(value, Mapping), dict(value) if isinstance(value, Mapping) else None
    return False, None


def _describe_type(hint: Any) -> str:
    if _is_union(hint):
        return " or ".join(_describe_type(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        return f"a list of {_describe_type(typing.get_args(hint)[0])}"
    if typing.get_origin(hint) in (dict, Mapping):
        return "a mapping"
    return _JSON_TYPES.get(hint, getattr(hint, "__name__", str(hint)))


def describe(cls: type) -> dict[str, dict[str, Any]]:
    """Parameter name -> {type, default, required} for docs and the policy schema."""
    out: dict[str, dict[str, Any]] = {}
    for name, (hint, field) in _fields(cls).items():
        if field.default is not dataclasses.MISSING:
            default: Any = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = None
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        out[name] = {"type": _describe_type(hint), "default": default, "required": required}
    return out
