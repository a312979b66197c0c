"""Fixtures that run every state test against each store.

`store_spec` is parametrised over memory, sqlite (a file in tmp_path) and redis
(a real `redis-server` started once per session on 127.0.0.1, each test under
its own key prefix and with its journal in tmp_path); `spec_for(..., api=)`
picks the sync API or its async twin. Without a `redis-server` binary the redis cases skip
locally with the install command, and fail under CI=true so CI cannot go green
by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from cascadepolicy.state import Store

from .specs import StoreSpec

ALL_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]
# Every store through each API: (kind, api) pairs.
KINDS_AND_APIS = [
    pytest.param((kind.values[0], api), id=f"{kind.id}-{api}", marks=kind.marks)
    for kind in ALL_KINDS
    for api in ("sync", "async")
]


def spec_for(
    kind: str, request: pytest.FixtureRequest, tmp_path: os.PathLike[str], api: str = "sync"
) -> StoreSpec:
    if kind == "memory":
        return StoreSpec("memory", api=api)
    if kind == "sqlite":
        return StoreSpec("sqlite", path=os.path.join(tmp_path, "state.db"), api=api)
    url = request.getfixturevalue("redis_url")
    journal = os.path.join(tmp_path, "redis.unsettled.jsonl")
    return StoreSpec("redis", url=url, prefix=f"test-{uuid.uuid4().hex[:12]}:", api=api, journal=journal)


@pytest.fixture(params=ALL_KINDS)
def store_spec(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> StoreSpec:
    return spec_for(request.param, request, tmp_path)


@pytest.fixture
def store(store_spec: StoreSpec) -> Iterator[Store]:
    opened = store_spec.open()
    try:
        yield opened
    finally:
        opened.close()
