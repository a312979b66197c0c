"""Replay of recorded traffic, the graph and explain commands, on data made here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cascadepolicy
from cascadepolicy.errors import ReplayError
from cascadepolicy.providers.calls import count_tokens
from cascadepolicy.runtime.replay import Replayer, read_records

POLICY = """
version: 1
name: replayed
models:
  weak: {model: gpt-4o-mini, max_tokens: 200}
  strong: {model: gpt-4o, max_tokens: 200}
validators:
  final:
    - {check: regex, pattern: '####\\s*\\d+', required: true}
cascades:
  main:
    - {model: weak, accept: {validators: final, min_score: 0.5}}
    - {model: strong}
routes:
  - default: {cascade: main}
"""


def record(i: int, weak: str, weak_ok: bool, strong_ok: bool) -> dict[str, object]:
    return {"id": f"r{i}", "messages": [{"role": "user", "content": f"What is {i} + {i}?"}],
            "responses": {"gpt-4o-mini": {"content": weak, "correct": weak_ok},
                          "gpt-4o": {"content": f"{i} + {i} = {2 * i}. #### {2 * i}", "correct": strong_ok}}}


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    rows = [
        record(1, "2 #### 2", True, True),      # weak accepted, right
        record(2, "4 #### 4", True, True),      # weak accepted, right
        record(3, "I am not sure", False, True),  # no final answer: escalated, strong right
        record(4, "#### 9", False, False),      # weak accepted but wrong
    ]
    path = tmp_path / "recorded.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_replay_report_matches_a_hand_computation(data: Path) -> None:
    policy = cascadepolicy.loads(POLICY)
    replayer = Replayer(policy)
    records = read_records(data)
    report = replayer.report(replayer.run(records, progress=False), sweep=True)
    assert report.requests == 4
    assert report.quality == pytest.approx(3 / 4)  # r1, r2 weak right; r3 strong right; r4 weak wrong
    assert report.escalation_rate == {"step_1": pytest.approx(1 / 4)}
    weak = [policy.prices["weak"].cost(*count_tokens(r.messages, r.responses["gpt-4o-mini"]["content"])) for r in records]
    strong = [policy.prices["strong"].cost(*count_tokens(r.messages, r.responses["gpt-4o"]["content"])) for r in records]
    assert report.total_cost == pytest.approx(sum(weak) + strong[2])
    assert report.last_model["quality"] == pytest.approx(3 / 4) and report.first_model["quality"] == pytest.approx(2 / 4)
    assert report.quality_vs_strongest == pytest.approx(1.0)
    assert report.savings_vs_strongest == pytest.approx(1 - report.total_cost / sum(strong))
    assert report.sweep[0]["escalation_rate"] == 0 and report.sweep[-1]["escalation_rate"] == 1
    assert set(report.routellm) == {"cpt_50", "cpt_80", "apgr"}


def test_replay_cli_writes_the_json_keys(data: Path, tmp_path: Path) -> None:
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(POLICY)
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "cascadepolicy", "replay", str(policy_file), str(data), "--json", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    for key in ("requests", "quality", "total_cost", "cost_per_request", "escalation_rate", "quality_vs_strongest",
                "savings_vs_strongest"):
        assert key in report
    assert "quality_vs_strongest" in proc.stdout


def test_malformed_recordings_are_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n')
    with pytest.raises(ReplayError, match="bad.jsonl:1"):
        read_records(bad)


def test_graph_and_explain_commands(tmp_path: Path) -> None:
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(POLICY)
    run = [sys.executable, "-m", "cascadepolicy"]
    graph = subprocess.run([*run, "graph", str(policy_file), "--format", "mermaid"], capture_output=True, text=True, timeout=60)
    assert graph.returncode == 0 and graph.stdout.startswith("flowchart TD")
    assert "cascade_main_0_accept -->|escalate| cascade_main_1" in graph.stdout
    request = tmp_path / "request.yaml"
    request.write_text("messages: [{role: user, content: 'What is 2 + 2?'}]\nanswers: {weak: 'no idea', strong: '#### 4'}\n")
    explain = subprocess.run([*run, "explain", str(policy_file), "--request", str(request)], capture_output=True, text=True,
                             timeout=120)
    assert explain.returncode == 0, explain.stderr
    assert "rejected" in explain.stdout and "final model strong" in explain.stdout
    as_json = subprocess.run([*run, "explain", str(policy_file), "--request", str(request), "--format", "json"],
                             capture_output=True, text=True, timeout=120)
    assert json.loads(as_json.stdout)["final_model_id"] == "strong"


def test_replay_plot_draws_a_png(data: Path, tmp_path: Path) -> None:
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(POLICY)
    png = tmp_path / "curve.png"
    proc = subprocess.run([sys.executable, "-m", "cascadepolicy", "replay", str(policy_file), str(data), "--plot", str(png)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes().startswith(b"\x89PNG") and "APGR" in proc.stdout
