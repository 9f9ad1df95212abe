"""Fault injection: making the running app slow, failing or starved on demand.

Vigil's anomaly-scoring tests run the app on the real stack, inject a fault, and check that
the affected operations score high while the others stay low. Four kinds of fault:

=============  =========================================================================
``latency``    each request to a route takes ``value`` ms longer (plus up to 10% jitter)
``error``      a fraction ``value`` (0 to 1) of the requests to a route answer 500
``slow_db``    every SQL statement takes ``value`` ms longer
``cpu``        ``value`` threads (1 to 8) burn CPU in the app's process
=============  =========================================================================

A ``latency`` or ``error`` fault names a route, meaning one operation of the app: a rule as
Flask declares it (``/items/<int:item_id>``), its fixed part (``/items``), or one concrete
path (``/items/3``). ``/search`` is therefore the search alone, not ``/search/legacy``. A
route that names nothing the app serves is refused, as is the control endpoint below.

- A ``latency`` fault sleeps before the route's handler runs, inside the request's span.
- An ``error`` fault raises :class:`InjectedError` before the handler runs, which the app
  answers as any crash: 500, ``{"error": ...}``, the exception logged and recorded on the
  span. The failing requests are spread evenly rather than drawn at random, so that a test
  sees exactly the fraction asked for: ``0.5`` fails every second request to the route.
- A ``slow_db`` fault sleeps as each statement starts running, inside ``cursor.execute`` and
  so inside the statement's sqlite3 span (see :func:`vigil_demo.database.connect`).
  Transaction control (``BEGIN``, ``COMMIT``, ...) is not slowed.
- A ``cpu`` fault runs busy threads. Threads rather than processes: they compete with the
  request threads for the interpreter's lock, so request latency rises even on a machine with
  idle cores, which separate processes would leave untouched.

Adding a fault replaces any fault of the same kind on the same route; values are bounded
(60 s of delay, 8 CPU threads) so that a mistake cannot hang the app for good.

Faults can be set at start-up with ``VIGIL_DEMO_FAULTS`` (see ``settings``), a
comma-separated list of ``kind:route:value`` for ``latency`` and ``error`` and
``kind:value`` for ``slow_db`` and ``cpu``::

    VIGIL_DEMO_FAULTS="latency:/items:300,error:/search:0.5,slow_db:200,cpu:1"

and changed at run time through the control endpoint, on the app's own listener:

- ``GET /_faults``: the active faults, ``[{"kind": ..., "route": ..., "value": ...}, ...]``
  (``route`` is null for ``slow_db`` and ``cpu``);
- ``POST /_faults`` with a JSON object ``{"kind": "latency", "route": "/items", "value": 300}``:
  add a fault; 400 ``{"error": ...}`` for a body that is not such an object;
- ``DELETE /_faults``: clear every fault; ``DELETE /_faults?kind=latency&route=/items``:
  remove that one fault, or 404 if there is none.

Each answers the faults active afterwards. The control endpoint is served beside the Flask
app rather than by it, so it is never traced and never given faults; the traffic generator
never calls it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from flask import Flask, current_app, request
from werkzeug.exceptions import BadRequest, HTTPException, MethodNotAllowed, NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

FaultKind = Literal["latency", "error", "slow_db", "cpu"]
KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
ROUTED_KINDS = ("latency", "error")
"""The kinds that apply to one route; the others apply to the whole app."""

CONTROL_PATH = "/_faults"
MAX_DELAY_MS = 60_000.0
MAX_CPU_BURNERS = 8
LATENCY_JITTER = 0.1
"""A latency fault adds up to this share of its delay on top, never less than the delay."""
BURNER_THREAD_PREFIX = "vigil-demo-cpu-burner"
EXAMPLE = "latency:/items:300,error:/search:0.5,slow_db:200,cpu:1"

_EXTENSION_KEY = "vigil_demo.faults"
_TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})
# A float fraction summed n times can fall a hair short of the whole number it should reach.
_CREDIT_EPSILON = 1e-9

logger = logging.getLogger("vigil_demo")


class InjectedError(Exception):
    """The crash an ``error`` fault causes."""


@dataclass(frozen=True)
class Fault:
    """One fault: its kind, the route it applies to (``latency`` and ``error`` only), its value.

    ``value`` is milliseconds for ``latency`` and ``slow_db``, a fraction of requests for
    ``error``, a number of threads for ``cpu``. Raises ValueError when they do not fit together.
    """

    kind: FaultKind
    route: str | None
    value: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}, not one of {', '.join(KINDS)}")
        if self.kind in ROUTED_KINDS:
            if not isinstance(self.route, str) or not self.route.startswith("/"):
                raise ValueError(f"a {self.kind} fault needs a route starting with '/', not {self.route!r}")
            if _under_control_path(self.route):
                raise ValueError(f"{CONTROL_PATH}, the fault control endpoint, cannot be given faults")
        elif self.route is not None:
            raise ValueError(f"a {self.kind} fault applies to the whole app and takes no route")
        value = self.value
        if self.kind == "error":
            if not 0 <= value <= 1:
                raise ValueError(f"an error fault's value is a fraction of requests, 0 to 1, not {value}")
        elif self.kind == "cpu":
            if not (1 <= value <= MAX_CPU_BURNERS and float(value).is_integer()):
                raise ValueError(
                    f"a cpu fault's value is a number of busy threads, 1 to {MAX_CPU_BURNERS}, not {value}"
                )
            object.__setattr__(self, "value", int(value))
        elif not 0 <= value <= MAX_DELAY_MS:
            raise ValueError(
                f"a {self.kind} fault's value is milliseconds, 0 to {MAX_DELAY_MS:g}, not {value}"
            )
        if self.kind != "cpu":
            # The same fault reads the same whether it came from JSON's 300 or the environment's 300.
            object.__setattr__(self, "value", float(value))

    def to_json(self) -> dict[str, Any]:
        """The fault as the control endpoint shows it."""
        return {"kind": self.kind, "route": self.route, "value": self.value}

    @classmethod
    def from_json(cls, body: object) -> Fault:
        """The fault a control request's JSON ``body`` describes; ValueError if it describes none."""
        if not isinstance(body, dict):
            raise ValueError(
                'the body must be a JSON object like {"kind": "latency", "route": "/items", "value": 300}'
            )
        unknown = set(body) - {"kind", "route", "value"}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}: a fault has kind, route and value")
        kind, route, value = body.get("kind"), body.get("route"), body.get("value")
        # bool is an int to Python, but true is no number of milliseconds.
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"the value must be a number, not {value!r}")
        return cls(kind, route, value)  # type: ignore[arg-type]  # __post_init__ checks kind and route


