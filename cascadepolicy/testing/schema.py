"""Suite files → `TestSuite`, with `file:line:col` diagnostics for bad ones.

The same path as policies take (`cascadepolicy.loading.schema_check`): the
pydantic models in `cascadepolicy.testing.model` validate the data, and the
one translator (`cascadepolicy.loading.pydantic_errors`) turns each error
into a `Diagnostic` with a stable `test-*` code, the location of the
offending key or value from the source map, and a "did you mean" for a
misspelt key.
"""

from __future__ import annotations

from typing import Any

from cascadepolicy.diagnostics import Diagnostic
from cascadepolicy.loading.pydantic_errors import Dialect, validate
from cascadepolicy.loading.source import SourceMap
from cascadepolicy.testing.model import TestSuite


def _is_branch(step: Any) -> bool:
    """pydantic names union branches in `loc` (`str`, `AnswerError`, `tuple[...]`); they are not data keys."""
    return isinstance(step, str) and (step in ("str", "int", "float", "bool", "function-after[_one_body(), Request]")
                                      or step[:1].isupper() or "[" in step or step.startswith(("literal", "function-"))
                                      or step in ("tuple", "dict"))


SUITE = Dialect(
    root=TestSuite,
    codes={"unknown-key": "test-unknown-key", "missing-key": "test-missing-key", "type": "test-type", "enum": "test-enum",
           "invalid": "test-invalid"},
    whole="the suite",
    skip=_is_branch,
)


def check_suite_data(data: Any, source_map: SourceMap) -> tuple[TestSuite | None, list[Diagnostic]]:
    return validate(TestSuite, data, source_map, SUITE)
