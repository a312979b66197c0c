"""Paths into documents and models, for the wording of diagnostics.

Both the policy checker (`schema_check`, `checks`) and the test-suite checker
(`testing.schema`) turn a problem at a data path into a sentence: this module
names paths (`tiers.free.rate[0]`), describes values ("the text '5'") and
answers which keys a model accepts at a pydantic error location (for "did you
mean" hints).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel


def unwrap(ann: Any) -> list[Any]:
    """The concrete alternatives of an annotation (Annotated and unions opened)."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return unwrap(typing.get_args(ann)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [alt for arg in typing.get_args(ann) for alt in unwrap(arg)]
    return [ann]


def models_in(ann: Any) -> list[type[BaseModel]]:
    return [a for a in unwrap(ann) if isinstance(a, type) and issubclass(a, BaseModel)]


def keys_at(root: type[BaseModel], loc: tuple[Any, ...], *, skip: Callable[[Any], bool] = lambda step: False,
            tags: Mapping[str, type[BaseModel]] | None = None) -> set[str]:
    """The keys the model accepts at `loc`; union tags in the loc are followed.

    `skip` drops location steps that name no data (branch labels); `tags` maps
    callable-discriminator tags to their model.
    """
    candidates: list[Any] = [root]
    for step in loc:
        if skip(step):
            continue
        candidates = [nxt for ann in candidates for nxt in _step(ann, step, tags or {})]
        if not candidates:
            return set()
    return {f.alias or name for ann in candidates for model in models_in(ann) for name, f in model.model_fields.items()}


def _step(ann: Any, step: Any, tags: Mapping[str, type[BaseModel]]) -> list[Any]:
    out: list[Any] = []
    for alt in unwrap(ann):
        origin = typing.get_origin(alt)
        if isinstance(alt, type) and issubclass(alt, BaseModel):
            fields = {f.alias or n: f for n, f in alt.model_fields.items()}
            if step in fields:
                out.append(fields[step].annotation)
            elif _is_tag(alt, step, tags):
                out.append(alt)
        elif origin is dict and isinstance(step, str):
            out.append(typing.get_args(alt)[1])
        elif origin is tuple and isinstance(step, int):
            out.append(typing.get_args(alt)[0])
    return out


def _is_tag(model: type[BaseModel], step: Any, tags: Mapping[str, type[BaseModel]]) -> bool:
    if isinstance(step, str) and tags.get(step) is model:
        return True
    for discriminator in ("check", "kind"):
        field = model.model_fields.get(discriminator)
        if field is not None and step in typing.get_args(field.annotation):
            return True
    return False


def path_name(path: tuple[str | int, ...], whole: str = "the document") -> str:
    """`tiers.free.rate[0]` for a data path; `whole` for the empty path."""
    parts: list[str] = []
    for step in path:
        parts.append(f"[{step}]" if isinstance(step, int) else (f".{step}" if parts else str(step)))
    return "".join(parts) or whole


def describe_value(value: Any) -> str:
    """A value as a message names it: "the text '5'", "a list", "null"."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return "null" if value is None else type(value).__name__
