"""Every `store:` setting of a policy reaches the store the engine opens (issue 11, point 8).

`store.key_prefix` is checked against a real redis-server: two deployments of
the same policy with different prefixes keep separate counters, and every
key they write carries their prefix. A second test walks the schema's store
settings, so a setting added later without being wired fails here.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

import cascadepolicy
from cascadepolicy.language import model
from cascadepolicy.providers.calls import duration_seconds
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.state import MemoryStore, SQLiteStore
from cascadepolicy.state.redis_store import RedisStore

POLICY = """
version: 1
name: shared-name
models: {{m: {{model: gpt-4o-mini, max_tokens: 10}}}}
store: {store}
default_tier: free
tiers:
  free:
    rate: [{{requests: 2, per: 1h}}]
routes: [{{default: {{model: m}}}}]
"""
ASK = [{"role": "user", "content": "hi"}]


def _engine(store: str, environ: dict[str, str] | None = None) -> Any:
    policy = cascadepolicy.loads(POLICY.format(store=store), "p.yaml", environ={**os.environ, **(environ or {})})
    return policy.engine(transport=MockTransport({"m": "hello"}), decision_log=None)


@pytest.mark.redis
def test_key_prefix_separates_deployments_on_one_redis_server(redis_url: str) -> None:
    run = uuid.uuid4().hex[:8]
    prefixes = {"a": f"deploy-a-{run}:", "b": f"deploy-b-{run}:"}
    engines = {name: _engine(f'{{kind: redis, url: "${{REDIS_URL}}", key_prefix: "{prefix}"}}', {"REDIS_URL": redis_url})
               for name, prefix in prefixes.items()}
    try:
        for name, engine in engines.items():
            assert isinstance(engine.store, RedisStore) and engine.store.key_prefix == prefixes[name]
        a, b = engines["a"], engines["b"]
        assert [a.complete(ASK, user="u").decision.outcome for _ in range(3)] == ["answered", "answered", "blocked"]
        # Deployment b shares the server and the policy name, not the counters.
        assert b.complete(ASK, user="u").decision.outcome == "answered"
        assert [u.used for u in a.store.usage(now=a.clock())] == [2.0]
        assert [u.used for u in b.store.usage(now=b.clock())] == [1.0]
        client = redis.Redis.from_url(redis_url)
        try:
            keys = [k.decode() for k in client.scan_iter(match=f"deploy-?-{run}:*")]
            default_keys = [k.decode() for k in client.scan_iter(match="cascadepolicy:*shared-name*")]
        finally:
            client.close()
        assert {k.split(":", 1)[0] + ":" for k in keys} == set(prefixes.values())
        for prefix in prefixes.values():  # each deployment's counter lives under its own prefix
            assert [k for k in keys if k.startswith(prefix + "m:")] == [f"{prefix}m:shared-name|user:u|free.rate0|requests/1h"]
        assert default_keys == []
    finally:
        for engine in engines.values():
            engine.store.reset("")
            engine.close()


def _observed(engine: Any) -> dict[str, Any]:
    """What the opened store and the admission step actually use, by setting name."""
    store = engine.store
    seen: dict[str, Any] = {"kind": {MemoryStore: "memory", SQLiteStore: "sqlite", RedisStore: "redis"}[type(store)],
                            "reservation_ttl": engine.admission.admitter.ttl}
    if isinstance(store, SQLiteStore):
        seen["path"] = store.path
    if isinstance(store, RedisStore):
        seen["url"] = store.url
        seen["key_prefix"] = store.key_prefix
    return seen


@pytest.mark.parametrize("kind", [pytest.param("memory"), pytest.param("sqlite"), pytest.param("redis", marks=pytest.mark.redis)])
def test_every_store_setting_reaches_the_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    values: dict[str, Any] = {"kind": kind, "reservation_ttl": "7m"}
    if kind == "sqlite":
        values["path"] = str(tmp_path / "nested" / "state.db")
    if kind == "redis":
        values["url"] = request.getfixturevalue("redis_url")
        values["key_prefix"] = f"custom-{uuid.uuid4().hex[:8]}:"
    schema_class = {"memory": model.MemoryStore, "sqlite": model.SqliteStore, "redis": model.RedisStore}[kind]
    # Every setting the schema offers for this kind is given a non-default value here.
    assert set(schema_class.model_fields) == set(values)
    for name, value in values.items():
        default = schema_class.model_fields[name].default
        assert name == "kind" or value != default, name
    engine = _engine("{" + ", ".join(f'{k}: "{v}"' for k, v in values.items()) + "}")
    try:
        expected = {**values, "reservation_ttl": duration_seconds(values["reservation_ttl"])}
        assert _observed(engine) == expected
    finally:
        engine.close()
