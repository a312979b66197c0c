"""A stub OpenAI-compatible chat server on 127.0.0.1, for benchmarks and tests.

It answers `POST /v1/chat/completions` after a fixed delay, with a fixed text
(or a tool call when the request offers tools and `--tool-calls` is on), in
one JSON body or as server-sent events when the request asks to stream, and
keeps the requests it received (`GET /requests` returns them). It is
asynchronous (aiohttp, which litellm already depends on), so thousands of
concurrent requests wait on one thread, as a real provider would let them.

    python tests/stub_openai.py --port 0 --delay 0.5      # prints "port N" once listening

`start_stub(delay=...)` runs it in a subprocess and returns its base URL and a
function that stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

ANSWER = "The stub model's answer, eight words long."


def _completion(body: dict[str, Any], *, tool_calls: bool) -> dict[str, Any]:
    created = int(time.time())
    message: dict[str, Any] = {"role": "assistant", "content": ANSWER}
    finish = "stop"
    tools = body.get("tools") or []
    if tool_calls and tools:
        name = tools[0].get("function", {}).get("name", "tool")
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": "{}"}}]}
        finish = "tool_calls"
    prompt = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", [])) + 3
    return {"id": f"chatcmpl-stub-{created}", "object": "chat.completion", "created": created,
            "model": body.get("model", "stub"), "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": 10, "total_tokens": prompt + 10}}


def build_app(delay: float, tool_calls: bool) -> web.Application:
    received: list[dict[str, Any]] = []

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        received.append(body)
        await asyncio.sleep(delay)
        answer = _completion(body, tool_calls=tool_calls)
        if not body.get("stream"):
            return web.json_response(answer)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {k: answer[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
        for word in ANSWER.split(" "):
            chunk = base | {"choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        done = base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": answer["usage"]}
        await response.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response

    async def requests(_: web.Request) -> web.Response:
        return web.json_response(received)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/requests", requests)
    return app


async def _serve(port: int, delay: float, tool_calls: bool) -> None:
    runner = web.AppRunner(build_app(delay, tool_calls), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"port {bound}", flush=True)
    await asyncio.Event().wait()


def start_stub(delay: float = 0.0, *, tool_calls: bool = False) -> tuple[str, Callable[[], None]]:
    """Run the stub in a subprocess; return its `api_base` and a function that stops it."""
    command = [sys.executable, __file__, "--port", "0", "--delay", str(delay)] + (["--tool-calls"] if tool_calls else [])
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("port "):
        proc.kill()
        raise RuntimeError("the stub server did not start")

    def stop() -> None:
        proc.kill()
        proc.wait(timeout=10)

    return f"http://127.0.0.1:{int(line.split()[1])}/v1", stop


@contextlib.contextmanager
def running_stub(delay: float = 0.0, *, tool_calls: bool = False) -> Iterator[str]:
    """`start_stub` for a `with` block (or a fixture): its `api_base`, stopped at the end."""
    api_base, stop = start_stub(delay, tool_calls=tool_calls)
    try:
        yield api_base
    finally:
        stop()


def received(api_base: str) -> list[dict[str, Any]]:
    """The request bodies the stub at `api_base` has received, oldest first."""
    with urllib.request.urlopen(api_base.removesuffix("/v1") + "/requests", timeout=10) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--tool-calls", action="store_true")
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.delay, args.tool_calls))


if __name__ == "__main__":
    main()