def parse_faults(spec: str) -> tuple[Fault, ...]:
    """The faults of a ``VIGIL_DEMO_FAULTS`` value; ValueError naming the bad one, if any."""
    faults = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        try:
            faults.append(_parse_fault(item))
        except ValueError as error:
            raise ValueError(
                f"VIGIL_DEMO_FAULTS: bad fault {item!r}: {error}. Expected comma-separated "
                f"kind:route:value (latency, error) or kind:value (slow_db, cpu), e.g. {EXAMPLE!r}"
            ) from None
    return tuple(faults)


def _parse_fault(item: str) -> Fault:
    kind, _, rest = item.partition(":")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}, not one of {', '.join(KINDS)}")
    route: str | None = None
    if kind in ROUTED_KINDS:
        # Split at the last colon: a route can hold colons of its own (/items/<int:item_id>).
        route, _, value = rest.rpartition(":")
        if not route:
            raise ValueError(f"expected {kind}:<route>:<value>")
    else:
        value = rest
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"the value {value!r} is not a number") from None
    return Fault(kind, route, number)  # type: ignore[arg-type]  # kind checked above


class FaultRegistry:
    """The app's active faults, safe to read and change from any thread.

    ``seed`` makes the latency jitter repeatable.
    """

    def __init__(self, *, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str | None], Fault] = {}
        # Per error fault, the share of a failure owed so far: a request fails once it reaches 1.
        self._error_credit: dict[str | None, float] = {}
        self._rng = random.Random(seed)
        self._burners: list[threading.Thread] = []
        self._stop_burning = threading.Event()

    def faults(self) -> list[Fault]:
        """The active faults, in the order they were added."""
        with self._lock:
            return list(self._faults.values())

    def add(self, fault: Fault) -> None:
        """Activate ``fault``, replacing any fault of its kind on its route."""
        with self._lock:
            self._faults[(fault.kind, fault.route)] = fault
            if fault.kind == "error":
                self._error_credit[fault.route] = 0.0
            if fault.kind == "cpu":
                self._set_burners(int(fault.value))
        logger.info("fault injected: %s", json.dumps(fault.to_json()))

    def remove(self, kind: str, route: str | None = None) -> bool:
        """Deactivate the ``kind`` fault on ``route``; whether there was one."""
        with self._lock:
            fault = self._faults.pop((kind, route), None)
            if fault is not None and fault.kind == "cpu":
                self._set_burners(0)
        if fault is not None:
            logger.info("fault removed: %s", json.dumps(fault.to_json()))
        return fault is not None

    def clear(self) -> None:
        """Deactivate every fault, stopping the CPU burners."""
        with self._lock:
            self._faults.clear()
            self._set_burners(0)
        logger.info("faults cleared")

    def cpu_burners(self) -> int:
        """The number of CPU burner threads running."""
        with self._lock:
            return sum(thread.is_alive() for thread in self._burners)

    def request_faults(self, path: str, rule: str | None) -> tuple[float, bool]:
        """For a request to ``path`` matched by URL ``rule``: the seconds to delay it, and
        whether to fail it. Counts the request towards its route's error fraction."""
        delay, fail = 0.0, False
        with self._lock:
            for fault in self._faults.values():
                if fault.kind not in ROUTED_KINDS or not _route_matches(fault.route, path, rule):
                    continue
                if fault.kind == "latency":
                    delay += fault.value * (1 + LATENCY_JITTER * self._rng.random()) / 1000
                else:
                    credit = self._error_credit[fault.route] + fault.value
                    if credit >= 1 - _CREDIT_EPSILON:
                        credit -= 1
                        fail = True
                    self._error_credit[fault.route] = credit
        return delay, fail

    def before_statement(self, sql: str) -> None:
        """Sleep as a ``slow_db`` fault asks before the SQL statement ``sql`` runs.

        Meant as the statement callback of :func:`vigil_demo.database.connect`.
        """
        with self._lock:
            fault = self._faults.get(("slow_db", None))
        if fault is None or not fault.value:
            return
        words = sql.split(None, 1)
        if words and words[0].upper() in _TRANSACTION_CONTROL:
            return
        time.sleep(fault.value / 1000)

    def _set_burners(self, count: int) -> None:
        # Called with the lock held; the burners never take it, so joining them cannot deadlock.
        self._stop_burning.set()
        for thread in self._burners:
            thread.join(timeout=5)
        self._stop_burning = threading.Event()
        self._burners = [
            threading.Thread(
                target=_burn, args=(self._stop_burning,), name=f"{BURNER_THREAD_PREFIX}-{i}", daemon=True
            )
            for i in range(count)
        ]
        for thread in self._burners:
            thread.start()


