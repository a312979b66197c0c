"""The `tool_call` check: an answer's tool calls are calls the request allows.

Where this sits: compiled by `registry.compile_check` like every check and
run on each draft of a step that lists it. A draft that is a tool call
carries the request's `tools` and `tool_choice` (`base.Draft`); each call
must name a function tool the request offers (and the one `tool_choice`
names, if it names one), and its `arguments` must be a JSON object valid
against that tool's `function.parameters`. The tools come from the caller,
so their schemas are untrusted: they go through the `json` check's bounded
machinery (`structured`: size and depth limits, no reference outside the
schema, patterns and validation under time limits), and a schema that
cannot be used fails the call (fail closed) rather than passing it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, ClassVar

from cascadepolicy.language import model as lang

from .base import CheckResult, Draft, ParamError, ToolCall, skipped
from .structured import (
    json_shape_problem,
    json_type,
    parse_json,
    request_schema_validator,
    validate_bounded,
)

MAX_TOOLS = 1024  # tools read from one request (OpenAI accepts 128)

Offered = dict[str, Any]  # function name -> its `parameters` schema (None: the tool declares none)


class ToolCallCheck:
    """Every tool call of the draft is valid for the request; a text answer skips (or fails with `require_call`)."""

    kind: ClassVar[str] = "tool_call"
    reads_text: ClassVar[bool] = False

    def __init__(self, spec: lang.ToolCallCheck) -> None:
        self.spec = spec

    def __call__(self, draft: Draft) -> CheckResult:
        choice = _choice(draft.tool_choice)
        if not draft.tool_calls:
            if self.spec.require_call:
                return self._fail("the answer is text, and this check requires a tool call")
            if choice is not None and choice != "none":
                return self._fail("the answer is text, and the request's tool_choice requires a tool call")
            return skipped(self.kind, "the answer has no tool call")
        if choice == "none":
            return self._fail("the answer calls a tool, and the request's tool_choice is 'none'")
        offered, problem = _offered(draft.tools)
        if problem is not None:
            return self._fail(problem)
        for number, call in enumerate(draft.tool_calls, 1):
            problem = self._problem(call, offered, choice)
            if problem is not None:
                return self._fail(f"tool call {number} ({call.name[:80]!r}): {problem}")
        count = len(draft.tool_calls)
        return CheckResult(self.kind, 1.0, True, detail=f"{count} tool call{'s' if count > 1 else ''} valid")

    def _problem(self, call: ToolCall, offered: Offered, choice: str | None) -> str | None:
        if choice not in (None, "none", "required") and call.name != choice:
            return f"the request's tool_choice names {choice[:80]!r}"
        if call.name not in offered and not self.spec.allow_unknown_tools:
            names = ", ".join(repr(name[:40]) for name in sorted(offered)[:5]) or "none"
            return f"the request offers no tool of that name (offered: {names})"
        value, problem = parse_json(call.arguments, "the arguments' JSON")
        if problem is not None:
            return f"the arguments are {problem}" if problem.startswith("not ") else problem
        if not isinstance(value, dict):
            return f"the arguments are {json_type(value)}, not a JSON object"
        parameters = offered.get(call.name)
        if parameters is None:
            return None
        try:
            validator = _validator(parameters)
        except ParamError as exc:
            return f"the tool's parameter schema cannot be used: {str(exc)[:200]}"
        return validate_bounded(validator, value)

    def _fail(self, detail: str) -> CheckResult:
        return CheckResult(self.kind, 0.0, False, detail=detail)


def _choice(tool_choice: Any) -> str | None:
    """None (`auto` or absent), 'none', 'required', or the name of the one function the request forces."""
    if isinstance(tool_choice, str):
        return tool_choice if tool_choice in ("none", "required") else None
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        return name if isinstance(name, str) else "required"  # a forced tool we cannot name: some call is required
    return None


def _offered(tools: Any) -> tuple[Offered, str | None]:
    """The request's function tools by name, or why they are not an OpenAI `tools` list."""
    if not tools:
        return {}, None
    if isinstance(tools, str | bytes | Mapping) or not isinstance(tools, Sequence):
        return {}, f"the request's tools are {type(tools).__name__}, not a list of tools"
    if len(tools) > MAX_TOOLS:
        return {}, f"the request offers more than {MAX_TOOLS:,} tools"
    offered: Offered = {}
    for number, tool in enumerate(tools, 1):
        if not isinstance(tool, Mapping):
            return {}, f"the request's tool {number} is {type(tool).__name__}, not a mapping"
        if tool.get("type", "function") != "function":
            continue  # a provider-side tool: it produces no call for the caller to run
        function = tool.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str):
            return {}, f"the request's tool {number} has no function name"
        offered[name] = function.get("parameters")  # type: ignore[union-attr]  # a Mapping when name is set
    return offered, None


def _validator(parameters: Any) -> Any:
    """The bounded validator of a tool's parameter schema, compiled once per distinct schema; raises ParamError."""
    problem = json_shape_problem(parameters, "the parameter schema")
    if problem is not None:
        raise ParamError(None, f"{problem}.")
    try:
        key = json.dumps(parameters, sort_keys=True)
    except (TypeError, ValueError):
        raise ParamError(None, "the parameter schema is not JSON data.") from None
    return _compiled(key)


@lru_cache(maxsize=256)
def _compiled(key: str) -> Any:
    return request_schema_validator(json.loads(key), "the parameter schema")
