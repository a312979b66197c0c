"""`explain` and `test` never touch the network (issue 11, point 8).

The CLI runs in a subprocess whose `sitecustomize` records, and refuses,
every DNS lookup and every connection to an internet address (loopback
included: these commands have nothing to connect to). The policy names a
moderation provider, a grounding judge and an LLM-judge validator, with an
API key in the environment so a provider client would really try to connect.
A provider-backed check with no fixture is reported as not run offline and
follows `on_timeout` (fail closed), never passes silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cascadepolicy
from cascadepolicy.errors import ProviderBadRequest
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.state import MemoryStore

ROOT = Path(__file__).resolve().parents[2]

GUARD = '''
import os, socket

_LOG = os.environ["NETWORK_GUARD_LOG"]


def _refuse(what):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(what + "\\n")
    raise OSError("network use refused by the test's guard: " + what)


_connect = socket.socket.connect


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse(f"connect {address!r}")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse(f"connect_ex {address!r}")
    return _connect_ex(self, address)


_connect_ex = socket.socket.connect_ex
socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = lambda host, *a, **k: _refuse(f"getaddrinfo {host!r}")
socket.create_connection = lambda address, *a, **k: _refuse(f"create_connection {address!r}")
'''

POLICY = """
version: 1
name: offline
models:
  small: {model: gpt-4o-mini, max_tokens: 50}
  judge: {model: gpt-4o, max_tokens: 20}
guardrails:
  - {id: mod, stage: input, check: moderation, provider: omni-moderation-latest, action: block}
  - {id: grounded, stage: output, check: grounding, judge: judge, action: warn}
validators:
  judged:
    - {check: judge, model: judge, rubric: "Is it correct?"}
cascades:
  main:
    - {model: small, accept: {validators: judged, min_score: 0.1}}
routes:
  - default: {cascade: main}
"""

SUITE = """
policy: offline.yaml
cases:
  - name: moderation given a verdict
    request: {prompt: "Hello there"}
    fixtures:
      answers: {small: "Hi.", judge: "Score: 9"}
      guardrails: {mod: pass}
    expect: {outcome: answered, guardrails: {mod: none}}
  - name: moderation not run offline
    request: {prompt: "Hello there"}
    fixtures:
      answers: {small: "Hi.", judge: "Score: 9"}
    expect: {outcome: blocked, reason: "not run offline"}
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "offline.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "offline_test.yaml").write_text(SUITE, encoding="utf-8")
    (tmp_path / "guard").mkdir()
    (tmp_path / "guard" / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    return tmp_path


def _cli(workdir: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = workdir / "network.log"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LITELLM_LOCAL_MODEL_COST_MAP")}
    env.update(PYTHONPATH=os.pathsep.join([str(workdir / "guard"), str(ROOT)]), NETWORK_GUARD_LOG=str(log),
               OPENAI_API_KEY="sk-test-not-a-real-key")
    proc = subprocess.run([sys.executable, "-m", "cascadepolicy", *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=300)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    attempts = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return proc, attempts


def test_the_guard_sees_a_provider_call(workdir: Path) -> None:
    # The guard is live in the subprocess: a real moderation call is caught by it.
    (workdir / "probe.py").write_text("import litellm\ntry:\n    litellm.moderation(input='x', model='omni-moderation-latest')\n"
                                      "except Exception as exc:\n    print(type(exc).__name__)\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(workdir / "guard"), "NETWORK_GUARD_LOG": str(workdir / "network.log"),
           "OPENAI_API_KEY": "sk-test-not-a-real-key", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    subprocess.run([sys.executable, "probe.py"], cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert (workdir / "network.log").read_text(encoding="utf-8").strip()


def test_explain_makes_no_connection_and_reports_the_check_not_run(workdir: Path) -> None:
    (workdir / "request.json").write_text(json.dumps({"messages": [{"role": "user", "content": "Hello there"}]}))
    proc, attempts = _cli(workdir, "explain", "offline.yaml", "--request", "request.json")
    assert attempts == []
    assert proc.returncode == 0, proc.stderr
    assert "guardrail mod [moderation]" in proc.stdout and "not run offline" in proc.stdout
    assert "outcome: blocked" in proc.stdout  # fail closed: the check did not pass


def test_explain_uses_a_verdict_given_in_the_request_file(workdir: Path) -> None:
    request = {"messages": [{"role": "user", "content": "Hello there"}], "guardrails": {"mod": "pass"},
               "answers": {"small": "Hi.", "judge": "Score: 9"}}
    (workdir / "request.json").write_text(json.dumps(request))
    proc, attempts = _cli(workdir, "explain", "offline.yaml", "--request", "request.json", "--format", "json")
    assert attempts == []
    decision = json.loads(proc.stdout)
    assert decision["outcome"] == "answered"
    assert [c["model_id"] for c in decision["calls"]] == ["small", "judge", "judge"]  # the draft, the validator, grounding
    assert all(c["outcome"] == "ok" for c in decision["calls"])


def test_test_makes_no_connection(workdir: Path) -> None:
    proc, attempts = _cli(workdir, "test", "offline_test.yaml", "--format", "json")
    assert attempts == []
    report = json.loads(proc.stdout)
    # the second case expects the unanswered moderation check to block, with "not run offline" as the reason
    assert report["summary"] == {"cases": 2, "passed": 2, "failed": 0, "ok": True}, proc.stdout


def test_an_offline_engine_never_calls_a_model_without_an_answer() -> None:
    policy = cascadepolicy.loads(POLICY, "offline.yaml")
    engine = policy.engine(store=MemoryStore(), decision_log=None, offline=True,
                           transport=MockTransport({"small": "Hi."}, verdicts={"mod": False}))
    result = engine.complete([{"role": "user", "content": "Hello"}])
    # The judge has no answer: it is not called, and its check fails closed instead of reaching a provider.
    judge_calls = [c for c in result.decision.calls if c.model_id == "judge"]
    assert judge_calls and all(c.outcome == "error" and "the engine is offline" in (c.error or "") for c in judge_calls)
    assert all(len(c.attempts) == 1 for c in judge_calls)  # not retried: a bad request


def test_an_offline_engine_reports_a_network_check_as_not_run_and_fails_closed() -> None:
    policy = cascadepolicy.loads(POLICY, "offline.yaml")
    engine = policy.engine(store=MemoryStore(), decision_log=None, offline=True,
                           transport=MockTransport({"small": "Hi.", "judge": "Score: 9"}))
    result = engine.complete([{"role": "user", "content": "Hello"}])
    verdict = result.decision.guardrails[0]
    assert (verdict.id, verdict.action, result.decision.outcome) == ("mod", "blocked", "blocked")
    assert "not run offline: moderation by the provider 'omni-moderation-latest' needs the network" in verdict.reason
    with pytest.raises(ProviderBadRequest):  # the offline model caller, directly
        next(engine.caller.call("small", [{"role": "user", "content": "Hello"}], transport=MockTransport({})))