def _burn(stop: threading.Event) -> None:
    # Pure-Python work holds the interpreter's lock, checking for the stop about every millisecond.
    while not stop.is_set():
        sum(i * i for i in range(5_000))


def _route_matches(route: str | None, path: str, rule: str | None) -> bool:
    return route == path or (rule is not None and route in (rule, _fixed_part(rule)))


def _fixed_part(rule: str) -> str:
    """``/items/<int:item_id>`` -> ``/items``: a rule's path up to its first variable."""
    return rule.split("<", 1)[0].rstrip("/") or "/"


def _under_control_path(route: str) -> bool:
    return route == CONTROL_PATH or route.startswith(CONTROL_PATH + "/")


def _names_a_route(url_map: Map, route: str) -> bool:
    """Whether ``route`` names a rule of ``url_map``, a rule's fixed part, or a path one matches."""
    rules: Iterable[Rule] = url_map.iter_rules()
    if any(route in (rule.rule, _fixed_part(rule.rule)) for rule in rules):
        return True
    try:
        url_map.bind("localhost").match(route)
    except (MethodNotAllowed, RequestRedirect):
        return True
    except NotFound:
        return False
    return True


def install(app: Flask, faults: Iterable[Fault] = ()) -> FaultRegistry:
    """Give ``app``, its routes registered, a fault registry with ``faults`` active, the hook
    that applies them, and the control endpoint. Raises ValueError, starting nothing, if a
    fault's route names nothing the app serves."""
    faults = list(faults)
    for fault in faults:
        if fault.route is not None and not _names_a_route(app.url_map, fault.route):
            raise ValueError(f"VIGIL_DEMO_FAULTS: no route of the app matches {fault.route!r}")
    registry = FaultRegistry()
    for fault in faults:
        registry.add(fault)
    app.extensions[_EXTENSION_KEY] = registry
    app.before_request(_apply_request_faults)
    # In front of the Flask app's own wsgi_app, which is what the OpenTelemetry Flask
    # instrumentation wraps: control requests make no span and no metric point, with no
    # OTEL_PYTHON_FLASK_EXCLUDED_URLS needed, and no before_request hook sees them.
    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {CONTROL_PATH: _control_app(registry, app.url_map)}
    )
    return registry


