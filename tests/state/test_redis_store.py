"""What only the Redis store promises: one round trip per operation, every key in KEYS, key expiry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from cascadepolicy.state import redis_store
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
def store(redis_url: str, tmp_path: Any) -> Iterator[RedisStore]:
    opened = RedisStore(redis_url, key_prefix=f"t-{uuid.uuid4().hex[:12]}:", journal=str(tmp_path / "j.jsonl"))
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


# Prepended to each script in the test below: every redis.call must name declared keys.
_CHECKED = """
local DECLARED = {}
for _, k in ipairs(KEYS) do DECLARED[k] = true end
local function checked_call(command, ...)
  local args = {...}
  local named = (command == 'DEL') and #args or 1  -- every command used takes its key first
  for i = 1, named do
    if not DECLARED[args[i]] then error('undeclared key ' .. tostring(args[i])) end
  end
  return redis.call(command, ...)
end
"""


def test_every_key_a_script_touches_is_passed_in_keys(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    checked = {name: _CHECKED + text.replace("redis.call(", "checked_call(") for name, text in redis_store._SCRIPTS.items()}
    monkeypatch.setattr(redis_store, "_SCRIPTS", checked)
    prefix = f"k-{uuid.uuid4().hex[:12]}:"
    store = RedisStore(redis_url, key_prefix=prefix, journal=str(tmp_path / "j.jsonl"))
    other = RedisStore(redis_url, key_prefix=prefix, journal=str(tmp_path / "j.jsonl"))  # knows no reservation
    try:
        charges = [req(limit=2, window=10), tokens(300), budget(0.2)]
        kept = store.reserve(charges, now=0, ttl=5).reservation_id
        dropped = store.reserve(charges, now=1, ttl=5).reservation_id
        assert kept and dropped and not store.reserve(charges, now=2, ttl=5).admitted
        other.settle(kept, {"u|tok": 100}, now=3)  # declares its counters after one SMEMBERS
        store.release(dropped, now=3)
        store.release(kept, now=4)  # after a settle: nothing to do
        store.settle("never-issued", {"u|usd|day:1": 0.1, "no|such": 1}, now=5)
        late = store.reserve([req(limit=5, window=10)], now=6, ttl=1).reservation_id
        assert late
        other.settle(late, {}, now=30)  # expired and left its window: recorded as unknown
        rows = store.usage("u|", now=30)
        assert [(u.key, u.used) for u in rows] == [("u|tok", 100.0), ("u|usd|day:1", pytest.approx(0.3))]

        async def through_async() -> None:
            rid = (await store.areserve(charges, now=31, ttl=5)).reservation_id
            assert rid
            await other.asettle(rid, {"u|tok": 5}, now=32)
            assert len(await store.ausage("u|", now=32)) == 3
            await store.aclose()
            await other.aclose()

        asyncio.run(through_async())
    finally:
        store.reset("")
        store.close()
        other.close()
