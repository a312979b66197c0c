"""`cascadepolicy report` over a decision log the engine wrote in this test (issue 15, point 4).

The engine runs a policy with tiers, a cascade, a blocking route, a blocking
guardrail and a rate limit against a MockTransport, writing its
`audit.decision_log`; the report's figures are checked against the decisions
the engine returned: requests, outcomes, spend, escalations, block reasons,
guardrail hits, and the cost saved against always calling the cascade's last
step (the policy's own prices, which the report learns from the log).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import cascadepolicy
from cascadepolicy.cli import main
from cascadepolicy.errors import ProviderTimeout
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.reporting import parse_since, spend_report
from cascadepolicy.reporting.spend import MAX_BUCKETS
from cascadepolicy.state import MemoryStore

POLICY = """
version: 1
name: report-test
context:
  metadata.plan: {enum: [basic, premium, banned]}
models:
  small: {model: gpt-4o-mini, max_tokens: 100, retries: 0, pricing: {input_per_million: 1, output_per_million: 2}}
  large: {model: gpt-4o, max_tokens: 200, retries: 0, pricing: {input_per_million: 10, output_per_million: 30}}
default_tier: free
tiers:
  free: {rate: [{requests: 3, per: 1h}]}
  pro: {}
guardrails:
  - {id: inject, stage: input, check: prompt_injection, action: block, message: "no jailbreaks"}
validators:
  answer:
    - {check: regex, pattern: 'ANSWER', required: true}
cascades:
  main:
    - {model: small, accept: {validators: answer, min_score: 0.5}}
    - {model: large}
routes:
  - {name: refuse, when: "metadata.plan == 'banned'", block: "plan banned"}
  - {name: premium, when: "metadata.plan == 'premium'", model: large}
  - {name: rest, default: {cascade: main}}
