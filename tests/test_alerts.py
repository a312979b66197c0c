"""Alerts (`alerts:`): budget and rate-window crossings posted to a webhook on 127.0.0.1, off the request path.

A local HTTP server records every post; it can also answer 500, hang past the
alert's timeout, or not be there at all. Requests run through the engine with
a mock transport, a memory store and a fixed clock, and spend is put in place
through the engine's own admission path (as tests/engine/test_engine.py does).
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cascadepolicy
from cascadepolicy import cli
from cascadepolicy.errors import PolicyError
from cascadepolicy.loading.checks import limit_names
from cascadepolicy.loading.loader import check_text
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.runtime.drivers import run
from cascadepolicy.state import MemoryStore

TOKEN = "T0KEN-Zq8xV3-secret-path"
NOW = 1_800_000_000.0  # 2027-01-15, a Friday
ASK = [{"role": "user", "content": "What is the capital of France?"}]

POLICY = """
version: 1
name: alerting
models:
  small: {model: gpt-4o-mini, max_tokens: 100}
  large: {model: gpt-4o, max_tokens: 100}
default_tier: free
tiers:
  free:
    rate: [{requests: 100, per: 1h}]
    budget: {usd: 1.0, per: day, warn_at: 0.5, degrade_at: 0.8, degrade_to: cheap}
cascades:
  main: [{model: large}]
  cheap: [{model: small}]
routes:
  - default: {cascade: main}
alerts:
  - {id: ops, url: "${ALERT_WEBHOOK_URL}", timeout: 1s}
"""


class Hook:
    """A webhook on 127.0.0.1 that records each post; `behaviour` is ok, fail (500) or hang."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.behaviour = "ok"
        self.arrived = threading.Event()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append(json.loads(body))
                hook.paths.append(self.path)
                hook.arrived.set()
                if hook.behaviour == "hang":
                    time.sleep(3)  # past the alert's 1s timeout
                status = 500 if hook.behaviour == "fail" else 200
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/{TOKEN}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, seconds: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.posts


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.server.shutdown()
    server.server.server_close()


def engine(url: str, text: str = POLICY, clock: list[float] | None = None, **options: Any) -> Any:
    policy = cascadepolicy.loads(text, "alerting.yaml", environ={"ALERT_WEBHOOK_URL": url})
    moment = clock if clock is not None else [NOW]
    return policy.engine(store=MemoryStore(), transport=MockTransport({"small": "small.", "large": "large."}),
                         clock=lambda: moment[0], sleep=lambda s: None, decision_log=None, **options)


def prespend(eng: Any, usd: float, user: str = "u1", tier: str = "free", now: float = NOW) -> None:
    spent = cascadepolicy.compile.worst_case.Usage({}, {"x": usd})
    planned = eng.admission.admitter.plan(user=user, tier=tier, worst=spent, now=now)
    _, reservation = run(eng.admission.admitter.reserve(planned, now), eng.io)
    run(eng.admission.admitter.settle(reservation, spent, now), eng.io)


def drained(eng: Any) -> dict[str, int]:
    eng.close()
    return eng.alerts.counts


# ------------------------------------------------------------------ crossings

