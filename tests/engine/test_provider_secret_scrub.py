"""A provider that echoes the API key in its error does not put the key in any result, record or log.

A local OpenAI-compatible server on 127.0.0.1 answers every completion with a
401 quoting the key it was sent, as providers do. The request goes through
litellm for real; the key must not appear in `Result.reason`, the decision
record, the JSONL sink, `on_warning`, the log or the process output.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import cascadepolicy
from cascadepolicy.state import MemoryStore

# Not shaped like any known key: only knowing it came from `api_key_env` can mask it.
PLAIN_KEY = "horse-battery-staple-correct"
SHAPED_KEY = "sk-proj-Q7abcdefghijklmnopqrstuvwxyz0123456789"


class _Echo401(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}. The key {key} was refused for this account.",
                                     "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo401)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _policy(api_base: str) -> Any:
    return cascadepolicy.loads(f"""
version: 1
name: scrub
models:
  remote:
    model: openai/gpt-4o-mini
    api_base: "{api_base}"
    api_key_env: SCRUB_TEST_KEY
    max_tokens: 20
    retries: 0
    pricing: {{input_per_million: 1, output_per_million: 1}}
tiers:
  free:
    budget: {{usd: 1, per: day, warn_at: 0.0}}
default_tier: free
routes:
  - default: {{model: remote}}
""", "scrub.yaml")


@pytest.mark.parametrize("key", [PLAIN_KEY, SHAPED_KEY])
def test_a_key_echoed_by_the_provider_reaches_no_result_record_or_log(
        server: str, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SCRUB_TEST_KEY", key)
    sink = tmp_path / "decisions.jsonl"
    warned: list[tuple[Any, str]] = []  # the decision is read after the request, when it holds the error
    engine = _policy(server).engine(store=MemoryStore(), decision_log=str(sink), sleep=lambda _: None,
                                    on_warning=lambda decision, warning: warned.append((decision, warning)))
    with caplog.at_level(logging.DEBUG):
        result = engine.complete([{"role": "user", "content": "hello"}], user="u")
        logging.getLogger("LiteLLM").debug("retrying %s with api_key=%s", "remote", key)  # as litellm's debug logging may
    engine.close()
    warnings = [warning + decision.to_json() for decision, warning in warned]
    assert warnings
    out, err = capfd.readouterr()

    assert result.decision.outcome == "error"
    error = result.decision.calls[0].error or ""
    assert "AuthenticationError" in error and "Incorrect API key provided" in error  # the provider's text is kept ...
    for where, text in {"Result.reason": result.reason or "", "decision": result.decision.to_json(), "sink": sink.read_text(),
                        "on_warning": "".join(warnings), "log": caplog.text, "output": out + err}.items():
        assert key not in text, f"the key is in {where}"  # ... without the key
    if key == PLAIN_KEY:
        assert "${SCRUB_TEST_KEY}" in error  # a key known only by its variable is named by it


def test_map_exception_scrubs_key_shapes() -> None:
    from cascadepolicy.errors import ProviderAuthError
    from cascadepolicy.providers.calls import map_exception

    class AuthenticationError(Exception):
        pass

    keys = ["sk-ant-api03-Q7abcdefghijklmnopqrstuv", "AKIAIOSFODNN7EXAMPLE", "AIzaSyQ7abcdefghijklmnopqrstuvwxyz01234",
            "ghp_Q7abcdefghijklmnopqrstuvwxyz0123456789", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.Q7abcdefgh"]
    text = " ".join(f"refused {k};" for k in keys) + (" Authorization: Bearer Q7bearer-token-value x-api-key=Q7headervalue "
                                                      "{'api_key': 'Q7dictvalue1'} secret_key: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b")
    error = map_exception(AuthenticationError(text), "m")
    assert isinstance(error, ProviderAuthError)
    for secret in (*keys, "Q7bearer-token-value", "Q7headervalue", "Q7dictvalue1", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"):
        assert secret not in str(error), secret
    assert "x-api-key=[redacted]" in str(error)


def test_a_key_straddling_the_cut_is_not_left_half_shown() -> None:
    from cascadepolicy.providers.calls import map_exception

    key = "sk-proj-Q7abcdefghijklmnopqrstuvwxyz0123456789"
    error = map_exception(RuntimeError("x" * 480 + " " + key), "m")
    assert "sk-proj-Q7abcdef" not in str(error)


def test_ordinary_provider_texts_are_left_alone() -> None:
    from cascadepolicy.scrub import scrub_keys

    text = ("This model's maximum context length is 8192 tokens. However, you requested 9000 tokens. "
            "See https://platform.openai.com/docs/api-reference for the model claude-3-7-sonnet-20250219 (request req_0123456789abcdef).")
    assert scrub_keys(text) == text
