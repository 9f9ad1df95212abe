"""What counts as an id, the warnings about refusals, and the cap on attribute sets."""

from __future__ import annotations

import logging
import threading

import pytest

from vigil.instrumentation import cardinality
from vigil.instrumentation.cardinality import OVERFLOW, AttributeGuard, key_is_unbounded, looks_like_id

IDS = {
    "123e4567-e89b-12d3-a456-426614174000": "a UUID",
    "job-123E4567-E89B-12D3-A456-426614174000-retry": "a UUID",
    "4bf92f3577b34da6a3ce929d0e0e4736": "a hexadecimal id",  # a trace id
    "sha256:9f86d081884c": "a hexadecimal id",
    "0123abcdef01": "a hexadecimal id",  # a short container id
    "deadbeefdeadbeef": "a hexadecimal id",
    "order-1048576": "a run of 6 or more digits",
    "1700000000": "a run of 6 or more digits",
    "alice@example.com": "an e-mail address",
    "203.0.113.9": "an IP address",
    "2001:db8::1": "an IP address",
    "[::1]": "an IP address",
    "01ARZ3NDEKTSV4RRFFQ69G5FAV": "a random token",  # a ULID
    "x" * 65: "text longer than 64 characters",
    123456: "a number of 6 or more digits",
    -123456: "a number of 6 or more digits",
    0.25: "a floating-point number",
    ("small", "order-1048576"): "a run of 6 or more digits",
}
CATEGORIES = [
    "thumbnail",
    "resize-large",
    "payments.refund",
    "high",
    "en-US",
    "v2",
    "http2",
    "TimeoutError",
    "ConnectionResetError",
    "quota_exceeded",
    "2024",
    "us-east-1",
    "sha256",
    "facade",
    "10:30",  # not an IPv6 address
    "x" * 64,
    200,
    99_999,
    True,
    False,
    ("small", "large"),
]


@pytest.mark.parametrize("value, reason", IDS.items(), ids=[str(v)[:30] for v in IDS])
def test_values_that_look_like_ids_are_recognised(value, reason):
    assert looks_like_id(value) == reason


@pytest.mark.parametrize("value", CATEGORIES, ids=[str(v)[:30] for v in CATEGORIES])
def test_categories_pass(value):
    assert looks_like_id(value) is None


@pytest.mark.parametrize(
    "key, unbounded",
    [
        ("id", True),
        ("ID", True),
        ("user.id", True),
        ("job_id", True),
        ("requestId", True),
        ("enduser.id", True),
        ("user.name", True),
        ("client.address", True),
        ("url.path", True),
        ("job.type", False),
        ("paid", False),
        ("valid", False),
        ("http.route", False),
        ("error.type", False),
    ],
)
def test_keys_that_name_identities(key, unbounded):
    assert key_is_unbounded(key) is unbounded


@pytest.fixture
def fresh_budget(monkeypatch):
    monkeypatch.setattr(cardinality, "_BUDGET", cardinality._WarningBudget(cardinality.WARNINGS_PER_MINUTE))


def refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "vigil.instrumentation.cardinality"]


def test_a_refused_attribute_is_dropped_and_warned_once_per_key_without_its_value(caplog, fresh_budget):
    guard = AttributeGuard("job metrics 'resize'")
    with caplog.at_level(logging.WARNING):
        first = guard.clean({"size": "large", "order": "order-1048576"})
        second = guard.clean({"size": "small", "order": "order-2097152"})
        third = guard.clean({"size": "small", "user.name": "alice"})
    assert first == {"size": "large"}
    assert second == {"size": "small"}
    assert third == {"size": "small"}
    messages = refusals(caplog)
    assert len(messages) == 2, messages
    assert "'order'" in messages[0] and "a run of 6 or more digits" in messages[0]
    assert "job metrics 'resize'" in messages[0]
    assert "'user.name'" in messages[1] and "names an identity" in messages[1]
    assert not any("1048576" in m or "alice" in m for m in messages), "a refused value was logged"
    assert guard.refused == 3


def test_warnings_are_rate_limited_over_all_keys(caplog, fresh_budget):
    guard = AttributeGuard("job metrics 'flood'")
    with caplog.at_level(logging.WARNING):
        for i in range(100):
            guard.clean({f"key{i}": f"order-{1_000_000 + i}"})
    assert guard.refused == 100
    assert len(refusals(caplog)) == cardinality.WARNINGS_PER_MINUTE


def test_past_the_cap_new_sets_go_to_the_overflow_set_with_one_warning(caplog, fresh_budget):
    guard = AttributeGuard("job metrics 'capped'", max_attribute_sets=3)
    sets = [{"size": size} for size in ("s", "m", "l", "xl", "xxl")]
    with caplog.at_level(logging.WARNING):
        admitted = [guard.admit("job.started", attributes) for attributes in sets]
        again = guard.admit("job.started", {"size": "m"})
        other_instrument = guard.admit("job.completed", {"size": "xxl"})
    assert admitted == [*sets[:3], OVERFLOW, OVERFLOW]
    assert again == {"size": "m"}, "a set seen before the cap keeps its series"
    assert other_instrument == {"size": "xxl"}, "the cap is per instrument"
    assert guard.overflowed == 2
    [message] = refusals(caplog)
    assert "job.started" in message and "otel.metric.overflow" in message


def test_the_cap_holds_under_concurrent_admission():
    guard = AttributeGuard("job metrics 'threads'", max_attribute_sets=50)
    admitted: list[dict] = []

    def admit(offset: int) -> None:
        for i in range(100):
            attributes = {"n": str(offset + i)}
            if guard.admit("job.started", attributes) is not OVERFLOW:
                admitted.append(attributes)

    threads = [threading.Thread(target=admit, args=(k * 100,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 50
    assert guard.overflowed == 350


def test_a_cap_below_one_is_refused():
    with pytest.raises(ValueError):
        AttributeGuard("x", max_attribute_sets=0)
