"""The store contract: every case runs on MemoryStore, SQLiteStore and RedisStore,
each through its sync API and through its async twin."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from cascadepolicy.errors import StoreError
from cascadepolicy.state import AsyncStore, Charge, MemoryStore, Store, open_store

from .conftest import KINDS_AND_APIS, spec_for
from .specs import StoreSpec

HOUR = 3600.0


@pytest.fixture(params=KINDS_AND_APIS)
def store_spec(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> StoreSpec:
    kind, api = request.param
    return spec_for(kind, request, tmp_path, api=api)


def req(key: str = "u|req", limit: float = 10, window: float | None = HOUR) -> Charge:
    return Charge(key, limit, 1, window, None, f"{limit:g} requests per {window}s")


def tokens(amount: float, key: str = "u|tok", limit: float = 1000, window: float = 60) -> Charge:
    return Charge(key, limit, amount, window, None, f"{limit:g} tokens per {window}s")


def budget(
    amount: float, key: str = "u|usd|day:1", limit: float = 1.0, end: float = 86400
) -> Charge:
    return Charge(key, limit, amount, None, end, f"${limit} per day")


def usage_of(store: Store, key: str, now: float) -> tuple[float, float] | None:
    found = {u.key: u for u in store.usage(key, now=now)}
    return (found[key].used, found[key].reserved) if key in found else None


# -- reserve: all or nothing, used, exact fits --------------------------------


def test_admits_and_reports_usage_before_the_reservation(store: Store) -> None:
    first = store.reserve([req(), tokens(300)], now=0, ttl=30)
    second = store.reserve([req(), tokens(200)], now=1, ttl=30)
    assert first.admitted and second.admitted
    assert first.reservation_id and second.reservation_id
    assert first.reservation_id != second.reservation_id
    assert dict(first.used) == {"u|req": 0.0, "u|tok": 0.0}
    assert dict(second.used) == {"u|req": 1.0, "u|tok": 300.0}
    assert second.refused is None and second.retry_after is None


def test_a_refusing_charge_reserves_nothing_on_the_others(store: Store) -> None:
    admission = store.reserve([req(limit=10), tokens(2000, limit=1000)], now=0, ttl=30)
    assert not admission.admitted
    assert admission.reservation_id is None
    assert admission.refused is not None and admission.refused.key == "u|tok"
    assert admission.retry_after is None  # 2000 tokens never fit in 1000
    assert store.usage(now=0) == []
    # all ten requests are still available
    for i in range(10):
        assert store.reserve([req(limit=10)], now=i, ttl=30).admitted
    assert not store.reserve([req(limit=10)], now=10, ttl=30).admitted


def test_the_first_refusing_charge_is_named_and_every_used_reported(store: Store) -> None:
    store.reserve([req(limit=1), tokens(900)], now=0, ttl=30)
    admission = store.reserve([req(limit=1), tokens(900)], now=1, ttl=30)
    assert admission.refused == req(limit=1)
    assert dict(admission.used) == {"u|req": 1.0, "u|tok": 900.0}


def test_an_exact_fit_of_float_amounts_is_admitted(store: Store) -> None:
    for i in range(10):
        assert store.reserve([budget(0.1)], now=i, ttl=30).admitted, i
    refused = store.reserve([budget(0.1)], now=10, ttl=30)
    assert not refused.admitted
    assert refused.used["u|usd|day:1"] == pytest.approx(1.0)


def test_duplicate_keys_in_one_reservation_are_a_programming_error(store: Store) -> None:
    with pytest.raises(ValueError, match="twice"):
        store.reserve([req(), req()], now=0, ttl=30)


# -- sliding windows ----------------------------------------------------------


def test_sliding_window_is_exact_at_the_boundary(store: Store) -> None:
    charge = req(limit=2, window=10)
    assert store.reserve([charge], now=0, ttl=100).admitted
    assert store.reserve([charge], now=5, ttl=100).admitted
    late = store.reserve([charge], now=9.999, ttl=100)
    assert not late.admitted
    assert late.retry_after == pytest.approx(0.001)
    # the entry at t=0 leaves the window (t-10, t] exactly at t=10
    boundary = store.reserve([charge], now=10, ttl=100)
    assert boundary.admitted
    assert boundary.used["u|req"] == 1.0
    assert not store.reserve([charge], now=14.9, ttl=100).admitted
    assert store.reserve([charge], now=15, ttl=100).admitted


def test_retry_after_counts_how_many_old_entries_must_leave(store: Store) -> None:
    for now, amount in [(0, 2), (10, 2), (20, 1)]:
        assert store.reserve([tokens(amount, limit=5, window=60)], now=now, ttl=300).admitted
    refused = store.reserve([tokens(3, limit=5, window=60)], now=30, ttl=300)
    assert not refused.admitted
    # freeing 2 (t=0) leaves 3+3 > 5; freeing 2 more (t=10) leaves 1+3 <= 5
    assert refused.retry_after == pytest.approx(40.0)
    assert not store.reserve([tokens(3, limit=5, window=60)], now=69.5, ttl=300).admitted
    assert store.reserve([tokens(3, limit=5, window=60)], now=70, ttl=300).admitted


def test_token_window_settles_to_the_actual_amount(store: Store) -> None:
    first = store.reserve([req(), tokens(1000, limit=1500)], now=0, ttl=30)
    assert first.reservation_id
    assert not store.reserve([tokens(1000, limit=1500)], now=1, ttl=30).admitted
    store.settle(first.reservation_id, {"u|tok": 300}, now=2)
    assert usage_of(store, "u|tok", now=3) == (300.0, 0.0)
    assert usage_of(store, "u|req", now=3) == (1.0, 0.0)  # not in actual: keeps its amount
    fit = store.reserve([tokens(1200, limit=1500)], now=3, ttl=30)
    assert fit.admitted and fit.used["u|tok"] == 300.0


def test_settling_above_the_reservation_counts_the_actual(store: Store) -> None:
    rid = store.reserve([tokens(100)], now=0, ttl=30).reservation_id
    assert rid
    store.settle(rid, {"u|tok": 950}, now=1)
    refused = store.reserve([tokens(100)], now=2, ttl=30)
    assert not refused.admitted and refused.used["u|tok"] == 950.0


def test_settled_entries_keep_their_reservation_time(store: Store) -> None:
    rid = store.reserve([tokens(500, window=60)], now=0, ttl=300).reservation_id
    assert rid
    store.settle(rid, {"u|tok": 800}, now=50)
    assert not store.reserve([tokens(500, window=60)], now=59, ttl=30).admitted
    assert store.reserve([tokens(500, window=60)], now=60, ttl=30).admitted


# -- calendar periods ---------------------------------------------------------


def test_calendar_periods_are_separate_keys_and_end_at_period_end(store: Store) -> None:
    day1 = budget(0.6, key="u|usd|day:1", end=86400)
    rid = store.reserve([day1], now=100, ttl=1000).reservation_id
    assert rid
    store.settle(rid, {}, now=150)
    refused = store.reserve([day1], now=200, ttl=1000)
    assert not refused.admitted
    assert refused.retry_after == pytest.approx(86400 - 200)
    day2 = budget(0.6, key="u|usd|day:2", end=2 * 86400)
    assert store.reserve([day2], now=86400, ttl=1000).admitted
    assert usage_of(store, "u|usd|day:1", now=86399) == (0.6, 0.0)
    assert usage_of(store, "u|usd|day:1", now=86400) is None  # its period ended


def test_rolling_budgets_are_sliding_windows(store: Store) -> None:
    rolling = Charge("u|usd|24h", 1.0, 0.75, 86400, None, "$1 per rolling 24h")
    assert store.reserve([rolling], now=1000, ttl=5000).admitted
    refused = store.reserve([rolling], now=2000, ttl=5000)
    assert refused.retry_after == pytest.approx(86400 - 1000)


# -- TTL, release, late settle ------------------------------------------------


def test_unsettled_reservations_expire_after_ttl(store: Store) -> None:
    charge = req(limit=1)
    assert store.reserve([charge], now=0, ttl=30).admitted
    assert not store.reserve([charge], now=29.9, ttl=30).admitted
    assert usage_of(store, "u|req", now=29.9) == (0.0, 1.0)
    assert usage_of(store, "u|req", now=30) == (0.0, 0.0)
    assert store.reserve([charge], now=30, ttl=30).admitted


def test_settled_entries_do_not_expire_with_the_ttl(store: Store) -> None:
    rid = store.reserve([req(limit=1)], now=0, ttl=30).reservation_id
    assert rid
    store.settle(rid, {}, now=10)
    assert not store.reserve([req(limit=1)], now=100, ttl=30).admitted


def test_release_drops_the_reservation_and_is_idempotent(store: Store) -> None:
    rid = store.reserve([req(limit=1), tokens(700)], now=0, ttl=30).reservation_id
    assert rid
    store.release(rid, now=1)
    store.release(rid, now=2)
    store.release("never-issued", now=2)
    assert store.usage(now=2) == []
    assert store.reserve([req(limit=1), tokens(1000)], now=3, ttl=30).admitted


def test_release_after_settle_keeps_the_spend(store: Store) -> None:
    rid = store.reserve([budget(0.5)], now=0, ttl=30).reservation_id
    assert rid
    store.settle(rid, {"u|usd|day:1": 0.25}, now=1)
    store.release(rid, now=2)
    assert usage_of(store, "u|usd|day:1", now=3) == (0.25, 0.0)


def test_settle_after_expiry_still_records_the_spend(store: Store) -> None:
    rid = store.reserve([budget(0.5)], now=0, ttl=30).reservation_id
    assert rid
    # expired: no longer counts, so another 0.75 fits
    assert store.reserve([budget(0.75)], now=40, ttl=30).reservation_id
    store.settle(rid, {"u|usd|day:1": 0.4}, now=50)
    # the money was spent: counted, even though it pushes past the limit
    assert usage_of(store, "u|usd|day:1", now=50) == pytest.approx((0.4, 0.75))
    refused = store.reserve([budget(0.01)], now=51, ttl=30)
    assert not refused.admitted and refused.used["u|usd|day:1"] == pytest.approx(1.15)


def test_settle_after_expiry_keeps_the_original_timestamp(store: Store) -> None:
    rid = store.reserve([tokens(400, window=60)], now=0, ttl=10).reservation_id
    assert rid
    store.settle(rid, {"u|tok": 400}, now=20)
    assert usage_of(store, "u|tok", now=59) == (400.0, 0.0)
    assert usage_of(store, "u|tok", now=60) is None


def test_settle_of_an_unknown_reservation_records_on_known_counters(store: Store) -> None:
    store.reserve([budget(0.1)], now=0, ttl=30)
    store.settle("from-a-store-that-was-reset", {"u|usd|day:1": 0.3, "no|such|key": 5}, now=5)
    store.settle("from-a-store-that-was-reset", {"u|usd|day:1": 0.3}, now=6)  # idempotent
    assert usage_of(store, "u|usd|day:1", now=7) == pytest.approx((0.3, 0.1))
    assert usage_of(store, "no|such|key", now=7) is None


def test_settle_is_idempotent(store: Store) -> None:
    rid = store.reserve([budget(0.5)], now=0, ttl=30).reservation_id
    assert rid
    store.settle(rid, {"u|usd|day:1": 0.2}, now=1)
    store.settle(rid, {"u|usd|day:1": 0.2}, now=2)
    assert usage_of(store, "u|usd|day:1", now=3) == pytest.approx((0.2, 0.0))


# -- usage and reset ----------------------------------------------------------


def test_usage_reports_limits_labels_and_reset_times(store: Store) -> None:
    a = store.reserve([req(key="user:a|req"), budget(0.5, key="user:a|usd|day:1")], now=100, ttl=30)
    store.reserve([req(key="user:b|req")], now=110, ttl=30)
    assert a.reservation_id
    store.settle(a.reservation_id, {"user:a|usd|day:1": 0.125}, now=120)
    store.reserve([req(key="user:a|req")], now=130, ttl=30)
    found = store.usage("user:a|", now=140)
    assert [u.key for u in found] == ["user:a|req", "user:a|usd|day:1"]
    requests, money = found
    assert (requests.used, requests.reserved, requests.limit) == (1.0, 1.0, 10.0)
    assert requests.window == HOUR and requests.resets_at == 100 + HOUR
    assert requests.label == "10 requests per 3600.0s"
    assert requests.remaining == 8.0
    assert (money.used, money.reserved, money.limit) == (0.125, 0.0, 1.0)
    assert money.window is None and money.resets_at == money.period_end == 86400
    assert [u.key for u in store.usage(now=140)] == ["user:a|req", "user:a|usd|day:1", "user:b|req"]


def test_reset_clears_one_prefix_and_counts_counters(store: Store) -> None:
    for user in ("a", "b"):
        store.reserve(
            [req(key=f"user:{user}|req", limit=1), tokens(5, key=f"user:{user}|tok")], now=0, ttl=30
        )
    assert store.reset("user:a|") == 2
    assert store.reset("user:a|") == 0
    assert [u.key for u in store.usage(now=1)] == ["user:b|req", "user:b|tok"]
    assert store.reserve([req(key="user:a|req", limit=1)], now=1, ttl=30).admitted
    assert not store.reserve([req(key="user:b|req", limit=1)], now=1, ttl=30).admitted


def test_reset_treats_glob_characters_literally(store: Store) -> None:
    store.reserve([req(key="user:*|req"), req(key="user:x|req")], now=0, ttl=30)
    assert store.reset("user:*") == 1
    assert [u.key for u in store.usage(now=1)] == ["user:x|req"]


# -- agreement with the reference store ---------------------------------------


def test_a_random_sequence_matches_the_memory_store(store: Store) -> None:
    rng = random.Random(4)
    reference = MemoryStore()
    pairs: list[tuple[str | None, str | None]] = []
    now = 0.0
    for _ in range(300):
        now += rng.choice([0.0, 0.5, 1.0, 3.0, 7.5])
        op = rng.random()
        if op < 0.6 or not pairs:
            charges = [
                req(limit=6, window=20),
                tokens(rng.randint(1, 400), limit=1500, window=30),
                budget(rng.choice([0.05, 0.1, 0.25]), limit=2.0, end=600),
            ]
            ttl = rng.choice([5.0, 50.0])
            got, want = (
                store.reserve(charges, now=now, ttl=ttl),
                reference.reserve(charges, now=now, ttl=ttl),
            )
            assert got.admitted == want.admitted, now
            assert got.refused == want.refused
            assert got.used == pytest.approx(want.used)
            assert got.retry_after == pytest.approx(want.retry_after)
            pairs.append((got.reservation_id, want.reservation_id))
        else:
            mine, theirs = pairs.pop(rng.randrange(len(pairs)))
            if mine is None or theirs is None:
                continue
            if op < 0.85:
                actual = {"u|tok": rng.randint(0, 500), "u|usd|day:1": rng.random() / 5}
                store.settle(mine, actual, now=now)
                reference.settle(theirs, actual, now=now)
            else:
                store.release(mine, now=now)
                reference.release(theirs, now=now)
    got_usage = [(u.key, u.used, u.reserved, u.resets_at) for u in store.usage(now=now)]
    want_usage = [(u.key, u.used, u.reserved, u.resets_at) for u in reference.usage(now=now)]
    assert [u[0] for u in got_usage] == [u[0] for u in want_usage]
    for g, w in zip(got_usage, want_usage, strict=True):
        assert g[0] == w[0] and g[1:] == pytest.approx(w[1:])


# -- persistence and failures -------------------------------------------------


def test_a_restarted_store_keeps_the_counts(store_spec: StoreSpec) -> None:
    if not store_spec.shared:
        pytest.skip("the memory store lives and dies with its process")
    first = store_spec.open()
    rid = first.reserve([req(limit=3), budget(0.5)], now=0, ttl=30).reservation_id
    assert rid
    first.settle(rid, {"u|usd|day:1": 0.3}, now=1)
    pending = first.reserve([req(limit=3), budget(0.5)], now=2, ttl=30).reservation_id
    first.close()
    second = store_spec.open()
    try:
        assert usage_of(second, "u|req", now=3) == (1.0, 1.0)
        assert usage_of(second, "u|usd|day:1", now=3) == pytest.approx((0.3, 0.5))
        assert pending
        second.settle(pending, {"u|usd|day:1": 0.1}, now=4)
        assert usage_of(second, "u|usd|day:1", now=5) == pytest.approx((0.4, 0.0))
    finally:
        second.close()


def test_open_store_builds_each_kind(store_spec: StoreSpec) -> None:
    opened = open_store(store_spec.kind, path=store_spec.path, url=store_spec.url)
    try:
        assert isinstance(opened, Store) and isinstance(opened, AsyncStore)
        assert type(opened).__name__.lower().startswith(store_spec.kind)
    finally:
        opened.close()


def test_open_store_rejects_unknown_kinds_and_missing_locations() -> None:
    with pytest.raises(ValueError, match="unknown store kind 'etcd'"):
        open_store("etcd")
    with pytest.raises(ValueError, match="needs a path"):
        open_store("sqlite")
    with pytest.raises(ValueError, match="needs a url"):
        open_store("redis")


def test_an_unusable_sqlite_file_raises_store_error(tmp_path: object) -> None:
    import pathlib

    directory = pathlib.Path(str(tmp_path)) / "a-directory"
    directory.mkdir()
    with pytest.raises(StoreError, match="SQLite state store .*a-directory"):
        open_store("sqlite", path=str(directory))
    junk = pathlib.Path(str(tmp_path)) / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="SQLite state store"):
        open_store("sqlite", path=str(junk))


@pytest.mark.redis
def test_an_unreachable_redis_raises_store_error_with_the_url_redacted(tmp_path: os.PathLike[str]) -> None:
    import socket

    from cascadepolicy.state.redis_store import RedisStore

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"redis://:secret@127.0.0.1:{port}/0"
    store = RedisStore(url, journal=os.path.join(tmp_path, "unsettled.jsonl"))
    try:
        with pytest.raises(
            StoreError, match=rf"Redis state store at redis://:\*\*\*@127.0.0.1:{port}/0"
        ):
            store.reserve([req()], now=0, ttl=30)
        with pytest.raises(StoreError):
            store.settle("x", {}, now=0)
        with pytest.raises(StoreError):
            store.usage(now=0)

        async def through_async() -> None:
            with pytest.raises(StoreError, match=r"redis://:\*\*\*@"):
                await store.areserve([req()], now=0, ttl=30)
            with pytest.raises(StoreError):
                await store.ausage(now=0)
            await store.aclose()

        asyncio.run(through_async())
    finally:
        store.close()
