"""The suite runner in process: example suites, expectations that must fail, fixtures, coverage, diagnostics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cascadepolicy.testing import load_suite, run_suite
from cascadepolicy.testing.runner import SuiteResult

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
POLICY = (POLICIES / "saas.yaml").read_text(encoding="utf-8")

HEAD = """policy: saas.yaml
defaults:
  request: {user: u1, tier: free, metadata: {feature: chat}}
  fixtures:
    answers:
      small: The export button is in the top right corner of the report page.
      large: Open the report and click Export in the top right corner.
cases:
"""


def run_text(tmp_path: Path, cases: str, head: str = HEAD) -> SuiteResult:
    (tmp_path / "saas.yaml").write_text(POLICY, encoding="utf-8")
    suite = tmp_path / "s_test.yaml"
    suite.write_text(head + cases, encoding="utf-8")
    return run_suite(load_suite(suite))


@pytest.mark.parametrize("name", ["saas", "math-tutor", "support-bot", "multi-host"])
def test_every_example_policy_has_a_passing_suite_at_full_coverage(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)  # multi-host's suite sets its own
    result = run_suite(load_suite(POLICIES / f"{name}_test.yaml"))
    assert result.diagnostics == []
    assert [(c.name, c.failures) for c in result.cases if not c.passed] == []
    assert len(result.cases) >= 10
    assert result.coverage is not None and result.coverage.missing == [] and result.coverage.percent == 100.0


def test_wrong_expectations_fail_with_one_sentence_each(tmp_path: Path) -> None:
    result = run_text(tmp_path, """
  - name: everything wrong
    request: {prompt: How do I export a report?}
    expect:
      outcome: blocked
      route: code-review
      models: [large]
      final_model: large
      content: nowhere
      cost: {max: 0}
      decision:
        route.kind: conditional
        calls.0.outcome: {equals: error}
        validations.9.score: {min: 1}
""")
    (case,) = result.cases
    assert not case.passed and not result.ok
    assert case.location == f"{tmp_path / 's_test.yaml'}:10:5"
    assert case.failures[:4] == ["outcome: expected 'blocked', got 'answered'",
                                 "route: expected 'code-review', got 'everything-else'",
                                 "models called: expected ['large'], got ['small']",
                                 "final model: expected 'large', got 'small'"]
    joined = "\n".join(case.failures)
    assert "content: expected text containing 'nowhere'" in joined
    assert "cost: expected at most 0, got" in joined
    assert "decision.route.kind: expected 'conditional', got 'default'" in joined
    assert "decision.calls.0.outcome: expected 'error', got 'ok'" in joined
    assert "decision.validations.9.score: expected a value, got none" in joined
    assert len(case.failures) == 9


def test_text_report_names_failures_by_location_and_lists_missing_coverage(tmp_path: Path) -> None:
    import io

    from cascadepolicy.testing.report import report_text

    result = run_text(tmp_path, """  - name: wrong route
    request: {prompt: How do I export a report?}
    expect: {route: code-review}
""")
    out = io.StringIO()
    report_text([result], out, coverage=True)
    lines = out.getvalue().splitlines()
    route = POLICY.splitlines().index("  - name: free-long-prompt") + 1
    assert lines[:2] == [f"FAIL {tmp_path / 's_test.yaml'}:9:5 :: wrong route",
                         "    route: expected 'code-review', got 'everything-else'"]
    assert f"    not exercised: route #0 free-long-prompt ({tmp_path / 'saas.yaml'}:{route}:5)" in lines
    assert lines[-1] == "1 suite(s), 1 case(s): 0 passed, 1 failed"


def test_a_model_without_an_answer_fails_the_case_offline(tmp_path: Path) -> None:
    head = HEAD.replace("      large: Open the report and click Export in the top right corner.\n", "")
    result = run_text(tmp_path, """
  - name: large is called but has no answer
    request: {prompt: review, metadata: {feature: code-review}}
    expect: {route: code-review}
""", head)
    (case,) = result.cases
    assert case.failures == ["model 'large' was called but the case gives no answer for it (fixtures.answers)"]


def test_answer_sequences_retry_errors_and_fall_back(tmp_path: Path) -> None:
    result = run_text(tmp_path, """
  - name: one timeout then an answer from the same model
    request: {prompt: review, metadata: {feature: code-review}}
    fixtures:
      answers: {large: [{error: timeout, message: slow}, Fixed on the second try.]}
    expect:
      final_model: large
      content: second try
      decision:
        calls.0.attempts: {length: 2}
        calls.0.attempts.0.error: {contains: slow}
  - name: auth errors are not retried; the fallback answers
    request: {prompt: review, metadata: {feature: code-review}}
    fixtures:
      answers: {large: {error: auth}}
    expect:
      final_model: small
      decision:
        calls.0.attempts: {length: 2}