def registry(app: Flask) -> FaultRegistry:
    """The fault registry :func:`install` gave ``app``."""
    return app.extensions[_EXTENSION_KEY]


def _apply_request_faults() -> None:
    rule = request.url_rule.rule if request.url_rule is not None else None
    delay, fail = registry(current_app).request_faults(request.path, rule)
    if delay:
        time.sleep(delay)
    if fail:
        raise InjectedError(f"injected error fault on {request.path}")


def _control_app(faults: FaultRegistry, url_map: Map) -> Callable[..., Any]:
    @Request.application  # type: ignore[arg-type]
    def control(http: Request) -> Response:
        try:
            if http.path not in ("", "/"):
                raise NotFound(f"no {CONTROL_PATH}{http.path}")
            if http.method == "POST":
                _add(faults, url_map, http.get_json(force=True, silent=True))
            elif http.method == "DELETE":
                _delete(faults, http.args)
            elif http.method not in ("GET", "HEAD"):
                raise MethodNotAllowed(valid_methods=["GET", "HEAD", "POST", "DELETE"])
            body = [fault.to_json() for fault in faults.faults()]
            return Response(json.dumps(body), mimetype="application/json")
        except HTTPException as error:
            response = error.get_response()
            response.set_data(json.dumps({"error": error.description}))
            response.content_type = "application/json"
            return response

    return control


def _add(faults: FaultRegistry, url_map: Map, body: object) -> None:
    try:
        fault = Fault.from_json(body)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    if fault.route is not None and not _names_a_route(url_map, fault.route):
        raise BadRequest(f"no route of the app matches {fault.route!r}")
    faults.add(fault)


def _delete(faults: FaultRegistry, args: Mapping[str, str]) -> None:
    kind = args.get("kind")
    if kind is None:
        faults.clear()
    elif not faults.remove(kind, args.get("route")):
        raise NotFound(f"no {kind} fault on {args.get('route')!r}")
