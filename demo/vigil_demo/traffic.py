"""Ordinary traffic for the demo app: ``python -m vigil_demo.traffic``.

Simulates the shop's everyday users, one session after another at a steady request rate:

- a customer (19 sessions in 20) logs in, mistyping the password first now and then (one 401,
  then the right password), makes one to three searches, views some of the items found, and
  may ask for recommendations for one of them. A fifth of searches go to ``/search/legacy``,
  as an older client version still does; search terms are words of the catalogue's item
  names, never containing a quote, so ordinary traffic produces no SQL errors there;
- an admin (1 session in 20) logs in and lists the users with the admin token.

Logins use :data:`vigil_demo.seed.SEED_USERS`, so the app must run on a seeded database.
Randomised, and repeatable with ``--seed``. The run stops after ``--duration`` seconds
(default 30) or ``--requests`` requests, whichever comes first, then prints a one-line JSON
summary: ``{"requests": <n>, "by_endpoint": {...}, "by_status": {...}}``, where an endpoint
reads like ``GET /items/{item_id}`` and a request that got no response counts as status
``"error"``. Only loopback base URLs are accepted. ``--base-url`` and ``--admin-token``
default to what ``VIGIL_DEMO_HOST``, ``VIGIL_DEMO_PORT`` and ``VIGIL_DEMO_ADMIN_TOKEN`` give
the app (see ``settings``).

From Python, :func:`run` does the same and returns the :class:`Summary`.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from vigil_demo.loopback import is_loopback
from vigil_demo.seed import SEED_ITEMS, SEED_USERS, SeedUser
from vigil_demo.settings import DEFAULT_ADMIN_TOKEN, Settings

ADMIN_SESSION_SHARE = 0.05
TYPO_RATE = 0.08
LEGACY_SEARCH_SHARE = 0.2
UNSOLD_SEARCH_SHARE = 0.05
UNSOLD_TERMS = ("umbrella", "gift card", "toaster", "bike lock")
"""Things people look for that the shop does not sell: searches that find nothing."""

_CUSTOMERS = [user for user in SEED_USERS if user.role == "customer"]
_ADMINS = [user for user in SEED_USERS if user.role == "admin"]


@dataclass
class Summary:
    """What a run sent: the number of requests, by endpoint and by response status."""

    total: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)

    def record(self, endpoint: str, status: str) -> None:
        """Count one request to ``endpoint`` that got ``status``."""
        self.total += 1
        self.by_endpoint[endpoint] += 1
        self.by_status[status] += 1

    def to_json(self) -> str:
        """The summary as one line of JSON."""
        return json.dumps(
            {"requests": self.total, "by_endpoint": self.by_endpoint, "by_status": self.by_status},
            sort_keys=True,
        )


def run(
    base_url: str,
    *,
    duration: float = 30.0,
    max_requests: int | None = None,
    rate: float = 5.0,
    seed: int | None = None,
    admin_token: str = DEFAULT_ADMIN_TOKEN,
    timeout: float = 5.0,
) -> Summary:
    """Send ordinary traffic to the demo app at ``base_url``, ``rate`` requests a second.

    Stops after ``duration`` seconds or ``max_requests`` requests, whichever comes first.
    Raises ValueError, before sending anything, if ``base_url`` is not http(s) on a loopback
    host (127.0.0.0/8, ::1 or localhost).
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not is_loopback(parts.hostname or ""):
        raise ValueError(
            f"refusing to send traffic to {base_url!r}: the base URL must be http(s) on a loopback "
            "host (127.0.0.0/8, ::1 or localhost)"
        )
    if rate <= 0:
        raise ValueError(f"the rate must be positive, not {rate}")
    rng = random.Random(seed)
    with requests.Session() as http:
        # No proxy from the environment: the traffic must go straight to the loopback address.
        http.trust_env = False
        client = _Client(http, base_url.rstrip("/"), rate, duration, max_requests, timeout)
        try:
            while True:
                if rng.random() < ADMIN_SESSION_SHARE:
                    _admin_session(client, rng, admin_token)
                else:
                    _customer_session(client, rng)
        except _Exhausted:
            return client.summary


class _Exhausted(Exception):
    """The run's time or request budget is spent."""


