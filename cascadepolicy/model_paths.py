"""Walking pydantic models by an error location, for "did you mean" hints.

Both the policy checker (`schema_check`) and the test-suite checker
(`testing.schema`) turn a pydantic error at `loc` into "unknown key; allowed
here: ..."; this module answers which keys a model accepts at a location.
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
