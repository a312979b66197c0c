"""Prompt tokens of what a message carries besides text: images, and parts the engine does not know.

    features.count_prompt_tokens ─▶ text (the offline tokenizer) · ▶ images and other parts (here)

An `image_url` part is counted as litellm's `token_counter` counts it, with
OpenAI's tile formula: `detail: low` is 85 tokens; `high` and `auto` are 85 +
170 per 512-pixel tile of the image scaled to fit 2000 × 768. The dimensions
are read from the header of a `data:` URL (litellm's bounded header reader:
the first 64 KiB of base64, whatever the size of the image). Nothing is ever
fetched: an image at a remote URL, or one whose header cannot be read, counts
the most its detail level can cost (`HIGH_DETAIL_MAX_TOKENS`, 1445), where
litellm would fetch it or guess 85.

Any other part (`input_audio`, `file`, a type the engine does not know) is
passed on untouched and counted by its size: the UTF-8 bytes of every string
in it, which no tokenizer's count of text exceeds, plus `UNKNOWN_PART_TOKENS`
(a high-detail image's maximum), so that a part naming its content by id or
URL never counts as nothing. Such counts are `unmeasured`: they bound the
reservation, but a prompt is not refused for a context window on their
account (the provider knows the real size).

Counting is linear in the size of the request: a 20 MB data URL reads its
header only, and a part's size is summed over its strings once, cycles
included.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

LOW_DETAIL_TOKENS = 85  # litellm's (and OpenAI's) base tokens of one image
TILE_TOKENS = 2 * LOW_DETAIL_TOKENS  # per 512 × 512 tile at high detail
# The largest image litellm's formula knows: scaled to fit 2000 × 768, that is 4 × 2 tiles.
HIGH_DETAIL_MAX_TOKENS = LOW_DETAIL_TOKENS + TILE_TOKENS * math.ceil(2000 / 512) * math.ceil(768 / 512)
UNKNOWN_PART_TOKENS = HIGH_DETAIL_MAX_TOKENS
# a data URL's header is in its first bytes; litellm reads at most 64 KiB of base64 after the comma
HEADER_CHARS = 256 + 65_536
SCALAR_BYTES = 24  # the longest JSON a float needs (-1.2345678901234567e-300)


def image_tokens(image_url: Any) -> int | None:
    """Tokens of an `image_url` part's value (a URL, or `{"url": ..., "detail": ...}`); None when it names no image."""
    if isinstance(image_url, str):
        url, detail = image_url, "auto"
    elif isinstance(image_url, Mapping) and isinstance(image_url.get("url"), str):
        url, detail = image_url["url"], image_url.get("detail", "auto")
    else:
        return None
    if detail == "low":
        return LOW_DETAIL_TOKENS
    dimensions = _inline_dimensions(url[:HEADER_CHARS]) if url.startswith("data:") else None
    if dimensions is None:
        return HIGH_DETAIL_MAX_TOKENS
    counter = _litellm_counter()
    width, height = counter.resize_image_high_res(*dimensions)
    tiles = counter.calculate_tiles_needed(width, height)
    return int(LOW_DETAIL_TOKENS + TILE_TOKENS * tiles)


def _inline_dimensions(header: str) -> tuple[int, int] | None:
    """(width, height) read from the start of a data URL, or None when litellm cannot read them."""
    read = getattr(_litellm_counter(), "_inline_image_dimensions", None)  # litellm >= 1.70
    if read is None:
        return None
    try:
        dimensions = read(header)
    except Exception:  # a malformed header litellm's reader does not expect: the maximum is counted
        return None
    if not (isinstance(dimensions, tuple) and len(dimensions) == 2 and all(isinstance(d, int) and d > 0 for d in dimensions)):
        return None
    return dimensions


def _litellm_counter() -> Any:
    # Only a request with an inline image gets here; litellm is then loaded with its local price map,
    # as the model caller loads it (it would otherwise fetch prices from the network).
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from litellm.litellm_core_utils import token_counter

    return token_counter


def payload_bytes(value: Any) -> int:
    """UTF-8 bytes of every string (keys included) in a JSON-like value; any other scalar counts `SCALAR_BYTES`.

    Iterative and visiting each container once: a deep or self-referencing value cannot exhaust the stack.
    """
    total = 0
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) if item.isascii() else len(item.encode("utf-8", "surrogatepass"))
        elif isinstance(item, bytes | bytearray):
            total += len(item)
        elif isinstance(item, Mapping | list | tuple):
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, Mapping):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
        elif item is not None:
            total += SCALAR_BYTES
    return total


def unknown_part_tokens(part: Any) -> int:
    """What a part the engine cannot measure counts: its size, never less than `UNKNOWN_PART_TOKENS`."""
    return UNKNOWN_PART_TOKENS + payload_bytes(part)
