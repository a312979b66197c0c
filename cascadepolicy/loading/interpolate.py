"""Stage 2a: `${VAR}` interpolation of string values.

Runs on the plain data of each file before composition and schema checking.
`${VAR}` requires the variable, `${VAR:-default}` falls back to a default,
`${VAR:?message}` fails with the author's message, and `$${` writes a literal
`${`. An unset variable without a default is an error at its exact place.

Each interpolated value is recorded in the source map (`interpolated`: how it
was written, what it became, which variables the environment supplied), so
that diagnostics and views can name the reference instead of printing a value
that may be a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cascadepolicy.diagnostics import Diagnostic, Location
from cascadepolicy.loading.source import Interpolation, PathKey, SourceMap, walk_strings

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(data: Any, source_map: SourceMap, environ: Mapping[str, str]) -> tuple[Any, list[Diagnostic]]:
    """Return `data` with every reference replaced, and the problems found."""
    diagnostics: list[Diagnostic] = []
    replacements: dict[PathKey, str] = {}
    for path, text in walk_strings(data):
        if "$" not in text:
            continue
        offset = 1 if path in source_map.quoted else 0
        base = source_map.value(path)
        supplied: list[tuple[str, str]] = []
        replaced = _REFERENCE.sub(
            lambda m, b=base, o=offset, s=supplied: _resolve(m, environ, b, o, diagnostics, s), text  # type: ignore[misc]
        )
        if supplied or replaced != text.replace("$${", "${"):  # a reference, not only `$${` escapes
            source_map.interpolated[path] = Interpolation(text, replaced, tuple(supplied))
            source_map.substituted.update(supplied)
        if replaced != text:
            replacements[path] = replaced
    for path, value in replacements.items():
        _assign(data, path, value)
    return data, diagnostics


def _resolve(match: re.Match[str], environ: Mapping[str, str], base: Location | None,
             offset: int, diagnostics: list[Diagnostic], supplied: list[tuple[str, str]]) -> str:
    if match.group(0) == "$${":
        return "${"
    body = match.group(1)
    where = base.shifted(match.start() + offset) if base else None
    name, op, arg = _split(body)
    if not _NAME.fullmatch(name):
        diagnostics.append(Diagnostic("env-syntax", f"`${{{body}}}` is not a valid reference; write ${{NAME}}, ${{NAME:-default}} or ${{NAME:?message}}.", where))
        return match.group(0)
    value = environ.get(name)
    if op == ":-":
        if value:
            supplied.append((name, value))
        return value if value else arg
    if value is not None and (op != ":?" or value):
        supplied.append((name, value))
        return value
    if op == ":?":
        reason = arg or "it is required"
        diagnostics.append(Diagnostic("env-unset", f"environment variable {name} is not set: {reason}", where))
    else:
        diagnostics.append(Diagnostic("env-unset", f"environment variable {name} is not set and `${{{name}}}` has no default.", where,
                                      hint=f"set {name}, or write ${{{name}:-default}} to give a default."))
    return match.group(0)


def _split(body: str) -> tuple[str, str, str]:
    for op in (":-", ":?"):
        name, sep, arg = body.partition(op)
        if sep:
            return name, op, arg
    return body, "", ""


def _assign(data: Any, path: PathKey, value: str) -> None:
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