class _Client:
    """Sends the sessions' requests at the run's pace, counting them, within its budget."""

    def __init__(
        self,
        http: requests.Session,
        base_url: str,
        rate: float,
        duration: float,
        max_requests: int | None,
        timeout: float,
    ) -> None:
        self.summary = Summary()
        self._http = http
        self._base_url = base_url
        self._interval = 1 / rate
        self._next_at = time.monotonic()
        self._deadline = self._next_at + duration
        self._max_requests = max_requests
        self._timeout = timeout

    def send(self, method: str, route: str, *, item_id: int | None = None, **kwargs: Any) -> Any:
        """Send a request to ``route`` (``{item_id}`` filled in) when its turn comes.

        Returns the decoded JSON body of a 2xx response, None for any other outcome.
        Raises _Exhausted instead of sending once the budget is spent.
        """
        if self._next_at > self._deadline or self.summary.total == self._max_requests:
            raise _Exhausted
        time.sleep(max(0.0, self._next_at - time.monotonic()))
        url = self._base_url + route.format(item_id=item_id)
        try:
            # Redirects are not followed: they could lead off the loopback host.
            response = self._http.request(method, url, timeout=self._timeout, allow_redirects=False, **kwargs)
        except requests.RequestException:
            response = None
        self.summary.record(f"{method} {route}", "error" if response is None else str(response.status_code))
        # A slow response delays the next request rather than causing a burst to catch up.
        self._next_at = max(self._next_at + self._interval, time.monotonic())
        if response is None or not response.ok:
            return None
        try:
            return response.json()
        except requests.JSONDecodeError:
            return None


def _customer_session(client: _Client, rng: random.Random) -> None:
    _log_in(client, rng, rng.choice(_CUSTOMERS))
    viewed: list[int] = []
    for _ in range(rng.randint(1, 3)):
        found = [item["id"] for item in _search(client, rng)]
        for item_id in rng.sample(found, k=min(len(found), rng.randint(0, 2))):
            client.send("GET", "/items/{item_id}", item_id=item_id)
            viewed.append(item_id)
    if viewed and rng.random() < 0.5:
        client.send("GET", "/recommendations/{item_id}", item_id=rng.choice(viewed))


def _admin_session(client: _Client, rng: random.Random, admin_token: str) -> None:
    _log_in(client, rng, rng.choice(_ADMINS))
    client.send("GET", "/admin/users", headers={"Authorization": f"Bearer {admin_token}"})


def _log_in(client: _Client, rng: random.Random, user: SeedUser) -> None:
    if rng.random() < TYPO_RATE:
        _post_login(client, rng, user.username, _typo(rng, user.password))
    _post_login(client, rng, user.username, user.password)


def _post_login(client: _Client, rng: random.Random, username: str, password: str) -> None:
    credentials = {"username": username, "password": password}
    if rng.random() < 0.5:
        client.send("POST", "/login", data=credentials)  # the web shop's form
    else:
        client.send("POST", "/login", json=credentials)  # the mobile app


def _typo(rng: random.Random, password: str) -> str:
    """``password`` with one character dropped or doubled, so never ``password`` itself."""
    i = rng.randrange(len(password))
    return password[:i] + password[i + 1 :] if rng.random() < 0.5 else password[: i + 1] + password[i:]


def _search(client: _Client, rng: random.Random) -> list[dict[str, Any]]:
    route = "/search/legacy" if rng.random() < LEGACY_SEARCH_SHARE else "/search"
    return client.send("GET", route, params={"q": _search_term(rng)}) or []


def _search_term(rng: random.Random) -> str:
    """One or two consecutive words of an item's name, in lower case, or an unsold thing."""
    if rng.random() < UNSOLD_SEARCH_SHARE:
        return rng.choice(UNSOLD_TERMS)
    words = [word.lower() for word in rng.choice(SEED_ITEMS).name.split() if word.isalpha()]
    start = rng.randrange(len(words))
    return " ".join(words[start : start + rng.randint(1, 2)])


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: parse ``argv``, run, print the summary."""
    parser = argparse.ArgumentParser(
        prog="python -m vigil_demo.traffic", description="Send ordinary user traffic to the Vigil demo app."
    )
    parser.add_argument("--base-url", help="the app's URL (default: its VIGIL_DEMO_HOST and _PORT)")
    parser.add_argument("--duration", type=float, default=30.0, help="stop after this many seconds (30)")
    parser.add_argument("--requests", type=int, dest="max_requests", help="stop after this many requests")
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second (5)")
    parser.add_argument("--seed", type=int, help="random seed, for a repeatable run")
    parser.add_argument("--admin-token", help="the app's admin token (default: its VIGIL_DEMO_ADMIN_TOKEN)")
    args = parser.parse_args(argv)
    try:
        app_settings = Settings.from_env()
        summary = run(
            args.base_url or app_settings.base_url,
            duration=args.duration,
            max_requests=args.max_requests,
            rate=args.rate,
            seed=args.seed,
            admin_token=args.admin_token or app_settings.admin_token,
        )
    except ValueError as error:
        parser.error(str(error))
    print(summary.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