def test_warn_posts_once_per_period_and_again_in_the_next(hook: Hook) -> None:
    clock = [NOW]
    eng = engine(hook.url, clock=clock)
    prespend(eng, 0.6)
    for _ in range(3):
        assert eng.complete(ASK, user="u1").decision.outcome == "answered"
    (post,) = hook.wait(1)
    assert post["alert"] == "ops" and post["kind"] == "warn" and post["enforced"] is True
    assert post["limit"] == "tier 'free': $1 per day" and post["limit_name"] == "tiers.free.budget"
    assert "u1" in post["key"] and post["period"] == "2027-01-15"
    assert post["used"] == pytest.approx(0.6) and post["ratio"] == pytest.approx(0.6) and post["threshold"] == 0.5
    assert post["max"] == 1.0 and post["measure"] == "usd"
    assert (post["policy"], post["tier"], post["user"]) == ("alerting", "free", "u1")
    assert len(post["decision_id"]) == 32 and post["timestamp"] == "2027-01-15T08:00:00+00:00"
    assert "passed its warning threshold" in post["text"]
    assert hook.paths == [f"/services/{TOKEN}"]
    assert eng.alerts.counts["deduplicated"] == 2
    # Another user has a key of their own; the next day is a new period.
    prespend(eng, 0.6, user="u2")
    eng.complete(ASK, user="u2")
    clock[0] = NOW + 86_400
    prespend(eng, 0.6, now=clock[0])
    eng.complete(ASK, user="u1")
    posts = hook.wait(3)
    assert [(p["user"], p["period"]) for p in posts] == [("u1", "2027-01-15"), ("u2", "2027-01-15"), ("u1", "2027-01-16")]
    assert drained(eng)["sent"] == 3


def test_degrade_crossing_posts_a_degrade_alert(hook: Hook) -> None:
    eng = engine(hook.url)
    prespend(eng, 0.85)
    result = eng.complete(ASK, user="u1")
    assert result.decision.admission.degraded_to == "cheap" and result.model_id == "small"
    (post,) = hook.wait(1)
    assert post["kind"] == "degrade" and post["threshold"] == 0.8 and "is degrading requests" in post["text"]


def test_refusal_posts_a_block_alert(hook: Hook) -> None:
    eng = engine(hook.url, POLICY.replace("degrade_at: 0.8, degrade_to: cheap", "block_at: 0.9"))
    prespend(eng, 0.8995)  # under block_at (0.9), with no room for the request's worst case
    result = eng.complete(ASK, user="u1")
    assert result.blocked
    (block,) = hook.wait(1)  # the refusing limit's status is its refusal, not also its warning
    assert block["kind"] == "block" and block["enforced"] is True and block["threshold"] == 0.9
    assert block["decision_id"] == result.decision.decision_id and "is refusing requests" in block["text"]


def test_a_rate_window_in_warn_mode_posts_the_block_it_would_make(hook: Hook) -> None:
    text = POLICY.replace("rate: [{requests: 100, per: 1h}]", "rate: [{requests: 1, per: 1h, mode: warn}]")
    clock = [NOW]
    eng = engine(hook.url, text, clock=clock)
    for _ in range(3):
        assert eng.complete(ASK, user="u1").decision.outcome == "answered"
    (post,) = hook.wait(1)
    assert post["kind"] == "block" and post["enforced"] is False and post["limit_name"] == "tiers.free.rate[0]"
    assert "would refuse" in post["text"]
    clock[0] = NOW + 3_600  # the next hour is the next period of a 1h window
    eng.complete(ASK, user="u1")
    eng.complete(ASK, user="u1")
    assert len(hook.wait(2)) == 2


def test_on_and_limits_filter_and_slack_format(hook: Hook) -> None:
    text = POLICY.replace('  - {id: ops, url: "${ALERT_WEBHOOK_URL}", timeout: 1s}',
                          '  - {id: blocks, url: "${ALERT_WEBHOOK_URL}", on: [block], format: slack}\n'
                          '  - {id: rates, url: "${ALERT_WEBHOOK_URL}", limits: ["tiers.free.rate[0]"]}')
    eng = engine(hook.url, text)
    prespend(eng, 0.85)  # warn and degrade on the budget: neither alert wants them
    eng.complete(ASK, user="u1")
    assert drained(eng) == {"sent": 0, "failed": 0, "dropped": 0, "deduplicated": 0}
    assert hook.posts == []
    eng = engine(hook.url, text.replace("degrade_at: 0.8, degrade_to: cheap", "block_at: 0.9"))
    prespend(eng, 0.8995)
    eng.complete(ASK, user="u1")
    (post,) = hook.wait(1)
    assert set(post) == {"text"} and "is refusing requests for user u1" in post["text"]