audit: {decision_log: "%s"}
"""
PRICES = {"large": (10e-6, 30e-6)}
GOOD = {"small": "small says ANSWER.", "large": "large says hello there."}
WEAK = {"small": "small says no.", "large": "large says hello there, at some length."}


def ask(words: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": "Tell me about the weather " + "today " * words}]


# (user, tier, plan, answers, forced guardrail verdicts, prompt words)
TRAFFIC: list[tuple[str, str, str, dict[str, Any], dict[str, Any], int]] = [
    ("u1", "pro", "basic", GOOD, {}, 1),            # cascade, accepted at its first step
    ("u2", "pro", "basic", WEAK, {}, 40),           # cascade, escalated to large
    ("u2", "pro", "basic", WEAK, {}, 5),            # escalated again, another prompt length
    ("u1", "pro", "premium", GOOD, {}, 3),          # straight to large
    ("u3", "pro", "banned", GOOD, {}, 1),           # blocked by the route
    ("u2", "pro", "basic", GOOD, {"inject": True}, 1),  # blocked by the guardrail
    ("u5", "pro", "basic", {"small": ProviderTimeout("down"), "large": ProviderTimeout("down")}, {}, 1),  # error
    *[("u4", "free", "basic", GOOD, {}, n) for n in (1, 2, 3, 4)],  # the fourth is refused by the rate limit
]


@pytest.fixture(scope="module")
def engine_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """The decision log the engine wrote for TRAFFIC, and its decisions."""
    log = tmp_path_factory.mktemp("report") / "decisions.jsonl"
    engine = cascadepolicy.loads(POLICY % log, "report-test.yaml").engine(store=MemoryStore(), sleep=lambda _: None)
    decisions = []
    for user, tier, plan, answers, verdicts, words in TRAFFIC:
        try:
            result = engine.using(MockTransport(answers, verdicts)).complete(
                ask(words), user=user, tier=tier, metadata={"plan": plan})
            decisions.append(result.decision)
        except ProviderTimeout as exc:
            decisions.append(exc.decision)  # type: ignore[attr-defined]
    engine.close()
    return log, decisions


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["report", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def expected_saved(decisions: list[Any]) -> float:
    """Always `large` for each answered cascade request: first call's prompt, answering call's completion."""
    saved = 0.0
    for d in decisions:
        if d.outcome != "answered" or d.route.target.get("cascade") != "main":
            continue
        drafts = [c for c in d.calls if c.purpose != "judge"]
        answering = [c for c in drafts if c.outcome == "ok"][-1]
        per_in, per_out = PRICES["large"]
        saved += drafts[0].prompt_tokens * per_in + answering.completion_tokens * per_out - d.cost
    return saved


def test_the_report_matches_what_the_engine_did(engine_log: tuple[Path, list[Any]], capsys: pytest.CaptureFixture[str]) -> None:
    log, decisions = engine_log
    outcomes = [d.outcome for d in decisions]
    assert outcomes.count("answered") == 7 and outcomes.count("blocked") == 3 and outcomes.count("error") == 1
    report = run_json(capsys, str(log))
    total = report["total"]
    assert report["records"] == report["lines"] == len(TRAFFIC) and report["bad_lines"] == 0
    assert (total["requests"], total["answered"], total["blocked"], total["error"]) == (11, 7, 3, 1)
    assert total["spend_usd"] == pytest.approx(sum(d.cost for d in decisions), rel=1e-12)
    escalated = [d for d in decisions if d.outcome == "answered" and len({c.step for c in d.calls}) > 1]
    assert len(escalated) == 2 and total["escalated"] == 2 and total["escalation_rate"] == pytest.approx(2 / 7)
    assert {r["reason"]: r["count"] for r in report["block_reasons"]} == {
        "route refuse: plan banned": 1,
        "guardrail inject: no jailbreaks": 1,
        "limit tier 'free': 3 requests per 1h": 1,
    }
    assert report["guardrail_hits"] == [{"id": "inject", "action": "blocked", "count": 1}]
    # the last step's prices are learnt from the log's calls of `large`, exactly the policy's
    cascade = report["cascades"]["main"]
    assert cascade["last_model"] == "large" and cascade["answered"] == 6
    assert cascade["price"]["source"] == "fitted"
    assert cascade["price"]["input_usd_per_million"] == pytest.approx(10, rel=1e-6)
    assert cascade["price"]["output_usd_per_million"] == pytest.approx(30, rel=1e-6)
    assert total["saved_usd"] == pytest.approx(expected_saved(decisions), rel=1e-6)
    assert total["saved_usd"] > 0
    called = report["models_called"]
    assert called["large"]["calls"] == sum(1 for d in decisions for c in d.calls if c.model_id == "large")
    assert called["small"]["cost_usd"] == pytest.approx(sum(c.cost for d in decisions for c in d.calls if c.model_id == "small"))
    assert sum(b["outcomes"]["answered"] for b in report["timeline"]["buckets"]) == 7


def test_grouping_by_tier_user_model_and_route(engine_log: tuple[Path, list[Any]], capsys: pytest.CaptureFixture[str]) -> None:
    log, decisions = engine_log

    def spend_of(key: Any) -> dict[str, float]:
        spends: dict[str, float] = {}
        for d in decisions:
            spends[key(d)] = spends.get(key(d), 0.0) + d.cost
        return spends

    keys = {
        "tier": lambda d: d.tier,
        "user": lambda d: d.user,
        "model": lambda d: d.final_model_id or "(none)",
        "route": lambda d: d.route.name if d.route else "(none)",
    }
    for by, key in keys.items():
        groups = run_json(capsys, str(log), "--by", by)["groups"]
        assert {g: v["spend_usd"] for g, v in groups.items()} == pytest.approx(spend_of(key)), by
        assert sum(v["requests"] for v in groups.values()) == len(decisions)
    tiers = run_json(capsys, str(log), "--by", "tier")["groups"]
    assert (tiers["free"]["requests"], tiers["free"]["answered"], tiers["free"]["blocked"]) == (4, 3, 1)
    routes = run_json(capsys, str(log), "--by", "route")["groups"]
    assert routes["rest"]["escalated"] == 2 and routes["premium"]["saved_usd"] is None  # no cascade, nothing to save


def test_text_format(engine_log: tuple[Path, list[Any]], capsys: pytest.CaptureFixture[str]) -> None:
    log, decisions = engine_log
    assert main(["report", str(log), "--by", "user"]) == 0
    out = capsys.readouterr().out
    assert "requests 11: answered 7, blocked 3, error 1" in out
    assert "escalation rate 28.6% (2 of 7 answered requests)" in out
    assert "cost saved against always the last step: $" in out
    assert "limit tier 'free': 3 requests per 1h" in out
    assert "by user" in out and "\n  u4 " in out


def test_since_keeps_the_recent_records(engine_log: tuple[Path, list[Any]], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    log, _ = engine_log
    lines = log.read_text(encoding="utf-8").splitlines()
    aged = tmp_path / "aged.jsonl"
    with aged.open("w", encoding="utf-8") as out:
        for i, line in enumerate(lines):
            record = json.loads(line)
            if i < 4:  # the first four requests happened ten days ago
                record["timestamp"] -= 10 * 86400
            out.write(json.dumps(record) + "\n")
    recent = run_json(capsys, str(aged), "--since", "7d")
    assert recent["total"]["requests"] == len(lines) - 4 and recent["skipped_before_since"] == 4
    assert run_json(capsys, str(aged), "--since", "2000-01-01")["total"]["requests"] == len(lines)
    assert parse_since("36h", now=1_000_000.0) == 1_000_000.0 - 36 * 3600
    assert parse_since("2025-06-01T12:00+02:00", now=0) == parse_since("2025-06-01T10:00", now=0)
    assert main(["report", str(aged), "--since", "last tuesday"]) == 2
    assert "neither a duration" in capsys.readouterr().err


def test_bad_lines_are_counted_never_fatal(engine_log: tuple[Path, list[Any]], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    log, _ = engine_log
    good = log.read_text(encoding="utf-8").splitlines()
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_bytes("\n".join([
        good[0],
        "not json at all",
        good[1][: len(good[1]) // 2],            # a record cut short
        "[" * 100_000 + "]" * 100_000,           # nested past any recursion limit
        '{"timestamp": "yesterday", "outcome": "answered"}',
        '{"timestamp": 1, "outcome": "answered", "cost": "lots", "calls": [7, {"purpose": []}], '
        '"guardrails": "x", "route": {"target": {"cascade": ["x"]}}, "user": "\\u001b[31mred"}',
        good[2],
        "",
    ]).encode() + b"\xff\xfe not UTF-8\n")
    report = run_json(capsys, str(hostile), "--by", "user")
    assert report["records"] == 3 and report["bad_lines"] == 5 and report["lines"] == 8
    assert report["bad"] == {"invalid_json": 4, "not_a_decision": 1}
    assert report["first_bad_line"]["invalid_json"] == 2
    assert "\\x1b[31mred" in report["groups"]  # control characters escaped before they reach a terminal
    # a line over the bound is skipped without being read into memory, in the middle and at the end
    long_lines = tmp_path / "long.jsonl"
    long_lines.write_text(good[0] + "\n" + "x" * 50_000 + "\n" + good[1] + "\n" + "y" * 50_000, encoding="utf-8")
    bounded = spend_report(long_lines, max_line_bytes=max(len(good[0]), len(good[1])) + 10)
    assert bounded.stats.records == 2 and bounded.stats.bad == {"too_long": 2, "invalid_json": 0, "not_a_decision": 0}


def test_plot_is_a_png(engine_log: tuple[Path, list[Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    log, _ = engine_log
    png = tmp_path / "spend.png"
    assert main(["report", str(log), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {png}" in capsys.readouterr().out


def test_plot_without_matplotlib_says_how_to_get_it(engine_log: tuple[Path, list[Any]], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    log, _ = engine_log
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` sees when it is not installed
    assert main(["report", str(log), "--plot", str(tmp_path / "x.png")]) == 2
    assert "pip install 'cascadepolicy[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_a_long_log_keeps_a_bounded_timeline(engine_log: tuple[Path, list[Any]], tmp_path: Path) -> None:
    log, decisions = engine_log
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    spread = tmp_path / "year.jsonl"
    with spread.open("w", encoding="utf-8") as out:
        for hour in range(0, 400 * 24, 5):  # a request every five hours for 400 days
            record = dict(lines[hour % len(lines)], timestamp=1_700_000_000 + hour * 3600)
            out.write(json.dumps(record) + "\n")
    report = spend_report(spread)
    buckets = report.timeline.buckets
    assert len(buckets) <= MAX_BUCKETS and report.timeline.width >= 86400
    assert sum(sum(b.spend.values()) for b in buckets.values()) == pytest.approx(report.total.spend)
    assert sum(sum(b.outcomes.values()) for b in buckets.values()) == report.total.requests == 400 * 24 // 5


def test_a_recorded_plan_last_model_names_the_last_step(engine_log: tuple[Path, list[Any]], tmp_path: Path) -> None:
    """Without an escalation in the log the deepest step seen is the first; a record's plan_last_model says better."""
    log, decisions = engine_log
    unescalated = tmp_path / "unescalated.jsonl"
    kept = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    # records written before the engine kept plan_last_model: the deepest step seen is all the log says
    kept = [{k: v for k, v in r.items() if k != "plan_last_model"} for r in kept if len({c["step"] for c in r["calls"]}) <= 1]
    unescalated.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    assert spend_report(unescalated).cascades["main"]["last_model"] == "small"
    unescalated.write_text("".join(json.dumps({**r, "plan_last_model": "large"}) + "\n" for r in kept), encoding="utf-8")
    cascade = spend_report(unescalated).cascades["main"]
    assert (cascade["last_model"], cascade["last_model_from"]) == ("large", "plan_last_model")
    assert cascade["saved_usd"] is not None and cascade["saved_usd"] > 0


def test_the_engine_records_the_last_step_of_the_admitted_plan() -> None:
    import cascadepolicy
    from cascadepolicy.providers.transport import MockTransport
    from cascadepolicy.state import MemoryStore

    policy = cascadepolicy.loads("""
version: 1
name: last-step
models:
  small: {model: gpt-4o-mini, max_tokens: 40}
  large: {model: gpt-4o, max_tokens: 40}
cascades:
  main:
    - {model: small, accept: {validators: any, min_score: 0.1}}
    - {model: large}
validators:
  any:
    - {check: length, min_words: 1}
routes:
  - default: {cascade: main}
""", "last.yaml")
    engine = policy.engine(store=MemoryStore(), decision_log=None, transport=MockTransport({"small": "Paris.", "large": "Paris."}))
    decision = engine.complete([{"role": "user", "content": "Capital of France?"}]).decision
    assert decision.final_model_id == "small" and decision.plan_last_model == "large"  # answered early; the plan ended on large