""")
    assert [(c.name, c.failures) for c in result.cases if not c.passed] == []


def test_seeded_spend_lands_on_the_counters_admission_reads(tmp_path: Path) -> None:
    result = run_text(tmp_path, """
  - name: just under the block threshold the worst case no longer fits
    request: {prompt: How do I export a report?}
    fixtures:
      usage: [{usd: 0.9999}, {user: someone-else, usd: 0.5}]
    expect:
      decision:
        admission.limits.2.used: {min: 0.9998, max: 1.0}
        admission.limits.3.used: {min: 0.9998, max: 1.5}
  - name: usage of another user does not count for u1
    request: {prompt: How do I export a report?}
    fixtures:
      usage: [{user: someone-else, requests: 10}]
    expect: {outcome: answered}
  - name: usage from two hours ago left the hourly window
    request: {prompt: How do I export a report?}
    fixtures:
      usage: [{requests: 10, ago: 2h}]
    expect: {outcome: answered}
""")
    assert [(c.name, c.failures) for c in result.cases if not c.passed] == []
    first = result.cases[0].decision
    assert first is not None
    labels = [limit["label"] for limit in first["admission"]["limits"]]
    assert labels[2] == "tier 'free': $1 per day" and labels[3].startswith("limit 'global-monthly'")


def test_coverage_lists_what_no_case_exercised(tmp_path: Path) -> None:
    result = run_text(tmp_path, """
  - name: only the default route
    request: {prompt: How do I export a report?}
    expect: {outcome: answered}
""")
    assert result.coverage is not None
    missing = {(i.kind, i.name) for i in result.coverage.missing}
    assert ("route", "#0 free-long-prompt") in missing and ("route", "#2 everything-else") not in missing
    assert ("step", "default[1] large") in missing and ("step", "default[0] small") not in missing
    assert {("guardrail", "injection"), ("limit", "tiers.free.budget"), ("limit", "limits.large-rpm")} <= missing
    assert round(result.coverage.percent) == round(100 * 2 / 16)


BAD_SUITES = [
    ("unknown-key", "  - {name: a, request: {prompt: hi}, expect: {routee: x}}\n", "test-unknown-key", (9, "routee")),
    ("enum", "  - {name: a, request: {prompt: hi}, expect: {outcome: answerd}}\n", "test-enum", (9, "answerd")),
    ("type", "  - {name: a, request: {prompt: hi}, expect: {cost: {min: cheap}}}\n", "test-type", (9, "cheap")),
    ("body", "  - {name: a, request: {prompt: hi, messages: [{role: user, content: x}]}, expect: {}}\n", "test-invalid", (9, "{prompt")),
    ("missing", "  - {name: a, request: {prompt: hi}}\n", "test-missing-key", (9, "{name")),
    ("ref-model", "  - {name: a, request: {prompt: hi}, expect: {models: [smal]}}\n", "test-ref", (9, "smal")),
    ("ref-route", "  - {name: a, request: {prompt: hi}, expect: {route: 3}}\n", "test-ref", (9, "3}")),
    ("ref-tier", "  - {name: a, request: {prompt: hi, tier: gold}, expect: {}}\n", "test-ref", (9, "gold")),
    ("duplicate", "  - {name: a, request: {prompt: hi}, expect: {}}\n  - {name: a, request: {prompt: hi}, expect: {}}\n",
     "test-duplicate-name", (10, "a, request")),
]


@pytest.mark.parametrize(("label", "cases", "code", "where"), BAD_SUITES, ids=[b[0] for b in BAD_SUITES])
def test_bad_suites_get_located_diagnostics(tmp_path: Path, label: str, cases: str, code: str, where: tuple[int, str]) -> None:
    result = run_text(tmp_path, cases)
    line, token = where
    column = (HEAD + cases).splitlines()[line - 1].index(token) + 1
    assert result.cases == [] and not result.ok
    assert [(d.code, d.location.line if d.location else 0, d.location.column if d.location else 0)
            for d in result.diagnostics] == [(code, line, column)]


def test_a_suite_naming_a_broken_policy_reports_both(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("version: 1\nname: p\nmodels: {}\nroutes: []\n", encoding="utf-8")
    (tmp_path / "p_test.yaml").write_text("policy: p.yaml\ncases:\n  - {name: a, request: {prompt: hi}, expect: {}}\n")
    loaded = load_suite(tmp_path / "p_test.yaml")
    codes = [d.code for d in loaded.diagnostics]
    assert codes[0] == "test-policy" and "schema-range" in codes[1:]
    assert str(loaded.diagnostics[0].location).endswith("p_test.yaml:1:9")


def test_the_shipped_test_schema_is_generated_from_the_models() -> None:
    from cascadepolicy.loading.schema_export import generate, render, schema_text

    assert schema_text("test") == render(generate("test"))
    assert json.loads(schema_text("test"))["additionalProperties"] is False
