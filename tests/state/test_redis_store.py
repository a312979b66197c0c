"""What only the Redis store promises: one round trip per operation, key expiry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from cascadepolicy.state.redis_store import RedisStore

from .test_contract import budget, req, tokens

pytestmark = pytest.mark.redis


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    opened = RedisStore(redis_url, key_prefix=f"t-{uuid.uuid4().hex[:12]}:")
    try:
        yield opened
    finally:
        opened.close()


def command_counts(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name: int(v["calls"]) for name, v in stats.items() if name != "cmdstat_info"}


def test_reserve_and_settle_are_one_script_call_each(
    store: RedisStore, client: redis.Redis
) -> None:
    charges = [req(), tokens(300), budget(0.2)]
    warm = store.reserve(charges, now=0, ttl=30).reservation_id  # loads each script once
    assert warm
    store.settle(warm, {}, now=0)
    store.release(warm, now=0)
    before = command_counts(client)
    rid = store.reserve(charges, now=1, ttl=30).reservation_id
    assert rid
    store.settle(rid, {"u|tok": 100}, now=2)
    store.release(rid, now=3)
    after = command_counts(client)
    top_level = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    # commands run inside a script are counted too, so compare the script calls only
    assert top_level["cmdstat_evalsha"] == 3
    assert "cmdstat_eval" not in top_level and "cmdstat_script|load" not in top_level


def test_scripts_are_reloaded_after_a_script_flush(store: RedisStore, client: redis.Redis) -> None:
    assert store.reserve([req(limit=2)], now=0, ttl=30).admitted
    client.script_flush()
    assert store.reserve([req(limit=2)], now=1, ttl=30).admitted
    assert not store.reserve([req(limit=2)], now=2, ttl=30).admitted


def test_counter_keys_expire_after_their_window_or_period(
    store: RedisStore, client: redis.Redis
) -> None:
    rid = store.reserve(
        [tokens(10, window=60), budget(0.1, end=500)], now=100, ttl=30
    ).reservation_id
    assert rid
    prefix = store.key_prefix
    for kind in "mlap":
        assert 60_000 < client.pttl(f"{prefix}{kind}:u|tok") <= 61_000
        assert 400_000 < client.pttl(f"{prefix}{kind}:u|usd|day:1") <= 401_000
    assert 400_000 < client.pttl(f"{prefix}r:{rid}") <= 401_000
