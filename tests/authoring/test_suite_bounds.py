"""A test suite from a pull request is bounded like a policy: its numbers have ranges.

`cascadepolicy test` runs suites that anyone with a fork can write. A seeded
`tokens: 1e400` could not become a float, an `ago` of 6e25 seconds overflowed
the clock, `now: 1e300` or `now: yesterday` is no date (the latter exited 3), a
`now` in December 9999 has no month after it, and `repeat: 100000` of a long prompt
asked for gigabytes; each is now a located `test-invalid` before any case runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_runner import HEAD, run_text

LONG = "x" * 20_000


@pytest.mark.parametrize(("case", "token"), [
    ("  - {name: a, request: {prompt: hi}, fixtures: {usage: [{tokens: 1" + "0" * 400 + "}]}, expect: {}}\n", "1000"),
    ("  - {name: a, request: {prompt: hi}, fixtures: {usage: [{requests: 1, ago: 99999999999999999999w}]}, expect: {}}\n", "9999"),
    ("  - {name: a, request: {prompt: hi}, fixtures: {usage: [{requests: 1, ago: 3651d}]}, expect: {}}\n", "3651d"),
    ("  - {name: a, request: {prompt: hi}, fixtures: {usage: [{usd: .inf}]}, expect: {}}\n", ".inf"),
    ("  - {name: a, request: {prompt: hi}, fixtures: {now: 1.0e+300}, expect: {}}\n", "1.0e"),
    ("  - {name: a, request: {prompt: hi}, fixtures: {now: '9999-12-31T23:00:00Z'}, expect: {}}\n", "'9999"),
    ("  - {name: a, request: {prompt: hi}, fixtures: {now: yesterday}, expect: {}}\n", "yesterday"),
    (f"  - {{name: a, request: {{prompt: {LONG}, repeat: 100000}}, expect: {{}}}}\n", "{prompt"),
])
def test_suite_numbers_out_of_range_are_located_errors(tmp_path: Path, case: str, token: str) -> None:
    result = run_text(tmp_path, case)
    assert result.cases == [] and not result.ok
    column = (HEAD + case).splitlines()[8].index(token) + 1
    assert [(d.code, d.location.line if d.location else 0, d.location.column if d.location else 0)
            for d in result.diagnostics] == [("test-invalid", 9, column)]
