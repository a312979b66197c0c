"""Types shared by every quality validator.

Where this sits: the loader compiles each check of a policy once from its
validated model (`registry.compile_check`); a check that needs the engine (a
judge's model call, a custom function's import) is `Linkable` and becomes a
`Check` when the engine links it. A cascade step calls a model, wraps the
answer in a `Draft`, runs the step's checks and folds their `CheckResult`s
into a `CompositeScore` that the engine compares with the step's acceptance
threshold.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from cascadepolicy.effects import JudgeRequest
from cascadepolicy.errors import CascadePolicyError


@dataclass(frozen=True)
class ToolCall:
    """One tool call of an answer, as the provider sent it: `arguments` is the raw JSON string."""

    id: str
    name: str
    arguments: str

    @classmethod
    def of(cls, raw: Any) -> ToolCall:
        """From an OpenAI/litellm tool call: a mapping or an object with `id` and `function.name`/`.arguments`."""
        def field(owner: Any, key: str) -> Any:
            return owner.get(key) if isinstance(owner, Mapping) else getattr(owner, key, None)

        function = field(raw, "function")
        arguments = field(function, "arguments")
        if not isinstance(arguments, str):  # already decoded by a provider adapter: what the caller gets is its JSON
            arguments = "" if arguments is None else json.dumps(arguments, default=str)
        return cls(str(field(raw, "id") or ""), str(field(function, "name") or ""), arguments)


@dataclass(frozen=True)
class Draft:
    """One model answer under review, with what the request asked of it.

    `tool_calls` are the answer's tool calls; `tools`, `tool_choice` and
    `response_format` are the request's, as the caller gave them."""

    text: str
    prompt: str
    logprobs: Sequence[float] | None = None
    complexity: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tools: Sequence[Any] = ()
    tool_choice: Any = None
    response_format: Any = None

    @property
    def is_tool_call(self) -> bool:
        """The answer is tool calls and no text: a check that reads the text has nothing to look at."""
        return bool(self.tool_calls) and not self.text.strip()


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check on one draft; `detail` is a short sentence for the decision record."""

    check: str
    score: float
    passed: bool
    skipped: bool = False
    detail: str = ""
    cost: float = 0.0


@dataclass(frozen=True)
class CompositeScore:
    """Weighted mean of the non-skipped results; a failed required check forces 0."""

    score: float
    results: tuple[CheckResult, ...]
    gate_failed: str | None = None


Check = Callable[[Draft], CheckResult]
JudgeFn = Callable[[str, str], tuple[str, float]]
"""(model id, prompt) -> (judge answer text, cost in USD); supplied by the engine."""


@dataclass(frozen=True)
class Links:
    """What the engine gives the checks that need more than the policy: nothing here is read at validate time."""

    judge: JudgeFn
    resolve: Callable[[str], Callable[..., Any]]  # `module:function` -> the imported callable


@runtime_checkable
class Judged(Protocol):
    """A check that asks a judge model: the walk makes the call (`request`) and hands back the reply (`grade`)."""

    def request(self, draft: Draft) -> JudgeRequest: ...

    def grade(self, reply: str | BaseException, cost: float = 0.0) -> CheckResult: ...


@runtime_checkable
class Linkable(Protocol):
    """A compiled check that needs the engine before it can run."""

    def link(self, links: Links) -> Check: ...


class ParamError(CascadePolicyError, ValueError):
    """A check's parameters cannot be compiled: `param` names the one at fault (None: the check as a
    whole), `inside` a path within its value, `hint` what to do, and `code` is the diagnostic code the loader reports it under."""

    def __init__(self, param: str | None, message: str, code: str = "check-params", *,
                 inside: tuple[str | int, ...] = (), hint: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code
        self.inside = inside  # a path inside the parameter's value (a JSON Schema's own keys)
        self.hint = hint


def clamp01(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def skipped(check: str, detail: str) -> CheckResult:
    return CheckResult(check=check, score=1.0, passed=True, skipped=True, detail=detail)


def reads_text(check: Check) -> bool:
    """Whether `check` judges the answer's text: a check class says otherwise with `reads_text = False`
    (`logprob`, `custom`, `tool_call`); any other check, a plain function included, reads it."""
    return bool(getattr(check, "reads_text", True))
