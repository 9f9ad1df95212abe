"""Sliding-window counts and distinct counts per key, in event time and bounded memory."""

from __future__ import annotations

import gc
import tracemalloc

import psutil
import pytest

from vigil.processors.threat.behaviour import BehaviourConfig
from vigil.processors.threat.windows import BoundedStore, SlidingCounts, SlidingDistinct

S = 1_000_000_000  # one second in ns
T0 = 1_699_963_200 * S  # 2023-11-14 12:00:00 UTC


def at(seconds: float) -> int:
    return T0 + int(seconds * S)


def test_events_in_the_window_add_up():
    counts = SlidingCounts(300, 1000)
    assert [counts.add("a", at(i * 20)) for i in range(4)] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert counts.count("a", at(60)) == 4
    assert counts.count("b", at(60)) == 0


def test_events_six_minutes_apart_never_accumulate():
    counts = SlidingCounts(300, 1000)
    assert [counts.add("a", at(i * 360))[1] for i in range(5)] == [1, 1, 1, 1, 1]


def test_the_window_slides():
    counts = SlidingCounts(300, 1000)  # 10 buckets of 30 s
    for second in (0, 100, 200):
        counts.add("a", at(second))
    assert counts.count("a", at(270)) == 3  # events 4.5 minutes apart always count together
    assert counts.count("a", at(330)) == 2  # the first has left the window
    assert counts.count("a", at(450)) == 1
    assert counts.count("a", at(600)) == 0
    assert counts.add("a", at(600)) == (0, 1)


def test_late_events_count_in_their_own_bucket_or_not_at_all():
    counts = SlidingCounts(300, 1000)
    counts.add("a", at(600))
    assert counts.add("a", at(500)) == (1, 2)  # late, but in the window
    assert counts.add("a", at(200)) == (2, 2)  # older than the window: not counted
    assert counts.count("a", at(820)) == 1  # the late one leaves the window with its own bucket


def test_a_bucket_saturates_instead_of_overflowing():
    counts = SlidingCounts(60, 10, buckets=10)
    for _ in range(7000):
        before, after = counts.add("a", at(0))
    assert before == after == 65535 // 10
    counts.add("a", at(7))  # the next bucket still counts
    assert counts.count("a", at(7)) == 65535 // 10 + 1


def test_count_does_not_touch_the_key():
    store = BoundedStore(4)
    store.put(1, "one")
    store.put(2, "two")  # a turn: 1 and 2 are old now
    assert store.peek(1) == "one"
    store.put(3, "three")
    store.put(4, "four")  # a turn: the old generation (1, 2) is dropped
    assert store.peek(1) is None and len(store) == 2


def test_the_coldest_keys_go_first_and_hot_keys_stay():
    counts = SlidingCounts(300, 1000)
    for i in range(100_000):
        if i % 100 == 0:
            counts.add("brute-forcer", at(i / 1000))
        counts.add(f"flood-{i}", at(i / 1000))
        assert len(counts) <= 1000
    # touched every 100 new keys, the brute forcer is never the coldest
    assert counts.count("brute-forcer", at(100)) == 1000


def test_distinct_values_are_counted_once_each():
    distinct = SlidingDistinct(600, 1000)
    for account in ["alice", "bob", "alice", "carol", "bob"]:
        distinct.add("198.51.100.7", account, at(0))
    assert distinct.count("198.51.100.7", at(0)) == 3
    assert distinct.add("198.51.100.7", "dave", at(10)) == (3, 4)
    assert distinct.add("198.51.100.7", "dave", at(11)) == (4, 4)


def test_distinct_counts_expire_with_the_window():
    distinct = SlidingDistinct(600, 1000)  # 5 buckets of 2 minutes
    for i in range(4):
        distinct.add("c", f"user{i}", at(i * 60))
    assert distinct.count("c", at(240)) == 4
    assert distinct.count("c", at(660)) == 2  # the first two minutes have left the window
    assert distinct.count("c", at(1000)) == 0


def test_distinct_counts_are_exact_up_to_the_cap():
    distinct = SlidingDistinct(600, 1000)
    for n in (1, 2, 3, 5, 10, 20, 31, 32):
        key = f"client-{n}"
        for i in range(n):
            distinct.add(key, f"account-{n}-{i}", at(0))
            distinct.add(key, f"account-{n}-{i // 2}", at(1))  # seen again
        assert distinct.count(key, at(2)) == n


def test_past_the_cap_the_newest_values_are_kept():
    distinct = SlidingDistinct(600, 10, cap=32)
    for i in range(5000):
        assert distinct.add("c", i, at(i * 0.1))[1] == min(i + 1, 32)
    # the window (10 minutes) moves on; the 32 values seen last are the ones left
    assert distinct.count("c", at(500 + 600 - 120)) == 32
    assert distinct.count("c", at(500 + 600)) == 0


def test_a_value_seen_again_stays_in_the_window():
    distinct = SlidingDistinct(600, 10)
    distinct.add("c", "a", at(0))
    distinct.add("c", "b", at(0))
    distinct.add("c", "a", at(500))
    assert distinct.count("c", at(700)) == 1  # b left with its bucket; a was seen since
    distinct.add("c", "a", at(100))  # a late sighting does not take a back in time
    assert distinct.count("c", at(700)) == 1


@pytest.mark.parametrize("make", [SlidingCounts, SlidingDistinct])
def test_bad_windows_are_refused(make):
    with pytest.raises(ValueError):
        make(0, 100)
    with pytest.raises(ValueError):
        make(60, 1)


def held_mb(fill) -> float:
    """Bytes allocated by ``fill()`` and still held when it returns (tracemalloc), in MB."""
    gc.collect()
    tracemalloc.start()
    try:
        held = fill()
        gc.collect()
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del held
    return size / 1e6


def client(i: int) -> str:
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def test_a_million_distinct_clients_stay_bounded():
    # RSS rather than tracemalloc, which would make a million additions take a minute: the growth
    # of the process is an upper bound of what the store holds at its fullest.
    max_keys = BehaviourConfig().max_keys
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    counts = SlidingCounts(300, max_keys)
    largest = 0
    for i in range(1_000_000):
        counts.add(client(i), T0 + i * 1000)
        if i % 1000 == 0:
            largest = max(largest, len(counts))
    grown = (process.memory_info().rss - before) / 1e6
    print(f"\n1,000,000 distinct clients through SlidingCounts(max_keys={max_keys:,}): RSS +{grown:.1f} MB")
    assert largest <= max_keys and len(counts) <= max_keys
    assert grown < 300


@pytest.mark.parametrize(
    ("make", "bound"),
    [(lambda n: SlidingCounts(300, 2 * n + 2), 160), (lambda n: SlidingDistinct(600, 2 * n + 2), 160)],
    ids=["counts", "distinct"],
)
def test_bytes_per_key(make, bound):
    n = 100_000

    def fill():
        store = make(n)  # never evicts: n keys held
        for i in range(n):
            if isinstance(store, SlidingCounts):
                store.add(client(i), T0 + i * 1000)
            else:
                store.add(client(i), f"user{i}", T0 + i * 1000)
        assert len(store) == n
        return store

    per_key = held_mb(fill) * 1e6 / n
    print(f"\n{type(make(1)).__name__}: {per_key:.0f} bytes per key, {per_key:.0f} MB per million keys")
    assert per_key < bound
