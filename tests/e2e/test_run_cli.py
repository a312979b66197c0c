"""`cascadepolicy run` and `make demo-local` as a user runs them: real subprocesses, a real model.

The shipped `policies/local.yaml` is run unchanged; `LOCAL_API_BASE` points it
at the session's SmolLM2 server. Each subprocess works in a temporary
directory, where the policy's SQLite store lands.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .local_server import ServerHandle

ROOT = Path(__file__).resolve().parents[2]
LOCAL_POLICY = ROOT / "policies" / "local.yaml"
PROXY_POLICY = ROOT / "policies" / "litellm-proxy.yaml"
PROMPT = "What is the capital of France?"


def _env(api_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCAL_")}
    env["LOCAL_API_BASE"] = api_base
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return env


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cascadepolicy", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
    )


class _Background:
    """A subprocess started early; `result()` waits for it and returns what it printed."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.cwd = cwd
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
        )
        self._done: subprocess.CompletedProcess[str] | None = None

    def result(self) -> subprocess.CompletedProcess[str]:
        if self._done is None:
            try:
                out, err = self._process.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                self._process.kill()
                out, err = self._process.communicate()
            self._done = subprocess.CompletedProcess(self._process.args, self._process.returncode, out, err)
        return self._done

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


@pytest.fixture(scope="module")
def runs(smollm2_server: ServerHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, _Background]]:
    """Start every CLI run of this module at once.

    Each one spends most of its time importing litellm (seconds of CPU) in a
    process of its own; run side by side they take the time of about one.
    """
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    cli = [sys.executable, "-m", "cascadepolicy", "run", str(LOCAL_POLICY), "--prompt", PROMPT]
    started = {
        "json": _Background([*cli, "--user", "dev", "--format", "json"], _env(smollm2_server.api_base),
                            tmp_path_factory.mktemp("json")),
        "dead": _Background([*cli, "--format", "json"], _env(dead), tmp_path_factory.mktemp("dead")),
        # The demo starts a server of its own and streams the answer.
        "demo": _Background([sys.executable, str(ROOT / "scripts" / "demo_local.py"), "--prompt", PROMPT,
                             "--port", "0", "--threads", "1", "--stream"],
                            _env("unused"), tmp_path_factory.mktemp("demo")),
    }
    yield started
    for run in started.values():
        run.stop()


def test_example_policies_are_clean_under_strict_validation(tmp_path: Path) -> None:
    out = _cli("validate", "--strict", str(LOCAL_POLICY), str(PROXY_POLICY), env=_env("x"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 clean" in out.stdout


def test_run_prints_the_decision_record_as_json(runs: dict[str, _Background]) -> None:
    out = runs["json"].result()

    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)
    assert decision["outcome"] == "answered"
    assert decision["policy"]["name"] == "local"
    assert decision["user"] == "dev" and decision["tier"] == "local"
    first = decision["calls"][0]
    assert first["model_id"] == "quick" and first["model"] == "openai/smollm2"
    assert first["outcome"] == "ok"
    assert first["prompt_tokens"] > 0 and 0 < first["completion_tokens"] <= 64
    assert first["latency_ms"] > 0
    # The logprob gate read real logprobs from the server.
    logprob = decision["validations"][0]["checks"][0]
    assert logprob["check"] == "logprob" and logprob["skipped"] is False
    assert decision["final_model_id"] in {"quick", "thorough"}
    assert decision["final_model"] == "openai/smollm2"
    assert decision["cost"] == pytest.approx(sum(c["cost"] for c in decision["calls"]), rel=1e-12)
    assert decision["admission"]["admitted"] is True
    assert decision["admission"]["reserved_usd"] >= decision["cost"] > 0
    # The policy's SQLite store was written in the working directory.
    assert (runs["json"].cwd / ".cascadepolicy" / "local.db").is_file()


def test_run_against_a_dead_server_fails_cleanly(runs: dict[str, _Background]) -> None:
    out = runs["dead"].result()

    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    decision = json.loads(out.stdout)
    assert decision["outcome"] == "error"
    # Step 1: quick and its retry, then its fallback `thorough` and its retry;
    # step 2 (thorough) and its retry. Every connection refused, nothing paid.
    first, second = decision["calls"]
    assert [a["model_id"] for a in first["attempts"]] == ["quick", "quick", "thorough", "thorough"]
    assert [a["model_id"] for a in second["attempts"]] == ["thorough", "thorough"]
    assert first["outcome"] == second["outcome"] == "error"
    assert all(a["outcome"] == "error" for a in first["attempts"] + second["attempts"])
    assert decision["cost"] == 0
    assert decision["admission"]["settled_usd"] == 0


def test_demo_local_streams_an_answer_and_summarises_the_decision(runs: dict[str, _Background]) -> None:
    out = runs["demo"].result()

    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()  # the answer, streamed
    summary = out.stderr.splitlines()
    assert any(line.startswith("server ready at http://127.0.0.1:") for line in summary)
    assert any(line.startswith("$ LOCAL_API_BASE=http://127.0.0.1:") and "cascadepolicy run" in line
               for line in summary)
    assert any(line.startswith("quick (openai/smollm2) draft: ok, ") and line.endswith(" ms") for line in summary)
    assert any(line.startswith("step 1 score ") for line in summary)
    assert summary[-1].startswith("answered; cost $")
