"""The traffic generator, against a live demo app."""

import json
import time

import pytest

from vigil_demo import traffic
from vigil_demo.seed import SEED_USERS

ENDPOINTS = {
    "POST /login",
    "GET /search",
    "GET /search/legacy",
    "GET /items/{item_id}",
    "GET /recommendations/{item_id}",
    "GET /admin/users",
}


def test_a_bounded_run_sends_ordinary_traffic_and_counts_it(live_url, admin_headers):
    token = admin_headers["Authorization"].removeprefix("Bearer ")
    summary = traffic.run(live_url, max_requests=50, rate=500, seed=7, admin_token=token)
    assert summary.total == 50
    assert sum(summary.by_endpoint.values()) == sum(summary.by_status.values()) == 50
    assert set(summary.by_endpoint) <= ENDPOINTS
    assert {"POST /login", "GET /search", "GET /items/{item_id}"} <= set(summary.by_endpoint)
    # Ordinary users: the only failures are mistyped passwords.
    assert set(summary.by_status) <= {"200", "401"}


def test_a_seed_makes_a_run_repeatable(live_url):
    first, second = (traffic.run(live_url, max_requests=40, rate=500, seed=11) for _ in range(2))
    assert first == second


def test_typos_fail_once_and_admins_list_users(live_url, admin_headers):
    token = admin_headers["Authorization"].removeprefix("Bearer ")
    summary = traffic.run(live_url, max_requests=400, rate=1000, seed=2, admin_token=token)
    assert summary.by_status["401"] > 0
    # A session with a typo retries with the right password, so most logins succeed.
    assert summary.by_status["401"] < summary.by_endpoint["POST /login"] / 4
    assert summary.by_endpoint["GET /admin/users"] > 0


def test_a_run_stops_when_its_duration_is_up(live_url):
    started = time.monotonic()
    summary = traffic.run(live_url, duration=0.5, rate=10, seed=3)
    assert time.monotonic() - started < 2.5
    assert 1 <= summary.total <= 6


def test_requests_that_get_no_response_count_as_errors(free_port):
    summary = traffic.run(f"http://127.0.0.1:{free_port}", max_requests=5, rate=500, seed=5)
    assert summary.by_status == {"error": 5}


@pytest.mark.parametrize(
    "base_url",
    [
        "http://example.com:8000",
        "http://10.0.0.1:8000",
        "http://0.0.0.0:8000",
        "http://[2001:db8::1]:8000",
        "http://127.0.0.1.nip.io:8000",
        "http://127.0.0.1@example.com:8000",
        "ftp://127.0.0.1:8000",
        "127.0.0.1:8000",
    ],
)
def test_non_loopback_base_urls_are_refused(base_url):
    with pytest.raises(ValueError, match="loopback"):
        traffic.run(base_url, max_requests=1)


def test_the_command_line_prints_a_one_line_json_summary(live_url, capsys):
    assert traffic.main(["--base-url", live_url, "--requests", "5", "--rate", "500", "--seed", "2"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    summary = json.loads(line)
    assert summary["requests"] == 5
    assert sum(summary["by_endpoint"].values()) == sum(summary["by_status"].values()) == 5


def test_the_command_line_refuses_a_non_loopback_base_url(capsys):
    with pytest.raises(SystemExit) as exit_info:
        traffic.main(["--base-url", "http://example.com", "--requests", "1"])
    assert exit_info.value.code == 2
    assert "loopback" in capsys.readouterr().err


def test_the_generator_logs_in_as_the_seeded_users():
    assert {user.username for user in SEED_USERS} == {
        user.username for user in traffic._CUSTOMERS + traffic._ADMINS
    }
