"""An OpenAI-compatible `POST /v1/chat/completions` endpoint governed by a cascadepolicy policy.

    pip install cascadepolicy fastapi uvicorn
    CASCADEPOLICY_POLICY=examples/policy.yaml uvicorn --factory examples.fastapi_app:create_app --port 8000
    curl localhost:8000/v1/chat/completions -H 'X-User-Id: u-42' \\
         -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}'

Any OpenAI client works against it (`OpenAI(base_url="http://localhost:8000/v1")`).
The body is the OpenAI request: `messages`, `model` (a hint the policy's
conditions may read, never a way around its routing), `user`, `metadata`,
`stream`, and any chat-completion parameter (`tools`, `response_format`, ...),
which the engine passes through as the caller's tier allows. Refusals are
OpenAI-style errors: 429 with `Retry-After` for a rate window or budget, 403
for any other refusal, 400 for a request the engine cannot pass on, 502 when
no model could answer. The decision record's id is in the
`X-CascadePolicy-Decision` header, for a stream too (its id is known from the
start; the record is complete once the stream ends).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

import cascadepolicy

DEFAULT_POLICY = Path(__file__).with_name("policy.yaml")
DECISION_HEADER = "X-CascadePolicy-Decision"
# What a request may end in besides an answer, each with its HTTP status (`refusal`); anything else is a 500.
ANSWERED = (cascadepolicy.Blocked, cascadepolicy.RequestError, cascadepolicy.ProviderError)


def create_app(policy_path: str | os.PathLike[str] | None = None) -> FastAPI:
    """The app serving one policy: `policy_path`, else $CASCADEPOLICY_POLICY, else examples/policy.yaml."""
    policy = cascadepolicy.load(policy_path or os.environ.get("CASCADEPOLICY_POLICY") or DEFAULT_POLICY)
    engine = policy.engine()
    app = FastAPI(title=f"cascadepolicy: {policy.spec.name}")

    @app.post("/v1/chat/completions")
    async def chat_completions(http: Request) -> Response:
        try:
            body = await http.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error(400, {"message": "the request body must be a JSON object", "type": "invalid_request_error"})
        for key in ("tier", "context"):  # the engine's arguments, not OpenAI's: the caller's identity decides them
            if key in body:
                return error(400, {"message": f"unknown request parameter {key!r}", "type": "invalid_request_error"})
        messages = body.pop("messages", None)
        model = body.pop("model", None)
        stream = body.pop("stream", False) is True
        metadata = body.pop("metadata", None) or {}
        body_user = body.pop("user", None)
        if not isinstance(metadata, dict) or not isinstance(body_user, str | None):
            return error(400, {"message": "metadata must be an object and user a string", "type": "invalid_request_error"})
        # Identity. Trust these headers only behind your own authentication: derive them from the API key.
        user = http.headers.get("X-User-Id") or body_user
        tier = http.headers.get("X-User-Tier")
        try:
            answer = await engine.acompletion(messages, user=user, tier=tier, metadata=metadata, model=model,
                                              stream=stream, **body)
            if not stream:
                decision_id = cascadepolicy.decision_of(answer).decision_id
                return JSONResponse(answer.model_dump(), headers={DECISION_HEADER: decision_id})
            chunks = aiter(answer)
            first = await anext(chunks)  # a refusal or a failure raises here, before any byte is sent
        except ANSWERED as exc:
            return error(*refusal(exc))
        return StreamingResponse(events(first, chunks), media_type="text/event-stream",
                                 headers={DECISION_HEADER: answer.decision_id})

    return app


async def events(first: Any, chunks: Any) -> AsyncIterator[str]:
    """Server-sent events as the OpenAI API sends them: one `data:` line per chunk, then `data: [DONE]`."""
    try:
        yield f"data: {first.model_dump_json()}\n\n"
        async for chunk in chunks:
            yield f"data: {chunk.model_dump_json()}\n\n"
    except ANSWERED as exc:  # the answer had started: the error goes in the stream
        yield f"data: {json.dumps({'error': refusal(exc)[1]})}\n\n"
    finally:
        await chunks.aclose()  # a client that left: the engine settles what the request spent
    yield "data: [DONE]\n\n"


def refusal(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The HTTP status, OpenAI-style error and headers for what `engine.acompletion` raised."""
    decision = getattr(exc, "decision", None)
    headers = {DECISION_HEADER: decision.decision_id} if decision is not None else {}
    if isinstance(exc, cascadepolicy.Blocked):
        if exc.retry_after is not None:  # a rate window or a budget: the caller may try again later
            headers["Retry-After"] = str(math.ceil(exc.retry_after))
            return 429, {"message": exc.reason, "type": "rate_limit_error", "code": "rate_limit_exceeded"}, headers
        return 403, {"message": exc.reason, "type": "permission_error", "code": "blocked_by_policy"}, headers
    if isinstance(exc, cascadepolicy.ProviderError):  # no model could answer
        return 502, {"message": str(exc), "type": "api_error", "code": "upstream_error"}, headers
    return 400, {"message": str(exc), "type": "invalid_request_error", "code": None}, headers  # RequestError


def error(status: int, detail: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"param": None, "code": None} | detail}, status_code=status, headers=headers)
