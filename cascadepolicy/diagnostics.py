"""Diagnostics: the plain data every checking stage yields.

Parsing, schema checking, reference checking and condition checking all
produce `Diagnostic` values instead of raising; only the convenience loader
turns a list of them into a `PolicyError`. Each diagnostic carries a stable
code from `CODES`, which tests assert on instead of wording.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based line and column in a file."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def shifted(self, columns: int) -> Location:
        return Location(self.file, self.line, self.column + columns)


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    location: Location | None = None
    severity: Severity = Severity.ERROR
    hint: str | None = None
    context: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered diagnostic code {self.code!r}")

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.code) if loc else ("", 0, 0, self.code)

    def format(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.severity.value}[{self.code}] {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        loc = self.location
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "hint": self.hint,
        }


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=Diagnostic.sort_key)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A "did you mean" hint for a misspelt name, or None when nothing is close."""
    matches = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else None


# Every code a diagnostic may carry, with the one-line meaning the docs list.
CODES: dict[str, str] = {
    # reading the file
    "file-not-found": "The policy file does not exist or cannot be read.",
    "file-too-large": "The file is larger than the size limit for a policy.",
    "file-encoding": "The file is not UTF-8 text (binary data or another encoding).",
    "file-empty": "The file is empty or holds only comments.",
    "yaml-syntax": "The YAML cannot be parsed.",
    "yaml-duplicate-key": "A mapping repeats a key; YAML would silently keep only one.",
    "yaml-tab": "A tab character is used for indentation.",
    "yaml-not-mapping": "The document is not a mapping of policy sections.",
    "yaml-unsupported": "A YAML feature that policies do not allow (several documents in one file).",
    "yaml-too-complex": "The YAML would expand past a parsing limit: too many values or characters once aliases and merge keys are expanded, too many aliases, merge keys or documents, or nesting too deep.",
    # composition and interpolation
    "env-unset": "A ${VAR} reference names an environment variable that is not set and has no default.",
    "env-syntax": "A ${...} reference is malformed.",
    "extends-not-found": "A file named in `extends` does not exist.",
    "extends-cycle": "Files extend each other in a cycle.",
    "extends-outside": "A base named in `extends` (or a policy file reached through a symbolic link) resolves outside the policy's repository.",
    "extends-invalid": "A path in `extends` cannot name a readable file: a NUL character, too long, a directory, a device or FIFO.",
    "extends-limit": "A composition would read more files, or nest bases deeper, than the limits allow.",
    "env-file-ignored": "The `.env` beside the policy was not read: outside the repository, not a regular file, too large or not UTF-8.",
    # schema
    "schema-unknown-key": "A key that the policy language does not define.",
    "schema-missing-key": "A required key is missing.",
    "schema-type": "A value has the wrong type.",
    "schema-enum": "A value is not one of the allowed choices.",
    "schema-range": "A number is outside its allowed range.",
    "schema-duration": "A duration is malformed (write 30s, 10m, 1h, 1d or 7d) or longer than ten years.",
    "schema-pattern": "A string does not have the required form.",
    "schema-version": "The policy `version` is not one this release reads.",
    "schema-invalid": "A value is invalid for another reason given in the message.",
    "schema-secret": "A secret is written literally where an environment reference is required.",
    "schema-timezone": "A time zone name is not in the IANA database.",
    # references
    "ref-undefined": "A reference names a model, cascade, validator set, tier or guardrail that does not exist.",
    "ref-duplicate-id": "Two elements share an id that must be unique.",
    "ref-custom-callable": "A `module:function` reference (or entry point) names a module that cannot be found, a function it does not define, or something not callable.",
    # validators (each check compiled as the engine will run it)
    "check-regex": "A validator's regular expression does not compile, lacks the capture group it needs, or its counted repeats multiply out past the size limit.",
    "check-json-schema": "A `json` check's schema is not a valid JSON Schema, names a draft jsonschema does not know, or refers outside itself or to nothing.",
    "check-params": "A validator's parameters contradict each other, so no answer could pass (a minimum above its maximum).",
    # the engine's compile (run by the loader: what engine() would meet)
    "plan-compile": "An element of the policy cannot be compiled into the execution plan; the policy validated otherwise, so this is a bug in cascadepolicy.",
    "guardrail-backend": "A guardrail names an optional backend whose packages are not installed where the policy is validated (presidio-analyzer with its spaCy model, alt-profanity-check).",
    "store-invalid": "The state store's options cannot work: the redis package is missing, redis-py cannot parse the Redis URL, or the SQLite path cannot name a database file.",
    # conditions
    "expr-syntax": "A condition is not a valid expression.",
    "expr-unknown-name": "A condition uses a name that is neither declared in `context` nor built in.",
    "expr-forbidden": "A condition uses an operator, attribute access or construct that is not allowed.",
    "expr-unknown-function": "A condition calls a function that is not on the allowlist.",
    "expr-enum-value": "A condition compares an enum field with a value it can never have.",
    "expr-too-complex": "A condition is longer or deeper than the limits allow, or a constant one exceeds them when evaluated.",
    # logic
    "route-unreachable": "A route can never be taken: an earlier route matches every request, or its condition is always false.",
    "route-no-default": "The routes have no default, so some requests would match nothing.",
    "cascade-cost-order": "A cascade step costs more than the step after it.",
    "cascade-last-accept": "The last cascade step has an acceptance rule but nothing to escalate to.",
    "store-not-durable": "Budgets or rate windows are kept in the memory store and are lost on restart.",
    "guardrail-action": "A guardrail action does not fit its stage or check.",
    "budget-thresholds": "Budget thresholds are out of order (warn <= degrade <= block).",
    "price-unknown": "A model has no known price; give `pricing` in the policy.",
    "model-context": "A model's max_tokens exceeds what the price table says it can produce.",
    "alert-url": "An alert's webhook URL is written in the policy instead of coming whole from an environment variable, or the variable's value is not an http or https URL with a host.",
    # test suites (`cascadepolicy test`)
    "test-unknown-key": "A test suite uses a key that suites do not define.",
    "test-missing-key": "A test suite entry is missing a required key.",
    "test-type": "A test suite value has the wrong type.",
    "test-enum": "A test suite value is not one of the allowed choices.",
    "test-invalid": "A test suite value is invalid for another reason given in the message.",
    "test-policy": "The policy a test suite names cannot be found or has errors.",
    "test-ref": "A test suite names a route, model, guardrail, limit or tier the policy does not define.",
    "test-duplicate-name": "Two cases of a test suite share a name.",
}
