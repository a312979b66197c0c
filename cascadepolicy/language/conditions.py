"""Route conditions: parsed and checked once, compiled into closures.

A condition such as `user.tier == 'free' and request.tokens > 4000` is parsed
with Python's `ast` at load time and checked against an allowlist of node
types, operators and functions; every dotted name must be declared in the
policy's `context` or be built in. Errors carry the column inside the
expression. The checked tree is compiled into nested closures over a flat
mapping of dotted names, evaluated with simpleeval's semantics (Python's
operators on a small allowlist) but bounded in every result: the operators
and functions of `cascadepolicy.language.condition_ops` refuse, before computing, any
integer, string or list over its cap. Parts that read no request field are
evaluated once here, so a constant over a cap is an `expr-too-complex`
diagnostic at its column; no condition can reach Python internals or spend
unbounded CPU or memory.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cascadepolicy.diagnostics import Diagnostic, Location, did_you_mean
from cascadepolicy.errors import ConditionError
from cascadepolicy.language import condition_ops as ops

MAX_LENGTH = 2000
MAX_DEPTH = 32
MAX_NODES = 400

DOMAINS = ("code", "math", "medical", "legal", "financial", "creative", "general")
COMPLEXITIES = ("trivial", "simple", "moderate", "hard", "expert")


@dataclass(frozen=True)
class FieldType:
    type: str  # string | integer | number | boolean | any
    enum: tuple[str, ...] | None = None
    description: str = ""


BUILTIN_FIELDS: dict[str, FieldType] = {
    "request.tokens": FieldType("integer", None, "Prompt tokens, counted offline with litellm's tokenizer."),
    "request.domain": FieldType("string", DOMAINS, "Detected subject area of the last user message."),
    "request.complexity": FieldType("string", COMPLEXITIES, "Detected difficulty of the last user message."),
    "request.message_count": FieldType("integer", None, "Number of messages in the request."),
    "request.model": FieldType("string", None, "The `model` the caller asked for, as a hint ('' when none); routing still decides."),
    "request.tool_count": FieldType("integer", None, "Number of tools the request offers the model (`tools`)."),
    "user.id": FieldType("string", None, "The caller's user id."),
    "user.tier": FieldType("string", None, "The caller's tier (one of the policy's tiers)."),
}
OPEN_PREFIXES = ("metadata.",)

Values = Mapping[str, Any]
Evaluator = Callable[[Values], Any]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "lower": ops.lower, "upper": ops.upper, "abs": ops.absolute, "min": min, "max": max,
    "round": ops.round_, "int": ops.to_int, "float": ops.to_float, "str": ops.text,
    "startswith": ops.startswith, "endswith": ops.endswith, "contains": ops.contains,
}

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: ops.add, ast.Sub: ops.sub, ast.Mult: ops.mul, ast.Div: ops.truediv,
    ast.FloorDiv: ops.floordiv, ast.Mod: ops.mod, ast.Pow: ops.power,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.Not: operator.not_, ast.USub: ops.neg, ast.UAdd: ops.pos,
}


@dataclass(frozen=True)
class Condition:
    """A checked, compiled condition. `evaluate` raises ConditionError on failure."""

    source: str
    names: frozenset[str]
    location: Location | None
    _fn: Evaluator

    def evaluate(self, values: Values) -> bool:
        try:
            return bool(self._fn(values))
        except ConditionError:
            raise
        except Exception as exc:  # any runtime failure fails the condition closed
            where = f" at {self.location}" if self.location else ""
            raise ConditionError(f"condition `{self.source}`{where} failed: {exc}") from exc

    def trace(self, values: Values) -> dict[str, Any]:
        """The values of the names this condition reads, for `explain`."""
        out = {}
        for name in self._sorted_names:
            try:
                out[name] = values[name]
            except KeyError:
                out[name] = "<missing>"
        return out

    @cached_property
    def _sorted_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.names))


class _Problem(Exception):
    def __init__(self, code: str, message: str, node: ast.AST | None, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.node, self.hint = code, message, node, hint


def compile_condition(text: str, fields: Mapping[str, FieldType], location: Location | None = None
                      ) -> tuple[Condition | None, list[Diagnostic]]:
    """Check `text` against `fields` and compile it, or return why not."""

    lead = len(text) - len(text.lstrip())  # the text is parsed stripped; columns count from the original

    def at(node: ast.AST | None, col: int | None = None) -> Location | None:
        if location is None:
            return None
        if col is None:
            col = getattr(node, "col_offset", 0) if node is not None else 0
            if getattr(node, "lineno", 1) > 1:
                return location
        return location.shifted(lead + col)

    if len(text) > MAX_LENGTH:
        return None, [Diagnostic("expr-too-complex", f"the condition is {len(text)} characters long; the limit is {MAX_LENGTH}.", location)]
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = (exc.offset or 1) - 1 if exc.lineno in (None, 1) else 0
        message = exc.msg
        if not exc.offset and exc.msg == "invalid syntax":  # Python's way of saying "ended too early"
            col, message = len(text.strip()), "it ends before the expression is complete"
        return None, [Diagnostic("expr-syntax", f"the condition is not a valid expression: {message}.", at(None, col),
                                 hint="conditions look like `user.tier == 'free' and request.tokens > 4000`.")]
    except (ValueError, MemoryError, RecursionError) as exc:
        return None, [Diagnostic("expr-syntax", f"the condition cannot be parsed: {exc}.", location)]
    compiler = _Compiler(fields)
    try:
        fn = compiler.compile(tree.body, 0)
    except _Problem as problem:
        return None, [Diagnostic(problem.code, problem.message, at(problem.node), hint=problem.hint)]
    return Condition(text, frozenset(compiler.names), location, fn), []


def dotted_name(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Compiler:
    def __init__(self, fields: Mapping[str, FieldType]) -> None:
        self.fields = fields
        self.names: set[str] = set()
        self.count = 0
        self.reads = 0  # field reads compiled so far: a part that adds none is a constant

    def compile(self, node: ast.AST, depth: int) -> Evaluator:
        self.count += 1
        if depth > MAX_DEPTH or self.count > MAX_NODES:
            raise _Problem("expr-too-complex", f"the condition is nested deeper than {MAX_DEPTH} levels or has more than {MAX_NODES} parts.", node)
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise _Problem("expr-forbidden", f"{_describe(node)} is not allowed in a condition.", node,
                           hint="conditions may use names, literals, and/or/not, comparisons, arithmetic and allowlisted functions.")
        reads = self.reads
        fn: Evaluator = method(node, depth + 1)
        if self.reads == reads and not isinstance(node, ast.Constant):
            return self._fold(fn, node)
        return fn

    def _fold(self, fn: Evaluator, node: ast.AST) -> Evaluator:
        """Evaluate a part that reads no field now, so that a cap it exceeds is a load-time error."""
        try:
            value = fn({})
        except ops.LimitExceeded as exc:
            raise _Problem("expr-too-complex", f"this part of the condition exceeds a limit: {exc}.", node,
                           hint="conditions compute small numbers and short strings; see 'Bounded evaluation' in docs/security.md.") from None
        except Exception:  # other failures (`1/0`) stay run-time errors, as unevaluated branches may never meet them
            return fn
        return lambda values: value

    def _Constant(self, node: ast.Constant, depth: int) -> Evaluator:
        value = node.value
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise _Problem("expr-forbidden", f"the literal {value!r} is not allowed in a condition.", node)
        if isinstance(value, int) and value.bit_length() > ops.MAX_INT_BITS:
            raise _Problem("expr-too-complex", f"the number has {value.bit_length():,} bits; conditions handle integers of at most {ops.MAX_INT_BITS:,} bits.", node)
        return lambda values: value

    def _Name(self, node: ast.Name, depth: int) -> Evaluator:
        return self._field(node.id, node)

    def _Attribute(self, node: ast.Attribute, depth: int) -> Evaluator:
        name = dotted_name(node)
        if name is None:
            raise _Problem("expr-forbidden", "attribute access is allowed only on declared names such as `user.tier`.", node)
        if any(part.startswith("_") for part in name.split(".")):
            raise _Problem("expr-forbidden", f"`{name}`: names starting with an underscore are not allowed.", node)
        return self._field(name, node)

    def _field(self, name: str, node: ast.AST) -> Evaluator:
        if name not in self.fields and not name.startswith(OPEN_PREFIXES):
            hint = did_you_mean(name, list(self.fields))
            raise _Problem("expr-unknown-name", f"`{name}` is neither declared in `context` nor a built-in field.", node,
                           hint=hint or f"declare it under `context:` (e.g. `{name}: string`), or use one of: {', '.join(sorted(self.fields))}.")
        self.names.add(name)
        self.reads += 1

        def read(values: Values) -> Any:
            try:
                return values[name]
            except KeyError:
                raise ConditionError(f"the request has no value for `{name}`") from None
        return read

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> Evaluator:
        parts = [self.compile(v, depth) for v in node.values]
        if len(parts) == 2:  # the common case, without a generator per evaluation
            a, b = parts
            if isinstance(node.op, ast.And):
                return lambda values: bool(a(values)) and bool(b(values))
            return lambda values: bool(a(values)) or bool(b(values))
        if isinstance(node.op, ast.And):
            return lambda values: all(p(values) for p in parts)
        return lambda values: any(p(values) for p in parts)

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> Evaluator:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise _Problem("expr-forbidden", f"the operator {type(node.op).__name__} is not allowed.", node)
        operand = self.compile(node.operand, depth)
        return lambda values: op(operand(values))

    def _BinOp(self, node: ast.BinOp, depth: int) -> Evaluator:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise _Problem("expr-forbidden", f"the operator {type(node.op).__name__} is not allowed; use + - * / // % **.", node)
        if isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            raise _Problem("expr-forbidden", "string formatting with `%` is not allowed in a condition.", node,
                           hint="compare the parts instead, e.g. `startswith(user.id, 'team-')`.")
        left, right = self.compile(node.left, depth), self.compile(node.right, depth)
        return lambda values: op(left(values), right(values))

    def _Compare(self, node: ast.Compare, depth: int) -> Evaluator:
        for op in node.ops:
            if type(op) not in _CMPOPS:
                raise _Problem("expr-forbidden", f"the comparison {type(op).__name__} is not allowed; use == != < <= > >= in, not in.", node)
        self._check_enum(node)
        left = self.compile(node.left, depth)
        rights = [self.compile(c, depth) for c in node.comparators]
        ops = [_CMPOPS[type(op)] for op in node.ops]
        if len(ops) == 1:  # `a op b`, the common case
            only, right = ops[0], rights[0]
            if isinstance(node.comparators[0], ast.Constant):
                constant = node.comparators[0].value
                return lambda values: only(left(values), constant)
            return lambda values: only(left(values), right(values))

        def compare(values: Values) -> bool:
            current = left(values)
            for op, right in zip(ops, rights, strict=True):
                nxt = right(values)
                if not op(current, nxt):
                    return False
                current = nxt
            return True
        return compare

    def _check_enum(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            pair = (operands[index], operands[index + 1])
            for name_node, other in (pair, pair[::-1]):
                name = dotted_name(name_node)
                field = self.fields.get(name or "")
                if field is None or field.enum is None:
                    continue
                literals: list[ast.AST] = []
                if isinstance(op, ast.Eq | ast.NotEq) and isinstance(other, ast.Constant):
                    literals = [other]
                elif isinstance(op, ast.In | ast.NotIn) and other is pair[1] and isinstance(other, ast.List | ast.Tuple | ast.Set):
                    literals = [e for e in other.elts if isinstance(e, ast.Constant)]
                for literal in literals:
                    value = literal.value  # type: ignore[attr-defined]
                    if value not in field.enum:
                        raise _Problem("expr-enum-value", f"`{name}` is never {value!r}; its values are {', '.join(field.enum)}.",
                                       literal, hint=did_you_mean(str(value), field.enum))

    def _IfExp(self, node: ast.IfExp, depth: int) -> Evaluator:
        test, body, orelse = (self.compile(n, depth) for n in (node.test, node.body, node.orelse))
        return lambda values: body(values) if test(values) else orelse(values)

    def _sequence(self, node: ast.List | ast.Tuple | ast.Set, depth: int) -> Evaluator:
        items = [self.compile(e, depth) for e in node.elts]
        return lambda values: tuple(i(values) for i in items)

    _List = _Tuple = _Set = _sequence

    def _Call(self, node: ast.Call, depth: int) -> Evaluator:
        if isinstance(node.func, ast.Attribute):
            raise _Problem("expr-forbidden", "only the allowlisted functions can be called, by plain name (no methods).", node,
                           hint=f"write `startswith(user.id, 'x')` rather than `user.id.startswith('x')`; allowed: {', '.join(sorted(FUNCTIONS))}.")
        if not isinstance(node.func, ast.Name):
            raise _Problem("expr-forbidden", f"{_describe(node.func)} is not allowed in a condition.", node.func,
                           hint=f"only allowlisted functions can be called: {', '.join(sorted(FUNCTIONS))}.")
        fn = FUNCTIONS.get(node.func.id)
        if fn is None:
            raise _Problem("expr-unknown-function", f"`{node.func.id}` is not an allowed function.", node,
                           hint=did_you_mean(node.func.id, FUNCTIONS) or f"allowed: {', '.join(sorted(FUNCTIONS))}.")
        if node.keywords:
            raise _Problem("expr-forbidden", "keyword arguments are not allowed in conditions.", node)
        args = [self.compile(a, depth) for a in node.args]
        return lambda values: fn(*(a(values) for a in args))


def _describe(node: ast.AST) -> str:
    names = {"Subscript": "indexing (`x[...]`)", "Lambda": "a lambda", "Call": "calling the result of a call", "ListComp": "a comprehension",
             "GeneratorExp": "a generator", "DictComp": "a comprehension", "SetComp": "a comprehension",
             "NamedExpr": "assignment (`:=`)", "Dict": "a dict literal", "Starred": "unpacking", "JoinedStr": "an f-string",
             "Await": "await", "Yield": "yield"}
    return names.get(type(node).__name__, f"`{type(node).__name__}`")
