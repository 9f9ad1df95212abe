"""Behavioural threats: brute force, credential stuffing, rate abuse, enumeration and privileged
operations at unusual hours, found in patterns over time rather than in one value.

:class:`BehaviourDetector` is part of the threat scorer (on by default; ``ThreatConfig(behaviour=
None)`` turns it off). It watches what the instrumentation already records, with no change to the
application, and its detections join the payload detections of the same span or log record: the
same ``vigil.threat.*`` annotations, score, events and counter (:mod:`.scorer`, :mod:`.reporting`).

What it reads
-------------
HTTP server spans (kind SERVER):
    the client (``client.address``; older: ``http.client_ip``, ``net.sock.peer.addr``,
    ``net.peer.ip``, ``source.address``), the route (``http.route``, else the path of
    ``url.path`` / ``http.target``), the method (``http.request.method`` / ``http.method``), the
    status (``http.response.status_code`` / ``http.status_code``) and the account, where recorded
    (``user.name``, ``enduser.id``).
Log records that are security events (``event.name``):
    ``auth.failure`` and ``auth.success`` (with ``user.name`` / ``enduser.id`` and the client),
    ``access.denied`` and ``privileged.operation``.

A **failed login** is an ``auth.failure`` event, or a span whose method is in ``login_methods``
(POST), whose status is in ``login_failure_statuses`` (401, 403) and whose route matches
``login_route`` (a path ending in ``/login``, ``/signin``, ``/sign_in``, ``/logon``, ``/auth``,
``/authenticate``, ``/token`` or ``/session(s)``). Applications that answer a failed login with
200 and an error page are only seen through their ``auth.failure`` events. An application that
both logs ``auth.failure`` and answers 401 is not counted twice: spans and events are counted
apart and the larger count is used (the same holds for 403 responses and ``access.denied``).

Time is always the item's own (a span's end, a record's timestamp), never the sidecar's clock:
replaying recorded telemetry (``vigil score``) finds what live scoring found. Items without a
timestamp are not counted.

Rules
-----
Ids, categories and strengths are in :mod:`.rules`; every number below is a
:class:`BehaviourConfig` field, shown at its default.

``bruteforce.client`` / ``bruteforce.account``
    failed logins from one client / on one account in ``bruteforce_window_s`` (5 minutes):
    3 medium, 5 high, 10 critical (``bruteforce_levels``). One mistyped password, or two, is
    nothing; many clients each failing once on their own account are nothing.
``bruteforce.success-after-failures``
    an ``auth.success`` event for a client or account at the high level of failures (5) in the
    window: the guess that worked (0.85).
``stuffing.client-many-accounts`` / ``stuffing.account-many-clients``
    failed logins from one client on distinct accounts / on one account from distinct clients in
    ``stuffing_window_s`` (10 minutes): 5, 10, 20 (``stuffing_levels``). Both need the
    account and the client of each failure.
``rate-abuse.client-endpoint``
    a client's requests to a route in one ``rate_window_s`` (a minute) above ``rate_factor`` (8)
    times its own usual rate there, or, for a client without ``rate_warmup_windows`` (5) windows
    of history, the route's typical client; never under ``rate_min_requests`` (120). Medium past
    the threshold, high past twice, critical past four times (:mod:`.rates`).
``enumeration.client-4xx-burst``
    responses in ``enumeration_statuses`` (403, 404; failed logins excluded) or ``access.denied``
    events for one client in ``enumeration_window_s`` (a minute): 20, 50, 100
    (``enumeration_levels``). A missing image now and then is nothing.
``privileged.off-hours``
    a route matching ``privileged_route`` (``/admin``, ``/wp-admin``, ``/actuator``, ...), a
    method in ``privileged_methods`` (DELETE) or a ``privileged.operation`` event between
    ``off_hours`` (22:00 and 06:00) at ``utc_offset_minutes`` (0: UTC). A suspicion (0.35): on its
    own it is annotated, never an attack; with other evidence on the same item (a payload, a
    brute force) it adds up (:mod:`.verdict`).

An item is annotated with the rules it fires *from the item that reaches a level on*: the failed
logins before the third are not (they were forwarded already). Per category only the strongest
rule counts (the client and the account of a brute force see the same attempts: adding them
would count the evidence twice).

Events
------
A behavioural detection gives a ``vigil.threat`` event (with ``client.address``) when it reaches a
level: a brute force of 500 attempts gives three events (medium, high, critical), not 500, while
all 500 items carry the annotations. More exactly, an item gets an event when it is an attack
without the detections that only repeat a level already reported for the same key in the
window.

Memory
------
Counts are kept per client, account and (client, route) in bounded stores (:mod:`.windows`,
:mod:`.rates`) of at most ``max_keys`` keys each (four stores: failures, distinct accounts /
clients, 4xx, rates), evicting the coldest half when full: a million distinct clients, or ten
million, cost the same. At the default (100,000), a flood of a million spoofed clients, each with
a request, a 404 and a failed login on its own account, grows the process by about 70 MB at the
fullest (RSS; the sidecar itself starts at about 45 MB); each store holds about 140 bytes a key.

Limits
------
The client is what the instrumentation recorded: behind a proxy that is the address the app
trusted (``X-Forwarded-For``), which a client may forge. A client that forges a new address per
request is not one client; an attacker that makes ``max_keys / 2`` new keys between two of a
key's attempts pushes that key out (a brute force in progress, touched at every attempt, stays).
Items before the one that reaches a level are not annotated after the fact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from vigil.processors.threat.rates import RateBaselines
from vigil.processors.threat.rules import RULES, Detection, Evidence
from vigil.processors.threat.windows import SlidingCounts, SlidingDistinct

LEVEL_SCORES = (0.55, 0.75, 0.92)
"""The score of a graded rule at its first, second and third level: medium, high, critical."""

BEHAVIOURAL_RULES = frozenset(
    {
        "bruteforce.client",
        "bruteforce.account",
        "bruteforce.success-after-failures",
        "stuffing.client-many-accounts",
        "stuffing.account-many-clients",
        "rate-abuse.client-endpoint",
        "enumeration.client-4xx-burst",
        "privileged.off-hours",
    }
)
"""The ids of the rules this module fires."""

DEFAULT_LOGIN_ROUTE = r"(?i)/(log[-_]?in|sign[-_]?in|log[-_]?on|auth|authenticate|token|sessions?)/?$"
DEFAULT_PRIVILEGED_ROUTE = r"(?i)(^|/)(admin|administrator|wp-admin|superuser|sudo|actuator)([/._-]|$)"

# Security events read from log records (event.name).
AUTH_FAILURE, AUTH_SUCCESS = "auth.failure", "auth.success"
ACCESS_DENIED, PRIVILEGED_OPERATION = "access.denied", "privileged.operation"
EVENT_NAMES = frozenset({AUTH_FAILURE, AUTH_SUCCESS, ACCESS_DENIED, PRIVILEGED_OPERATION})

# Where a span's attributes go in the list the scorer fills (see SPAN_SLOTS): the clients, newest
# semantic conventions first, the route, the method and the status. The account is only needed
# for a failed login: looked up in the span's attributes then.
_ROUTE, _METHOD, _OLD_METHOD, _STATUS, _OLD_STATUS = range(5, 10)
SPAN_SLOTS: dict[str, int] = {
    "client.address": 0,
    "http.client_ip": 1,
    "net.sock.peer.addr": 2,
    "net.peer.ip": 3,
    "source.address": 4,
    "http.route": _ROUTE,
    "http.request.method": _METHOD,
    "http.method": _OLD_METHOD,
    "http.response.status_code": _STATUS,
    "http.status_code": _OLD_STATUS,
}
"""Attribute key -> slot in the list of attributes :meth:`BehaviourDetector.span` reads."""
SLOT_COUNT = 10
RECORD_CLIENT_KEYS = (
    "client.address",
    "http.client_ip",
    "net.sock.peer.addr",
    "net.peer.ip",
    "source.address",
)
USER_KEYS = ("user.name", "enduser.id")


def first_client(values: Mapping[str, str]) -> str:
    """The client ``values`` (attribute key -> string value) name: the first of
    :data:`RECORD_CLIENT_KEYS` set to a non-empty string, else ""."""
    return next((values[key] for key in RECORD_CLIENT_KEYS if values.get(key)), "")


# Key tags in the shared stores (a key is (tag, name) or (tag, source, name)).
_SPANS, _EVENTS = 0, 1
_CLIENT, _ACCOUNT = 0, 1
_NS_PER_MINUTE = 60_000_000_000
_NS_PER_HOUR = 60 * _NS_PER_MINUTE


@dataclass(frozen=True)
class BehaviourConfig:
    """Every threshold, window and pattern of the behavioural detectors (see the module docstring)."""

    login_route: str = DEFAULT_LOGIN_ROUTE
    """Regex searched in a span's route (or path) to tell a login request."""
    login_methods: frozenset[str] = frozenset({"POST"})
    login_failure_statuses: frozenset[int] = frozenset({401, 403})
    bruteforce_window_s: float = 300.0
    bruteforce_levels: tuple[int, int, int] = (3, 5, 10)
    """Failed logins per client or account in the window for medium, high, critical."""
    stuffing_window_s: float = 600.0
    stuffing_levels: tuple[int, int, int] = (5, 10, 20)
    """Distinct accounts per client, or clients per account, failing in the window."""
    rate_window_s: float = 60.0
    rate_factor: float = 8.0
    """How many times its usual rate a client must go past (doubled for high, again for critical)."""
    rate_min_requests: int = 120
    rate_warmup_windows: int = 5
    rate_smoothing: float = 0.2
    enumeration_statuses: frozenset[int] = frozenset({403, 404})
    enumeration_window_s: float = 60.0
    enumeration_levels: tuple[int, int, int] = (20, 50, 100)
    privileged_route: str = DEFAULT_PRIVILEGED_ROUTE
    privileged_methods: frozenset[str] = frozenset({"DELETE"})
    off_hours: tuple[int, int] = (22, 6)
    """[start, end) hours of the day that are unusual for privileged operations (wrapping midnight)."""
    utc_offset_minutes: int = 0
    """The offset of the local time ``off_hours`` is in: 60 for UTC+1."""
    max_keys: int = 100_000
    """Keys per store (failures, distinct counts, 4xx, rates), the coldest half evicted when full."""
    buckets: int = 10
    """Sub-buckets of a sliding window: its resolution (window / buckets)."""


