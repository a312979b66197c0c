"""Fixtures shared by every test folder: a real redis-server on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from redis_server import INSTALL_HINT, RedisUnavailable, redis_server_binary, start_redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if redis_server_binary() is None:
        message = f"redis-server is not installed; install it with: {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the Redis store tests must run)", pytrace=False)
        pytest.skip(message)
    try:
        url, stop = start_redis_server()
    except RedisUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield url
    finally:
        stop()
