"""Prompt tokens of images and other non-text parts (issue 13.5).

Images count as litellm's `token_counter` counts them (OpenAI's tile
formula by detail level, dimensions read from a data URL's header), but
nothing is ever fetched: a remote image counts the most its detail level
can cost. A part the engine does not understand counts by its size, never
zero. A hostile request stays linear.
"""

from __future__ import annotations

import base64
import socket
import struct
import time
import zlib
from typing import Any

import pytest

from cascadepolicy.runtime.features import count_prompt_tokens, prompt_count
from cascadepolicy.runtime.part_tokens import (
    HIGH_DETAIL_MAX_TOKENS,
    LOW_DETAIL_TOKENS,
    UNKNOWN_PART_TOKENS,
)


def png(width: int, height: int, padding: int = 0) -> bytes:
    """A PNG with a real IHDR header (the pixels are not needed to read its size)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"\0" * padding) + chunk(b"IEND", b"")


def jpeg(width: int, height: int) -> bytes:
    """A JPEG header: SOI, an APP0 segment, then the SOF0 segment holding the size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def data_url(image: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64," + base64.b64encode(image).decode()


def image_message(url: str, detail: str | None = None) -> list[dict[str, Any]]:
    image_url = {"url": url} if detail is None else {"url": url, "detail": detail}
    return [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"},
                                         {"type": "image_url", "image_url": image_url}]}]


TEXT_ONLY = count_prompt_tokens([{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}]}])


@pytest.mark.parametrize(("image", "detail", "tokens"), [
    (data_url(png(1024, 1024)), "low", 85),
    (data_url(png(1024, 1024)), "high", 85 + 170 * 4),  # scaled to 768 × 768: 2 × 2 tiles
    (data_url(png(1024, 1024)), "auto", 85 + 170 * 4),
    (data_url(png(1024, 1024)), None, 85 + 170 * 4),  # no detail is auto
    (data_url(png(300, 200)), "high", 85 + 170),  # one tile
    (data_url(png(4000, 1000)), "high", 85 + 170 * 4),  # 2000 × 500: 4 × 1 tiles
    (data_url(jpeg(1600, 900), "jpeg"), "auto", 85 + 170 * 6),  # 1365 × 768: 3 × 2 tiles
])
def test_images_count_as_litellms_token_counter_does(image: str, detail: str | None, tokens: int) -> None:
    from cascadepolicy.providers.calls import litellm_module

    messages = image_message(image, detail)
    counted = prompt_count(messages)
    assert counted.tokens - TEXT_ONLY == tokens and counted.unmeasured == 0
    assert counted.tokens == litellm_module().token_counter(messages=messages)


def test_an_image_is_never_zero_tokens_and_the_detail_level_matters() -> None:
    url = data_url(png(2048, 2048))
    low = count_prompt_tokens(image_message(url, "low")) - TEXT_ONLY
    high = count_prompt_tokens(image_message(url, "high")) - TEXT_ONLY
    assert low == LOW_DETAIL_TOKENS and high == 85 + 170 * 4 and high > low > 0


class NoNetwork(Exception):
    pass


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fails the test if anything opens a connection (litellm would fetch a remote image to size it)."""
    tried: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        tried.append(args)
        raise NoNetwork(f"a connection was attempted: {args!r}")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    import httpx
    monkeypatch.setattr(httpx.Client, "send", refuse)
    return tried


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/cat.png", "https://example.invalid/cat.jpg"])
@pytest.mark.parametrize("detail", ["high", "auto", None])
def test_a_remote_image_is_never_fetched_and_counts_its_detail_levels_maximum(url: str, detail: str | None,
                                                                             no_network: list[Any]) -> None:
    counted = prompt_count(image_message(url, detail))
    assert no_network == []
    assert counted.tokens - TEXT_ONLY == HIGH_DETAIL_MAX_TOKENS == 85 + 170 * 8
    assert count_prompt_tokens(image_message(url, "low")) - TEXT_ONLY == LOW_DETAIL_TOKENS
    assert no_network == []


def test_an_unreadable_inline_image_counts_the_maximum() -> None:
    for url in ["data:image/png;base64,bm90IGFuIGltYWdl", "data:image/png;base64,%%%", "data:,", "data:image/bmp;base64,Qk0="]:
        assert count_prompt_tokens(image_message(url, "high")) - TEXT_ONLY == HIGH_DETAIL_MAX_TOKENS


@pytest.mark.parametrize("part", [
    {"type": "input_audio", "input_audio": {"data": base64.b64encode(b"RIFF" + b"\0" * 4000).decode(), "format": "wav"}},
    {"type": "file", "file": {"file_id": "file-abc123"}},
    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQK", "filename": "a.pdf"}},
    {"type": "something_new", "payload": {"nested": [1, 2.5, True, None, "x" * 100]}},
    {"type": "image_url"},  # an image part naming no image
    {"no_type": "at all"},
    "a bare string part",
])
def test_a_part_the_engine_does_not_understand_is_counted_never_zero(part: Any) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}, part]}]
    counted = prompt_count(messages)
    extra = counted.tokens - TEXT_ONLY
    assert extra >= UNKNOWN_PART_TOKENS and counted.unmeasured == extra
    if isinstance(part, dict) and part.get("type") == "input_audio":
        assert extra >= len(part["input_audio"]["data"])  # its payload's size, at least


def test_tool_calls_and_other_fields_of_a_message_count() -> None:
    arguments = '{"city": "Lyon", "days": 3, "units": "metric"}' * 20
    plain = count_prompt_tokens([{"role": "assistant", "content": None}])
    with_call = count_prompt_tokens([{"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]}])
    assert with_call - plain >= 200
    result = count_prompt_tokens([{"role": "tool", "tool_call_id": "call_1", "content": "sunny"}])
    assert result > count_prompt_tokens([{"role": "tool", "content": "sunny"}])


def test_hostile_parts_stay_linear_and_bounded() -> None:
    header = png(640, 480)
    huge = data_url(header + b"\0" * 15_000_000)  # a 20 MB data URL
    many = [{"type": "image_url", "image_url": {"url": data_url(png(640, 480))}}] * 10_000
    cyclic: dict[str, Any] = {"type": "weird"}
    cyclic["self"] = cyclic
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = {"type": "nest", "inner": [deep]}
    started = time.perf_counter()
    assert count_prompt_tokens(image_message(huge, "high")) - TEXT_ONLY == 85 + 170 * 2  # its header read, not its 20 MB
    assert count_prompt_tokens([{"role": "user", "content": many}]) >= 10_000 * 85
    assert count_prompt_tokens([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": huge}}]}]) >= len(huge)
    assert count_prompt_tokens([{"role": "user", "content": [cyclic]}]) >= UNKNOWN_PART_TOKENS
    assert count_prompt_tokens([{"role": "user", "content": [deep]}]) >= UNKNOWN_PART_TOKENS + 100_000
    assert time.perf_counter() - started < 20  # generous: linear work, about a second under load
