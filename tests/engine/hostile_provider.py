"""A fake OpenAI-compatible provider on 127.0.0.1 that answers whatever a test scripts.

The engine reaches it through litellm's real HTTP path (`openai/<name>` with
`api_base`), so a test sees what litellm passes on from a hostile server:
negative or missing usage, an answer far past `max_tokens`, a stream whose
usage lies or that stops after some output. Standard library only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    """What the server answers: `body` for plain requests, `chunks` (as SSE) for streams."""

    body: dict[str, Any] | None = None
    chunks: list[dict[str, Any]] = field(default_factory=list)
    cut: bool = False  # end the stream without `[DONE]` and drop the connection
    requests: list[dict[str, Any]] = field(default_factory=list)


def response(content: Any, usage: dict[str, Any] | None, *, choices: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-hostile", "object": "chat.completion", "created": 1, "model": "hostile",
        "choices": choices if choices is not None else [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def chunk(content: Any = None, *, finish: str | None = None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": 1, "model": "hostile",
        "choices": [] if usage is not None else [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def usage(prompt: Any, completion: Any) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": 0}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        script = self.server.script
        script.requests.append(request)
        if request.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for item in script.chunks:
                self.wfile.write(b"data: " + json.dumps(item).encode() + b"\n\n")
                self.wfile.flush()
            if not script.cut:
                self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True
            return
        data = json.dumps(script.body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    script: Script


@contextmanager
def hostile_provider(script: Script) -> Iterator[str]:
    """Serve `script` on a free port of 127.0.0.1; yields the `api_base` to put in a policy."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.script = script
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