def test_dry_run_limits_and_offline_engines_post_nothing(hook: Hook) -> None:
    eng = engine(hook.url, POLICY.replace("degrade_to: cheap}", "degrade_to: cheap, mode: dry_run}"))
    prespend(eng, 0.85)
    eng.complete(ASK, user="u1")
    eng = engine(hook.url, offline=True)
    prespend(eng, 0.6)
    eng.complete(ASK, user="u1")
    drained(eng)
    time.sleep(0.2)
    assert hook.posts == []


def test_an_unset_optional_url_turns_the_alert_off() -> None:
    policy = cascadepolicy.loads(POLICY.replace("${ALERT_WEBHOOK_URL}", "${ALERT_WEBHOOK_URL:-}"), "p.yaml", environ={})
    eng = policy.engine(store=MemoryStore(), transport=MockTransport({"large": "x"}), clock=lambda: NOW, decision_log=None)
    assert eng.alerts.rules == ()
    prespend(eng, 0.6)
    assert eng.complete(ASK, user="u1").decision.outcome == "answered"
    assert eng.alerts.sender._thread is None  # noqa: SLF001 - no thread for an engine without alerts


# ------------------------------------------------------------------ a webhook that fails never fails a request

@pytest.mark.parametrize("behaviour", ["fail", "hang", "refused"])
def test_a_failing_webhook_never_fails_or_slows_a_request(hook: Hook, behaviour: str, caplog: pytest.LogCaptureFixture) -> None:
    url = hook.url
    if behaviour == "refused":
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}/services/{TOKEN}"
    hook.behaviour = behaviour
    eng = engine(url)
    eng.complete(ASK, user="warm-up")  # litellm's first import is not the hook's doing
    for i in range(3):
        prespend(eng, 0.6, user=f"u{i}")
    started = time.monotonic()
    results = [eng.complete(ASK, user=f"u{i}") for i in range(3)]
    elapsed = time.monotonic() - started
    assert [r.decision.outcome for r in results] == ["answered"] * 3
    assert all(r.content == "large." for r in results)
    # Waiting for the hook would cost each request its 1 s timeout (a hanging hook) at the least: 3 s.
    assert elapsed < 2.5
    counts = drained(eng)
    assert counts["failed"] + counts["dropped"] == 3 and counts["sent"] == 0
    assert TOKEN not in caplog.text
    if behaviour != "hang":
        assert "${ALERT_WEBHOOK_URL}" in caplog.text


