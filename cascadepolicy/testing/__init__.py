"""Policy test suites: `cascadepolicy test`.

    suite file (*_test.yaml) ──parse──▶ model (TestSuite, strict) ──check refs──▶
    runner: each case through the policy's real compiled graph, offline
    (fixed clock, in-memory store seeded by fixtures, mocked answers,
    forced guardrail verdicts) ──▶ expectations ──▶ report (text | json | junit)
                                                  └──▶ coverage of the policy

`load_suite` reads and checks one suite file; `run_suite` runs it.
"""

from __future__ import annotations

from cascadepolicy.testing.runner import CaseResult, SuiteResult, load_suite, run_suite

__all__ = ["CaseResult", "SuiteResult", "load_suite", "run_suite"]
