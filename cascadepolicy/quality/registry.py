"""Compile a policy's validated check into the object that scores drafts.

Where this sits: the loader calls `compile_check` once per validator of a
policy (`loading.checks`), so every problem a check's parameters can have is a
located diagnostic at validate time, and keeps the compiled checks on the
`Policy`; the engine only links the ones that need it (`link_check`: a judge's
model call, a custom function's import) and reuses the rest. Parameters are
defined once, as the fields of the check's model in
`cascadepolicy.language.model` (`CHECKS` maps each kind to it); the runtime
classes read the validated model and repeat none of its names or defaults.
`build_check` is the same path from a plain mapping, for code and tests
outside a policy.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from cascadepolicy.language import model as lang

from .base import Check, JudgeFn, Linkable, Links

CHECKS: dict[str, type[lang.CheckBase]] = {
    typing.get_args(cls.model_fields["check"].annotation)[0]: cls
    for cls in typing.get_args(typing.get_args(lang.QualityCheck)[0])
}
# kind -> (module of this package, class) of the runtime check; imported on first use, so that
# validating a policy loads only the checks it uses.
_RUNTIME: dict[str, tuple[str, str]] = {
    "regex": ("text", "RegexCheck"), "length": ("text", "LengthCheck"), "hedging": ("text", "HedgingCheck"),
    "refusal": ("text", "RefusalCheck"), "coherence": ("coherence", "CoherenceCheck"), "json": ("structured", "JsonCheck"),
    "tool_call": ("tools", "ToolCallCheck"),
    "arithmetic": ("math_checks", "ArithmeticCheck"), "answer_format": ("math_checks", "AnswerFormatCheck"),
    "consistency": ("math_checks", "ConsistencyCheck"), "grounding": ("math_checks", "GroundingCheck"),
    "provenance": ("math_checks", "ProvenanceCheck"), "exactness": ("math_checks", "ExactnessCheck"),
    "logprob": ("model", "LogprobCheck"), "judge": ("model", "JudgeCheck"), "custom": ("custom", "CustomCheck"),
}  # fmt: skip
Compiled = Check | Linkable


def runtime_class(kind: str) -> type:
    module, name = _RUNTIME[kind]
    cls: type = getattr(_module(module), name)
    return cls


def _module(name: str) -> ModuleType:
    # Absolute module imports: a `from .` import would make this module import its own package.
    if name == "text":
        import cascadepolicy.quality.text as text
        return text
    if name == "coherence":
        import cascadepolicy.quality.coherence as coherence
        return coherence
    if name == "structured":
        import cascadepolicy.quality.structured as structured
        return structured
    if name == "tools":
        import cascadepolicy.quality.tools as tools
        return tools
    if name == "math_checks":
        import cascadepolicy.quality.math_checks as math_checks
        return math_checks
    if name == "model":
        import cascadepolicy.quality.model as model
        return model
    import cascadepolicy.quality.custom as custom
    return custom


def compile_check(spec: lang.QualityCheck) -> Compiled:
    """The check for a validated model; raises `ParamError` (a ValueError) naming the parameter at fault."""
    compiled: Compiled = runtime_class(spec.check)(spec)
    return compiled


def link_check(compiled: Compiled, links: Links) -> Check:
    """What runs on drafts: a check that needs the engine gets it here."""
    return compiled.link(links) if isinstance(compiled, Linkable) else compiled


def build_check(kind: str, params: Mapping[str, Any], *, judge: JudgeFn | None = None) -> Check:
    """A ready-to-call check from `{param: value}`; raises ValueError with one clear sentence on a bad kind or parameter."""
    from cascadepolicy.loading.callables import resolve
    from cascadepolicy.loading.pydantic_errors import validate
    from cascadepolicy.loading.schema_check import POLICY
    from cascadepolicy.loading.source import SourceMap

    if kind not in CHECKS:
        close = difflib.get_close_matches(kind, list(CHECKS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known checks: {', '.join(sorted(CHECKS))}"
        raise ValueError(f"unknown check '{kind}'{hint}")
    dialect = dataclasses.replace(POLICY, root=CHECKS[kind], whole="the check", tags={})
    spec, problems = validate(CHECKS[kind], {"check": kind, **params}, SourceMap(), dialect)
    if spec is None:
        raise ValueError(f"check '{kind}': " + "; ".join(
            d.message.rstrip(".") + (f" ({d.hint})" if d.hint else "") for d in problems))
    compiled = compile_check(spec)  # type: ignore[arg-type]  # CHECKS[kind] is one of the union's models
    if isinstance(compiled, Linkable) and judge is None and kind == "judge":
        raise ValueError("the judge check needs a judge function from the engine to call the model")
    return link_check(compiled, Links(judge=judge or _no_judge, resolve=resolve))


def _no_judge(model: str, prompt: str) -> tuple[str, float]:
    raise RuntimeError("no judge function was given")


def check_params(kind: str) -> dict[str, dict[str, Any]]:
    """Parameter name -> {type, default, required, description} of one check kind, from its model."""
    if kind not in CHECKS:
        raise ValueError(f"unknown check '{kind}'")
    out: dict[str, dict[str, Any]] = {}
    for name, info in CHECKS[kind].model_fields.items():
        if name in ("check", *lang.CheckBase.model_fields):
            continue
        required = info.is_required()
        default = None if required else info.get_default(call_default_factory=True)
        out[info.alias or name] = {"type": info.annotation, "default": default, "required": required,
                                   "description": info.description}
    return out
