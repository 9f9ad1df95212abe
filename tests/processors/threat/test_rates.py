"""RateBaselines.add_many counts a batch exactly as add() does one request at a time: the same
requests over the threshold, at the same request, and the same state afterwards."""

from __future__ import annotations

import random

import pytest

from vigil.processors.threat.rates import RateBaselines

S = 1_000_000_000
T0 = 1_699_963_200 * S  # 2023-11-14 12:00:00 UTC


class Counting(RateBaselines):
    """Counts the requests that went through add() one by one."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.one_by_one = 0

    def add(self, client: str, route: str, time_ns: int) -> tuple[int, float] | None:
        self.one_by_one += 1
        return super().add(client, route, time_ns)


def state(rates: RateBaselines) -> tuple:
    return rates._young, rates._old, rates._routes


def stream(rng: random.Random, clients: int, routes: int, seconds: float, late: float, count: int) -> list:
    """Requests in time order, the last third mostly from one client to one route (a flood), a
    share ``late`` of them up to two windows late."""
    requests = []
    for i in range(count):
        when = T0 + int(i * seconds / count * S)
        if rng.random() < late:
            when -= rng.randrange(20 * S)
        if i > count * 2 / 3 and rng.random() < 0.9:
            requests.append(("10.0.0.0", "/r0", when))
        else:
            requests.append((f"10.0.0.{rng.randrange(clients)}", f"/r{rng.randrange(routes)}", when))
    return requests


SCENARIOS = {
    # (clients, routes, seconds the stream lasts, share late, max_keys, max_routes)
    "few clients": (3, 2, 60, 0.0, 100_000, 10_000),
    "many clients": (5000, 10, 60, 0.0, 100_000, 10_000),
    "several windows, late requests": (20, 4, 300, 0.1, 100_000, 10_000),
    "generations turning within batches": (400, 3, 120, 0.05, 64, 10_000),
    "routes purged within batches": (10, 40, 120, 0.0, 100_000, 16),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("seed", range(4))
def test_a_batch_counts_as_one_request_at_a_time(scenario, seed):
    clients, routes, seconds, late, max_keys, max_routes = SCENARIOS[scenario]
    rng = random.Random(seed)
    requests = stream(rng, clients, routes, seconds, late, 6000)
    settings = {"window_s": 10.0, "max_keys": max_keys, "factor": 2.0, "min_requests": 4, "warmup_windows": 2}
    one, many = RateBaselines(**settings, max_routes=max_routes), Counting(**settings, max_routes=max_routes)
    position, fired = 0, 0
    while position < len(requests):
        size = rng.choice((1, 2, 7, 64, 128, 512))
        batch = requests[position : position + size]
        expected = {}
        for i, request in enumerate(batch):
            over = one.add(*request)
            if over is not None:
                expected[i] = over
        clients_, routes_, times = (list(column) for column in zip(*batch, strict=True))
        assert many.add_many(clients_, routes_, times) == expected
        assert state(many) == state(one)
        position += size
        fired += len(expected)
    assert fired > 100  # the thresholds were crossed, and at the same requests
    if scenario in ("few clients", "many clients"):
        assert many.one_by_one < len(requests) / 2  # most batches were counted at once


def test_an_empty_batch_changes_nothing():
    rates = RateBaselines()
    assert rates.add_many([], [], []) == {}
    assert state(rates) == ({}, {}, {})
