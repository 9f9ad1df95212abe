"""Request rates per client and endpoint, against the client's own usual rate on that endpoint.

:class:`RateBaselines` counts each client's requests to each route (``http.route``) in fixed
windows of event time (``window_s``, 60 s by default) and learns, per (client, route), a baseline:
the exponentially weighted moving average (``smoothing``, 0.2 by default) of its requests per
window, over the windows in which it sent any. A window in which it goes past the baseline
``factor`` times (8 by default) is abuse, from the request that crosses the line on.

Whose baseline:

* a client with at least ``warmup_windows`` windows on the route (5 by default) is judged against
  its own baseline;
* a client without (new, or back after being evicted) is judged against the route's *typical
  client*: the moving average of requests per client and window on that route, once the route has
  two windows behind it; before that (right after the sidecar starts), against nothing: no
  judgement.

Never below ``min_requests`` per window (120 by default: 2 requests a second): a client that
usually sends 3 requests a minute and sends 20 is not abusing anything.

Idle windows are not learned as zeros: a nightly batch client with 500 requests in its one busy
minute has a baseline near 500, and is not flagged every night. Every window is learned, flagged or
not: a client that abuses a route from its very first minute and keeps it up is flagged (with an
event) while it warms up, then becomes its own baseline; a legitimately busy new client, such as a
NAT gateway in front of many users, stops being flagged after its warm-up. Requests arriving
late (event time in an earlier window than the client's latest) count in the latest window.

:meth:`RateBaselines.add_many` counts a batch of requests at once, exactly as :meth:`~RateBaselines.add`
one by one would (the same requests over the threshold, the same state afterwards), at a fraction
of the cost when the batch lies within one window.

Memory: one ``int`` per (client, route) in a :class:`~.windows.BoundedStore` of at most
``max_keys`` keys (about 130 bytes each), and a small record per route (at most ``max_routes``,
10,000).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from vigil.processors.threat.windows import BoundedStore

# Each (client, route) state is one int: the request count of the current window in the lowest
# bits (so that the common case, one more request in the same window, is ``state + 1``), then the
# number of windows learned, then the baseline in 1/16ths of a request, then the window number.
_COUNT_BITS, _ACTIVE_BITS, _BASELINE_BITS = 24, 8, 32
_COUNT_MASK = (1 << _COUNT_BITS) - 1
_ACTIVE_SHIFT = _COUNT_BITS
_ACTIVE_MASK = (1 << _ACTIVE_BITS) - 1
_BASELINE_SHIFT = _COUNT_BITS + _ACTIVE_BITS
_BASELINE_MASK = (1 << _BASELINE_BITS) - 1
_WINDOW_SHIFT = _BASELINE_SHIFT + _BASELINE_BITS
_FIXED = 16  # baseline fixed-point scale

# A route's record: [window number, requests in it, clients in it, typical requests per client,
# windows completed]
_R_WINDOW, _R_REQUESTS, _R_CLIENTS, _R_TYPICAL, _R_DONE = range(5)
_ROUTE_WARMUP = 2


class RateBaselines(BoundedStore):
    """Per (client, route) request rates and baselines, in a bounded store of their states; see
    the module docstring."""

    __slots__ = (
        "_max_routes",
        "_routes",
        "_window_ns",
        "factor",
        "min_requests",
        "smoothing",
        "warmup_windows",
    )

    def __init__(
        self,
        window_s: float = 60.0,
        max_keys: int = 100_000,
        factor: float = 8.0,
        min_requests: int = 120,
        warmup_windows: int = 5,
        smoothing: float = 0.2,
        max_routes: int = 10_000,
    ) -> None:
        if window_s <= 0 or factor <= 1 or not 0 < smoothing <= 1:
            raise ValueError("a rate window must be positive, factor above 1 and smoothing in (0, 1]")
        super().__init__(max_keys)
        self._window_ns = int(window_s * 1e9)
        # Routes are few (http.route is a template; requests without one share "*"), so a plain
        # dict, emptied if it ever holds max_routes (a misconfigured app putting ids in routes).
        self._routes: dict[str, list] = {}
        self._max_routes = max_routes
        self.factor = factor
        self.min_requests = min_requests
        self.warmup_windows = min(warmup_windows, _ACTIVE_MASK)
        self.smoothing = smoothing

    def add(self, client: str, route: str, time_ns: int) -> tuple[int, float] | None:
        """Count one request of ``client`` to ``route`` at ``time_ns``; return (its requests in
        this window, the threshold) once they exceed the threshold, else None."""
        # Called for every server span: BoundedStore.take and put inlined.
        window = time_ns // self._window_ns
        key = hash((client, route))
        young = self._young
        state = young.get(key)
        if state is None:
            state = self._old.pop(key, None)
        if state is None:
            state = (window << _WINDOW_SHIFT) | 1
            first = True
        elif state >> _WINDOW_SHIFT >= window:
            # The common case: one more request in the client's current window.
            first = False
            if state & _COUNT_MASK != _COUNT_MASK:
                state += 1
        else:
            state = self._roll(state, window)
            first = True
        young[key] = state
        if len(young) >= self._half:
            self._old = young
            self._young = {}
        record = self._routes.get(route)
        if record is None or record[_R_WINDOW] != window:
            record = self._route_window(route, record, window)
        record[_R_REQUESTS] += 1
        if first:
            record[_R_CLIENTS] += 1
            return None  # one request is never over a threshold (factor > 1, usual rates >= 1)
        count = state & _COUNT_MASK
        if count <= self.min_requests:
            return None
        threshold = self._threshold(state, route)
        if threshold is None or count <= threshold:
            return None
        return count, threshold

    def add_many(
        self, clients: Sequence[str], routes: Sequence[str], times: Sequence[int]
    ) -> dict[int, tuple[int, float]]:
        """Count the requests ``(clients[i], routes[i], times[i])`` in order, as :meth:`add` one by
        one would (the same state afterwards); return ``{i: (count, threshold)}`` for those over
        the threshold."""
        count = len(times)
        if not count:
            return {}
        window = min(times) // self._window_ns
        young, half = self._young, self._half
        if (
            max(times) // self._window_ns != window
            or len(young) + count >= half
            or len(self._routes) + count >= self._max_routes
        ):
            # Requests across windows, or a turn of the generations or a purge of the routes
            # within the batch: one by one (a batch in a hundred, or fewer).
            add = self.add
            found = {}
            for i in range(count):
                over = add(clients[i], routes[i], times[i])
                if over is not None:
                    found[i] = over
            return found
        # All in one window, and nothing evicted: each key's requests are counted in order, the
        # routes' totals added up once (a route's record rolls at most once, before any request
        # of the batch is judged against it) and the thresholds looked up for the few past
        # min_requests.
        start = window << _WINDOW_SHIFT
        new = start | 1
        least = self.min_requests
        get, pop, roll = young.get, self._old.pop, self._roll
        firsts = []
        busy = []
        for i, key in enumerate(map(hash, zip(clients, routes, strict=True))):
            state = get(key)
            if state is None:
                state = pop(key, None)
                if state is None:
                    young[key] = new
                    firsts.append(i)
                    continue
            if state >= start:  # the window of the state is this one (or later: a late request)
                if state & _COUNT_MASK != _COUNT_MASK:
                    state += 1
                young[key] = state
                if state & _COUNT_MASK > least:
                    busy.append((i, state))
            else:
                young[key] = roll(state, window)
                firsts.append(i)
        requests = Counter(routes)
        clients_new = Counter([routes[i] for i in firsts])
        records = self._routes
        for route, added in requests.items():
            record = records.get(route)
            if record is None or record[_R_WINDOW] != window:
                record = self._route_window(route, record, window)
            record[_R_REQUESTS] += added
            record[_R_CLIENTS] += clients_new[route]
        found = {}
        for i, state in busy:
            threshold = self._threshold(state, routes[i])
            if threshold is not None and state & _COUNT_MASK > threshold:
                found[i] = (state & _COUNT_MASK, threshold)
        return found

    def _roll(self, state: int, window: int) -> int:
        """The state for a first request in ``window``, a window after the client's latest: the
        latest one learned."""
        count = state & _COUNT_MASK
        active = (state >> _ACTIVE_SHIFT) & _ACTIVE_MASK
        baseline = ((state >> _BASELINE_SHIFT) & _BASELINE_MASK) / _FIXED
        baseline = count if active == 0 else baseline + self.smoothing * (count - baseline)
        fixed = min(round(baseline * _FIXED), _BASELINE_MASK)
        active = min(active + 1, _ACTIVE_MASK)
        return (window << _WINDOW_SHIFT) | (fixed << _BASELINE_SHIFT) | (active << _ACTIVE_SHIFT) | 1

    def _threshold(self, state: int, route: str) -> float | None:
        if (state >> _ACTIVE_SHIFT) & _ACTIVE_MASK >= self.warmup_windows:
            usual = ((state >> _BASELINE_SHIFT) & _BASELINE_MASK) / _FIXED
        else:
            typical = self.typical(route)
            if typical is None:
                return None
            usual = typical
        return max(float(self.min_requests), self.factor * usual)

    def _route_window(self, route: str, record: list | None, window: int) -> list:
        """The route's record for a request in ``window``: new, or the finished window learned
        (a late request counts in the route's latest window)."""
        if record is None:
            if len(self._routes) >= self._max_routes:
                self._routes.clear()
            record = self._routes[route] = [window, 0, 0, 0.0, 0]
        elif record[_R_WINDOW] < window:
            if record[_R_CLIENTS]:
                typical = record[_R_REQUESTS] / record[_R_CLIENTS]
                done, previous = record[_R_DONE], record[_R_TYPICAL]
                record[_R_TYPICAL] = typical if not done else previous + self.smoothing * (typical - previous)
                record[_R_DONE] = done + 1
            record[_R_WINDOW], record[_R_REQUESTS], record[_R_CLIENTS] = window, 0, 0
        return record

    def typical(self, route: str) -> float | None:
        """The route's typical requests per client and window (None before it has two windows)."""
        record = self._routes.get(route)
        return None if record is None or record[_R_DONE] < _ROUTE_WARMUP else record[_R_TYPICAL]

    def baseline(self, client: str, route: str) -> tuple[float, int] | None:
        """The client's learned (requests per window, windows learned) on the route, if known."""
        state = self.peek(hash((client, route)))
        if state is None:
            return None
        return ((state >> _BASELINE_SHIFT) & _BASELINE_MASK) / _FIXED, (state >> _ACTIVE_SHIFT) & _ACTIVE_MASK