class Observed(NamedTuple):
    """What the detector found on one item."""

    evidence: tuple[Evidence, ...]
    repeated: frozenset[str]
    """Rules that only repeat a level already reached for the same key in the window: they
    annotate the item but do not by themselves make an event."""


class BehaviourDetector:
    """Behavioural detection over spans and security events; see the module docstring."""

    def __init__(
        self, config: BehaviourConfig | None = None, disabled_rules: frozenset[str] = frozenset()
    ) -> None:
        self.config = config = config or BehaviourConfig()
        for name in ("bruteforce_levels", "stuffing_levels", "enumeration_levels"):
            levels = getattr(config, name)
            if len(levels) != 3 or not 0 < levels[0] <= levels[1] <= levels[2] < 256:
                raise ValueError(f"{name} must be three increasing counts from 1 to 255, not {levels!r}")
        enabled = BEHAVIOURAL_RULES - disabled_rules
        self._bruteforce = bool(enabled & {"bruteforce.client", "bruteforce.account"})
        self._stuffing = bool(enabled & {"stuffing.client-many-accounts", "stuffing.account-many-clients"})
        self._success = "bruteforce.success-after-failures" in enabled
        self._enumeration = "enumeration.client-4xx-burst" in enabled
        self._rate = "rate-abuse.client-endpoint" in enabled
        self._privileged = "privileged.off-hours" in enabled
        self._enabled = enabled
        max_keys, buckets = config.max_keys, config.buckets
        self.failures = SlidingCounts(config.bruteforce_window_s, max_keys, buckets)
        self.distinct = SlidingDistinct(
            config.stuffing_window_s, max_keys, cap=max(32, config.stuffing_levels[2])
        )
        self.rejections = SlidingCounts(config.enumeration_window_s, max_keys, buckets)
        self.rates = rates = RateBaselines(
            config.rate_window_s,
            max_keys,
            config.rate_factor,
            config.rate_min_requests,
            config.rate_warmup_windows,
            config.rate_smoothing,
        )
        self._count_request = rates.add
        self._login = re.compile(config.login_route).search
        self._admin = re.compile(config.privileged_route).search
        self._login_routes: dict[str, bool] = {}
        self._admin_routes: dict[str, bool] = {}
        start, end = config.off_hours
        hours = range(start, end) if start <= end else [*range(start, 24), *range(0, end)]
        self._off_hours = frozenset(hours)
        self._offset = config.utc_offset_minutes
        self._offset_ns = config.utc_offset_minutes * _NS_PER_MINUTE
        # Per counting store, whether spans (0) and events (1) were ever counted into it.
        self._sources = {self.failures: [False, False], self.rejections: [False, False]}
        # The hour of the latest span, [start, end) in ns, and whether it is off-hours.
        self._hour_start = self._hour_end = 0
        self._night = False
        # The statuses worth a closer look: failed logins, rejections.
        self._statuses = frozenset().union(
            config.login_failure_statuses if self._bruteforce or self._stuffing else (),
            config.enumeration_statuses if self._enumeration else (),
        )

    def __len__(self) -> int:
        """Keys held, over all stores."""
        return len(self.failures) + len(self.distinct) + len(self.rejections) + len(self.rates)

    # --- items ----------------------------------------------------------------------------------

    def span(
        self, found: Sequence[KeyValue | None], path: str, time_ns: int, item: Message | None = None
    ) -> Observed | None:
        """Judge one HTTP server span from its attributes in :data:`SPAN_SLOTS` (None where
        absent), its path (``url.path``, or the path of ``http.target``), its end and the span
        itself (where the account of a failed login is looked up)."""
        if not time_ns:
            return None
        # The values the scorer's columns would hold (see spans()): a non-empty string is one
        # (the common case, read directly); anything else is looked at closer (a value of another
        # type counts as absent).
        kv = found[0] or found[1] or found[2] or found[3] or found[4]
        client = kv.value.string_value if kv is not None else ""
        if not client and kv is not None:
            client = _text(_first(found, 0, _ROUTE))
        kv = found[_ROUTE]
        route = kv.value.string_value if kv is not None else ""
        over = self._count_request(client, route or "*", time_ns) if client and self._rate else None
        kv = found[_METHOD] or found[_OLD_METHOD]
        method = kv.value.string_value if kv is not None else ""
        if not method and kv is not None:
            method = _text(_first(found, _METHOD, _OLD_METHOD + 1))
        kv = found[_STATUS] or found[_OLD_STATUS]
        status = None if kv is None else kv.value.int_value or kv.value.string_value
        if not status and kv is not None:
            status = _first(found, _STATUS, _OLD_STATUS + 1)
        return self._judge(client, route, path, method, status, time_ns, over, item)

    def spans(
        self,
        columns: Sequence[Sequence[str | int | None]],
        paths: Sequence[str],
        times: Sequence[int],
        item: Callable[[int], Message],
    ) -> dict[int, Observed]:
        """Judge a batch of HTTP server spans in order, as :meth:`span` does one by one (the same
        results, the same state afterwards), from columns of their attributes' raw values:
        ``columns[slot][k]`` is the value of the :data:`SPAN_SLOTS` attribute ``slot`` on the
        ``k``-th span (the ``string_value`` or ``int_value``; None if absent or of another type),
        ``paths[k]`` its path, ``times[k]`` its end and ``item(k)`` the span itself (only called
        for the account of a failed login). Returns the spans with evidence, by position."""
        # The common case, a request counted and nothing found, is done for the whole batch at
        # once; only the spans that may have evidence go through _judge, in order.
        count = len(times)
        if not count:
            return {}
        timed = range(count) if 0 not in times else [k for k in range(count) if times[k]]
        if not timed:
            return {}
        clients = _texts(columns[:_ROUTE], count)
        routes = _texts(columns[_ROUTE : _ROUTE + 1], count)
        methods = _texts(columns[_METHOD : _OLD_METHOD + 1], count)
        statuses = _merged(columns[_STATUS : _OLD_STATUS + 1], count)
        overs: dict[int, tuple[int, float]] = {}
        if self._rate:
            rate_routes = routes if "" not in routes else [route or "*" for route in routes]
            if timed.__class__ is range and "" not in clients:
                overs = self.rates.add_many(clients, rate_routes, times)
            else:
                counted = [k for k in timed if clients[k]]
                found = self.rates.add_many(
                    [clients[k] for k in counted],
                    [rate_routes[k] for k in counted],
                    [times[k] for k in counted],
                )
                overs = {counted[i]: over for i, over in found.items()}
        suspects = set(overs)
        if self._statuses:
            codes = {
                value for value in set(statuses) if value is not None and _status(value) in self._statuses
            }
            if codes:
                suspects.update(k for k in timed if statuses[k] in codes)
        if self._privileged:
            suspects.update(self._privileged_suspects(timed, routes, paths, methods, times))
        results: dict[int, Observed] = {}
        judge = self._judge
        for k in sorted(suspects):
            observed = judge(
                clients[k], routes[k], paths[k], methods[k], statuses[k], times[k], overs.get(k), item, k
            )
            if observed is not None:
                results[k] = observed
        last = times[timed[-1]]
        if not self._hour_start <= last < self._hour_end:
            self._set_hour(last)
        return results

    def _privileged_suspects(
        self,
        timed: Sequence[int],
        routes: Sequence[str],
        paths: Sequence[str],
        methods: Sequence[str],
        times: Sequence[int],
    ) -> list[int]:
        """The spans of a batch that may be privileged operations at night."""
        ends = times if timed.__class__ is range else [times[k] for k in timed]  # timed: all, mostly
        earliest, latest = min(ends), max(ends)
        if not self._hour_start <= earliest < self._hour_end:
            self._set_hour(earliest)
        if latest < self._hour_end:  # most batches lie within one hour
            if not self._night:
                return []
            night = timed
        else:
            night = [k for k in timed if self._is_off_hours(times[k])]
        privileged = self.config.privileged_methods
        # Each distinct route (or path) of the batch is looked up once, not once per span.
        targets = {k: routes[k] or paths[k] for k in night if methods[k] not in privileged}
        admin = {target for target in set(targets.values()) if self._is_admin(target)}
        return [k for k in night if k not in targets or targets[k] in admin]

    def _judge(
        self,
        client: str,
        route: str,
        path: str,
        method: str,
        status: str | int | None,
        time_ns: int,
        over: tuple[int, float] | None,
        item: Callable[[int], Message] | Message | None,
        k: int | None = None,
    ) -> Observed | None:
        """The evidence on one server span, its request already counted (``over``: what
        :meth:`RateBaselines.add` said); ``item`` is the span, or gives it for ``k``."""
        evidence: list[Evidence] | None = None
        repeated: list[str] = []
        if over is not None:
            evidence = []
            self._rate_abuse(client, route or "*", over, evidence, repeated)
        if status is not None and (code := _status(status)) in self._statuses:
            if evidence is None:
                evidence = []
            config = self.config
            where = route or path
            if (
                code in config.login_failure_statuses
                and method in config.login_methods
                and self._is_login(where)
            ):
                message = item(k) if k is not None else item  # type: ignore[operator]
                user = _find(message.attributes, USER_KEYS) if message is not None else ""
                self._failed_login(_SPANS, client, user, time_ns, evidence, repeated)
            elif client and code in config.enumeration_statuses and self._enumeration:
                self._rejected(_SPANS, client, time_ns, evidence, repeated)
        if not self._hour_start <= time_ns < self._hour_end:
            self._set_hour(time_ns)
        if self._night:
            where = route or path
            if method in self.config.privileged_methods or self._is_admin(where):
                if evidence is None:
                    evidence = []
                key = "http.route" if route else "url.path"
                self._privileged_operation(key, where, f"{method} {where}", time_ns, evidence)
        if not evidence:
            return None
        return Observed(tuple(evidence), frozenset(repeated))

    def event(self, name: str, client: str, user: str, time_ns: int) -> Observed | None:
        """Judge one security event (a log record whose ``event.name`` is in :data:`EVENT_NAMES`)."""
        if not time_ns:
            return None
        evidence: list[Evidence] = []
        repeated: list[str] = []
        if name == AUTH_FAILURE:
            self._failed_login(_EVENTS, client, user, time_ns, evidence, repeated)
        elif name == AUTH_SUCCESS:
            if self._success:
                self._success_after_failures(client, user, time_ns, evidence)
        elif name == ACCESS_DENIED:
            if client and self._enumeration:
                self._rejected(_EVENTS, client, time_ns, evidence, repeated)
        elif name == PRIVILEGED_OPERATION:
            if self._privileged and self._is_off_hours(time_ns):
                who = user or client or "someone"
                self._privileged_operation("event.name", name, f"{name} by {who}", time_ns, evidence)
        if not evidence:
            return None
        return Observed(tuple(evidence), frozenset(repeated))

    # --- detectors ------------------------------------------------------------------------------

    def _failed_login(
        self, source: int, client: str, user: str, time_ns: int, evidence: list[Evidence], repeated: list[str]
    ) -> None:
        config = self.config
        window = _duration(config.bruteforce_window_s)
        if self._bruteforce:
            best: tuple[int, bool, Evidence] | None = None
            for kind, name, key, rule in (
                (_CLIENT, client, "client.address", "bruteforce.client"),
                (_ACCOUNT, user, "user.name", "bruteforce.account"),
            ):
                if not name or rule not in self._enabled:
                    continue
                level, fresh, count = self._count(
                    self.failures, source, kind, name, time_ns, config.bruteforce_levels
                )
                if level and (best is None or level > best[0]):
                    subject = f"from {name}" if kind == _CLIENT else f"on account {name}"
                    detail = f"{count} failed logins in {window} {subject}"
                    best = (level, fresh, _graded(rule, level, key, name, detail))
            if best is not None:
                evidence.append(best[2])
                if not best[1]:
                    repeated.append(best[2].detections[0].rule)
        if self._stuffing and client and user:
            levels = config.stuffing_levels
            window = _duration(config.stuffing_window_s)
            best_stuffing: tuple[int, bool, Evidence] | None = None
            for kind, name, other, key, rule, what in (
                (
                    _CLIENT,
                    client,
                    user,
                    "client.address",
                    "stuffing.client-many-accounts",
                    "accounts failing from",
                ),
                (_ACCOUNT, user, client, "user.name", "stuffing.account-many-clients", "clients failing on"),
            ):
                before, after = self.distinct.add((kind, name), other, time_ns)
                level = _level(after, levels)
                if level and rule in self._enabled and (best_stuffing is None or level > best_stuffing[0]):
                    detail = f"{after} {what} {name} in {window}"
                    best_stuffing = (
                        level,
                        level > _level(before, levels),
                        _graded(rule, level, key, name, detail),
                    )
            if best_stuffing is not None:
                evidence.append(best_stuffing[2])
                if not best_stuffing[1]:
                    repeated.append(best_stuffing[2].detections[0].rule)

    def _success_after_failures(self, client: str, user: str, time_ns: int, evidence: list[Evidence]) -> None:
        high = self.config.bruteforce_levels[1]
        failures = self.failures
        for kind, name, key in ((_CLIENT, client, "client.address"), (_ACCOUNT, user, "user.name")):
            if not name:
                continue
            count = max(
                failures.count((_SPANS, kind, name), time_ns), failures.count((_EVENTS, kind, name), time_ns)
            )
            if count >= high:
                window = _duration(self.config.bruteforce_window_s)
                subject = name if kind == _CLIENT else f"account {name}"
                rule = RULES["bruteforce.success-after-failures"]
                detail = f"a successful login after {count} failed logins of {subject} in {window}"
                evidence.append(Evidence(key, name, (Detection(rule.category, rule.id, rule.score),), detail))
                return

    def _rejected(
        self, source: int, client: str, time_ns: int, evidence: list[Evidence], repeated: list[str]
    ) -> None:
        config = self.config
        level, fresh, count = self._count(
            self.rejections, source, _CLIENT, client, time_ns, config.enumeration_levels
        )
        if level:
            detail = (
                f"{count} responses 404 / 403 or access denials in {_duration(config.enumeration_window_s)}"
            )
            evidence.append(_graded("enumeration.client-4xx-burst", level, "client.address", client, detail))
            if not fresh:
                repeated.append("enumeration.client-4xx-burst")

    def _rate_abuse(
        self, client: str, route: str, over: tuple[int, float], evidence: list[Evidence], repeated: list[str]
    ) -> None:
        count, threshold = over
        level = _rate_level(count, threshold)
        detail = (
            f"{count} requests to {route} in {_duration(self.config.rate_window_s)}, "
            f"past {threshold:.0f} ({self.config.rate_factor:g} times the usual)"
        )
        evidence.append(_graded("rate-abuse.client-endpoint", level, "client.address", client, detail))
        if _rate_level(count - 1, threshold) == level:
            repeated.append("rate-abuse.client-endpoint")

    def _privileged_operation(
        self, key: str, value: str, what: str, time_ns: int, evidence: list[Evidence]
    ) -> None:
        minutes = (time_ns // _NS_PER_MINUTE + self._offset) % 1440
        offset = self._offset
        zone = "UTC" if not offset else f"UTC{offset // 60:+03d}:{abs(offset) % 60:02d}"
        rule = RULES["privileged.off-hours"]
        detail = f"{what} at {minutes // 60:02d}:{minutes % 60:02d} {zone}"
        evidence.append(Evidence(key, value, (Detection(rule.category, rule.id, rule.score),), detail))

    # --- helpers --------------------------------------------------------------------------------

    def _count(
        self,
        store: SlidingCounts,
        source: int,
        kind: int,
        name: str,
        time_ns: int,
        levels: tuple[int, int, int],
    ) -> tuple[int, bool, int]:
        """Count one more of ``name`` from ``source``; return (level, whether the level was just
        reached, count): the count is the larger of this source's and the other's."""
        before, after = store.add((source, kind, name), time_ns)
        fed = self._sources[store]
        fed[source] = True
        # Most applications only ever feed one source: no second lookup for the other then.
        other = store.count((1 - source, kind, name), time_ns) if fed[1 - source] else 0
        if after < levels[0] and other < levels[0]:  # the common case: nothing to judge yet
            return 0, False, after
        before, after = max(before, other), max(after, other)
        level = _level(after, levels)
        return level, level > _level(before, levels), after

    def _is_login(self, route: str) -> bool:
        known = self._login_routes.get(route)
        if known is None:
            if len(self._login_routes) >= 4096:
                self._login_routes.clear()
            known = self._login_routes[route] = self._login(route) is not None
        return known

    def _is_admin(self, route: str) -> bool:
        known = self._admin_routes.get(route)
        if known is None:
            if len(self._admin_routes) >= 4096:
                self._admin_routes.clear()
            known = self._admin_routes[route] = self._admin(route) is not None
        return known

    def _set_hour(self, time_ns: int) -> None:
        hour = (time_ns + self._offset_ns) // _NS_PER_HOUR
        self._hour_start = hour * _NS_PER_HOUR - self._offset_ns
        self._hour_end = self._hour_start + _NS_PER_HOUR
        self._night = self._privileged and hour % 24 in self._off_hours

    def _is_off_hours(self, time_ns: int) -> bool:
        return (time_ns + self._offset_ns) // _NS_PER_HOUR % 24 in self._off_hours


def _find(attributes: Iterable[KeyValue], keys: tuple[str, ...]) -> str:
    """The string value of the first of ``keys`` among ``attributes`` ("" if none)."""
    values = {kv.key: kv.value.string_value for kv in attributes if kv.key in keys}
    return next((values[key] for key in keys if values.get(key)), "")


def _first(found: Sequence[KeyValue | None], start: int, stop: int) -> str | int | None:
    """The first string or int value among ``found[start:stop]``, as the scorer's columns hold it."""
    for kv in found[start:stop]:
        if kv is not None:
            value = kv.value
            which = value.WhichOneof("value")
            if which == "string_value":
                return value.string_value
            if which == "int_value":
                return value.int_value
    return None


def _text(value: str | int | None) -> str:
    return value if value.__class__ is str else ""  # type: ignore[return-value]


def _merged(columns: Sequence[Sequence[str | int | None]], count: int) -> Sequence[str | int | None]:
    """Per span, the first value present in ``columns`` (the newest convention first)."""
    merged = columns[0]
    for column in columns[1:]:
        if column.count(None) != count:
            merged = [
                value if value is not None else other for value, other in zip(merged, column, strict=True)
            ]
    return merged


def _texts(columns: Sequence[Sequence[str | int | None]], count: int) -> Sequence[str]:
    """Per span, the first value present in ``columns`` if a string, else ""."""
    merged = _merged(columns, count)
    if set(map(type, merged)) == {str}:
        return merged  # type: ignore[return-value]
    return [value if value.__class__ is str else "" for value in merged]  # type: ignore[misc]


def _status(value: str | int) -> int:
    """A status code, recorded as an int or (by some instrumentations) a string; else 0."""
    if value.__class__ is int:
        return value  # type: ignore[return-value]
    # isdecimal, not isdigit: int() refuses "²"; and no status has 20 digits (nor should a
    # hostile one make int() parse thousands).
    return int(value) if value.isdecimal() and len(value) < 20 else 0  # type: ignore[union-attr]


def _level(count: int, levels: tuple[int, int, int]) -> int:
    """0 below the first level, else 1, 2 or 3."""
    return 3 if count >= levels[2] else 2 if count >= levels[1] else 1 if count >= levels[0] else 0


def _rate_level(count: int, threshold: float) -> int:
    return 3 if count > 4 * threshold else 2 if count > 2 * threshold else 1 if count > threshold else 0


def _graded(rule_id: str, level: int, key: str, value: str, detail: str) -> Evidence:
    rule = RULES[rule_id]
    return Evidence(key, value, (Detection(rule.category, rule.id, LEVEL_SCORES[level - 1]),), detail)


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
