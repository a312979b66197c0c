"""MemoryStore internals the contract suite cannot see: how long its logs grow."""

from __future__ import annotations

from cascadepolicy.state import MemoryStore
from cascadepolicy.state.base import Charge
from cascadepolicy.state.memory import COMPACT_AFTER


def test_released_reservations_do_not_pile_up_in_a_long_lived_log() -> None:
    store = MemoryStore()
    month = Charge("global|usd/month:2026-11", 100.0, 0.01, None, 2e9, "global budget")
    kept = store.reserve([month], now=1.0, ttl=60.0)
    assert kept.reservation_id is not None
    store.settle(kept.reservation_id, {month.key: 0.5}, now=1.0)
    for i in range(10 * COMPACT_AFTER):
        admission = store.reserve([month], now=2.0 + i, ttl=60.0)
        assert admission.reservation_id is not None
        store.release(admission.reservation_id, now=2.0 + i)
    counter = store._counters[month.key]
    assert len(counter.entries) <= 2 * COMPACT_AFTER + 2
    [usage] = store.usage(now=10_000.0)
    assert (usage.used, usage.reserved) == (0.5, 0.0)


def test_a_window_whose_entries_were_all_released_is_forgotten() -> None:
    store = MemoryStore()
    hour = Charge("user:u|requests/1h", 10.0, 1.0, 3600.0, None, "10 per hour")
    for _ in range(3):
        admission = store.reserve([hour], now=5.0, ttl=60.0)
        assert admission.reservation_id is not None
        store.release(admission.reservation_id, now=5.0)
    assert store.usage(now=6.0) == []
    assert hour.key not in store._counters