def test_a_full_queue_drops_and_counts(hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    from cascadepolicy.runtime import alerts

    monkeypatch.setattr(alerts, "QUEUE_SIZE", 1)
    hook.behaviour = "hang"
    eng = engine(hook.url)
    for i in range(5):
        prespend(eng, 0.6, user=f"u{i}")
        assert eng.complete(ASK, user=f"u{i}").decision.outcome == "answered"
    hook.arrived.wait(5)
    assert eng.alerts.counts["dropped"] >= 3  # one posting, at most one queued
    started = time.monotonic()
    eng.close()
    assert time.monotonic() - started < alerts.CLOSE_WAIT_SECONDS + 2


def test_an_observe_that_breaks_does_not_reach_the_request(hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    from cascadepolicy.runtime import alerts

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(alerts, "_payload", broken)
    eng = engine(hook.url)
    prespend(eng, 0.6)
    assert eng.complete(ASK, user="u1").decision.outcome == "answered"


# ------------------------------------------------------------------ the policy language

def diagnostics(text: str, environ: dict[str, str] | None = None) -> list[Any]:
    return check_text(text, "p.yaml", environ=environ if environ is not None else {"ALERT_WEBHOOK_URL": "https://h.example/x"}).errors


@pytest.mark.parametrize("written", [
    "https://hooks.slack.com/services/T000/B000/XXXX",
    "https://hooks.example.com/${HOOK_TOKEN}",
    "${ALERT_WEBHOOK_URL:-https://hooks.example.com/default}",
    "$${ALERT_WEBHOOK_URL}",
])
def test_a_url_written_in_the_policy_is_refused(written: str) -> None:
    text = POLICY.replace('"${ALERT_WEBHOOK_URL}"', f'"{written}"')
    (d,) = diagnostics(text, {"HOOK_TOKEN": "abcd1234", "ALERT_WEBHOOK_URL": "https://h.example/x"})
    assert d.code == "alert-url" and d.location.line == 18
    assert "hooks" not in d.message and "abcd1234" not in d.message and "ALERT_WEBHOOK_URL" in d.hint


@pytest.mark.parametrize("value", ["ftp://example.com/x", "hooks.example.com/x", "https:///nohost", "http://[::1/x"])
def test_an_environment_value_that_is_no_web_url_is_alert_url(value: str) -> None:
    (d,) = diagnostics(POLICY, {"ALERT_WEBHOOK_URL": value})
    assert d.code == "alert-url" and "${ALERT_WEBHOOK_URL}" in d.message
    assert value not in d.format()


def test_alert_ids_limits_and_keys_are_checked() -> None:
    text = POLICY.replace('  - {id: ops, url: "${ALERT_WEBHOOK_URL}", timeout: 1s}',
                          '  - {id: ops, url: "${ALERT_WEBHOOK_URL}", limits: [tiers.free.budgte]}\n'
                          '  - {id: ops, url: "${ALERT_WEBHOOK_URL}", on: [refuse]}\n'
                          '  - {id: ok, url: "${ALERT_WEBHOOK_URL}", timeout: 5m, headers: {}}')
    codes = sorted(d.code for d in diagnostics(text))
    assert codes == ["schema-duration", "schema-enum", "schema-unknown-key"]
    codes = sorted(d.code for d in diagnostics(text.replace("on: [refuse]", "on: [block]").replace(", timeout: 5m, headers: {}", "")))
    assert codes == ["ref-duplicate-id", "ref-undefined"]
    (d,) = [d for d in diagnostics(text.replace("on: [refuse]", "on: [block]").replace(", timeout: 5m, headers: {}", ""))
            if d.code == "ref-undefined"]
    assert "tiers.free.budget" in d.message  # the defined names are listed


def test_limit_names_are_the_names_of_the_plan() -> None:
    text = POLICY + "limits:\n  - {id: global, scope: global, budget: {usd: 100, per: month}}\n"
    policy = cascadepolicy.loads(text, "p.yaml", environ={"ALERT_WEBHOOK_URL": "https://h.example/x"})
    eng = policy.engine(store=MemoryStore())
    planned = {t.name for templates in eng.plan.limits.values() for t in templates}
    assert planned == set(limit_names(policy.spec)) == {"tiers.free.rate[0]", "tiers.free.budget", "limits.global"}


def test_the_webhook_url_never_appears_in_validate_or_explain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    secret = f"https://hooks.example.com/services/{TOKEN}"
    monkeypatch.setenv("ALERT_WEBHOOK_URL", secret)
    path = tmp_path / "p.yaml"
    path.write_text(POLICY, encoding="utf-8")
    assert cli.main(["validate", str(path)]) == 0
    assert cli.main(["validate", "--format", "json", str(path)]) == 0
    request = tmp_path / "request.yaml"
    request.write_text("messages: [{role: user, content: What is 2+2?}]\nuser: u1\n", encoding="utf-8")
    assert cli.main(["explain", "--request", str(request), str(path)]) == 0
    assert cli.main(["explain", "--format", "json", "--request", str(request), str(path)]) == 0
    cli.main(["graph", str(path)])
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err and "hooks.example.com" not in out.out + out.err
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"ftp://hooks.example.com/{TOKEN}")
    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr()
    assert "alert-url" in out.out and TOKEN not in out.out + out.err
    with pytest.raises(PolicyError) as raised:
        cascadepolicy.load(path)
    assert TOKEN not in str(raised.value)
