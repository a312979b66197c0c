"""The engine on durable stores: SQLite across engines, Redis through the
multi-host example policy, and the `usage` command reading what they hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cascadepolicy
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.state import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
ASK = [{"role": "user", "content": "How do I reset my password?"}]

POLICY = """
version: 1
name: durable
models:
  m: {model: gpt-4o-mini, max_tokens: 50}
store: {kind: sqlite, path: STATE}
default_tier: free
tiers:
  free:
    rate: [{requests: 2, per: 1d}]
    budget: {usd: 1, per: day}
routes:
  - default: {model: m}
"""


def test_counts_survive_a_restart_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    text = POLICY.replace("STATE", str(db))
    clock = lambda: 1_800_000_000.0  # noqa: E731
    first = cascadepolicy.loads(text).engine(clock=clock, transport=MockTransport({"m": "ok"}))
    one = first.complete(ASK, user="u1")
    assert one.decision.outcome == "answered"
    first.close()
    second = cascadepolicy.loads(text).engine(clock=clock, transport=MockTransport({"m": "ok"}))  # a new process would see the same file
    two = second.complete(ASK, user="u1")
    assert two.decision.outcome == "answered"
    third = second.complete(ASK, user="u1")
    assert third.blocked and "2 requests per 1d" in third.reason
    spent = [r for r in SQLiteStore(str(db)).usage("durable|user:u1", now=clock()) if "usd" in r.key]
    assert spent[0].used == pytest.approx(one.cost + two.cost) and spent[0].reserved == 0


def test_usage_command_reports_and_resets(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    policy_file = tmp_path / "durable.yaml"
    policy_file.write_text(POLICY.replace("STATE", str(db)))
    engine = cascadepolicy.load(policy_file).engine(transport=MockTransport({"m": "ok"}))
    engine.complete(ASK, user="u7")
    engine.close()
    run = [sys.executable, "-m", "cascadepolicy", "usage", str(policy_file), "--user", "u7"]
    out = subprocess.run([*run, "--format", "json"], capture_output=True, text=True, cwd=tmp_path, check=True)
    rows = json.loads(out.stdout)
    requests = next(r for r in rows if "requests" in r["key"])
    assert requests["used"] == 1 and requests["remaining"] == 1 and requests["resets_at"]
    out = subprocess.run([*run, "--reset"], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert "cleared" in out.stdout
    out = subprocess.run([*run, "--format", "json"], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert json.loads(out.stdout) == []


@pytest.mark.redis
def test_multi_host_policy_runs_on_a_real_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    policy = cascadepolicy.load(ROOT / "policies" / "multi-host.yaml")
    assert policy.spec.store.kind == "redis"
    mocks = {model_id: f"answer from {model_id}" for model_id in policy.spec.models}
    engines = [policy.engine(transport=MockTransport(mocks)) for _ in range(2)]  # two "hosts" sharing one Redis
    results = [engines[i % 2].complete(ASK, user="shared-user", tier=next(iter(policy.spec.tiers)),
                                       metadata={}) for i in range(4)]
    answered = [r for r in results if r.decision.outcome == "answered"]
    assert answered, [r.reason for r in results]
    rows = engines[0].store.usage(f"{policy.name}|user:shared-user", now=engines[0].clock())
    requests = [r for r in rows if "requests" in r.key]
    assert requests and requests[0].used == len(answered)  # both engines counted into the same window
    for engine in engines:
        engine.close()
