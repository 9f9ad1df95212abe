"""Allow-lists: the routes, query parameters and clients on which threat rules stay quiet.

An allow-list is a list of entries (``allow:`` in the rule file, :mod:`.rulefile`). Each entry
*selects* items and says what it *allows* on them.

Selecting
    ``routes``: globs matched against the item's ``http.route`` and against its path
    (``url.path``, or the path of ``http.target``); ``*`` matches any characters, ``/`` included
    (``/api/code-search``, ``/internal/*``). ``clients``: addresses or networks in CIDR notation
    (``10.0.0.0/8``, ``2001:db8::/32``, ``192.0.2.7``) that contain the item's client
    (``client.address``, or the older ``http.client_ip``, ``net.sock.peer.addr``,
    ``net.peer.ip``, ``source.address``). An entry with both selects the items that match both;
    an entry with neither selects every item (it must then name ``parameters``).
Allowing
    ``parameters``: query parameters (in ``url.query`` and the query of ``http.target``; names
    compared exactly, after percent-decoding) that are not judged for injection on the items the
    entry selects. With ``rules``, only those rules are silenced in those parameters (``q`` may
    hold SQL on a code-search route, but a script tag in it is still an attack).
    ``rules`` alone: those rules (ids, or globs such as ``sqli.*``) do not fire on the items.
    Neither: *nothing* fires on the selected items, and the behavioural detectors do not count
    them at all (a health checker, a load test, an authorised scanner: its requests count towards
    no rate, no brute force, no enumeration).

Items that no entry selects are judged as usual; entries add up. Allow-lists apply to HTTP
server spans and to log records (clients: ``client.address`` and the others above; routes:
``http.route`` / ``url.path`` when a record has them). A database span carries no route or
client, so a statement is never allow-listed by them: disable its rule instead.

Cost: nothing on items without detections, except with entries that allow everything, which are
checked on every HTTP server span before the behavioural detectors count it: two dict lookups
(matches are remembered per route, path and client, bounded).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from vigil.processors.threat.analysis import Kind, analyse, query_parameters
from vigil.processors.threat.rules import Detection

_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Allowance:
    """One allow-list entry (see the module docstring)."""

    routes: tuple[str, ...] = ()
    """Globs matched against ``http.route`` and the path."""
    clients: tuple[str, ...] = ()
    """Addresses or CIDR networks."""
    parameters: tuple[str, ...] = ()
    """Query parameters not judged (for ``rules``, or for any rule)."""
    rules: frozenset[str] = frozenset()
    """Rule ids silenced (in ``parameters`` if given, else on the whole item)."""
    note: str = ""
    """Why the entry is there, for people."""

    def __post_init__(self) -> None:
        if not (self.routes or self.clients or self.parameters):
            raise ValueError("an allow entry needs routes, clients or parameters")
        for route in self.routes:
            if not route:
                raise ValueError("a route glob cannot be empty")
        for client in self.clients:
            try:
                ipaddress.ip_network(client, strict=False)
            except ValueError:
                raise ValueError(f"{client!r} is no address or CIDR network") from None

    @property
    def everything(self) -> bool:
        """Whether the entry allows everything on what it selects (no rules, no parameters)."""
        return not self.rules and not self.parameters


@dataclass(frozen=True)
class Exemption:
    """What the allow-list grants one item."""

    everything: bool = False
    """No rule fires, and the behavioural detectors do not count the item."""
    rules: frozenset[str] = frozenset()
    """Rules that do not fire on the item."""
    parameters: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    """Query parameter -> the rules silenced in it (None: every rule)."""


class AllowList:
    """Allow-list entries compiled for matching; see the module docstring."""

    def __init__(self, entries: Sequence[Allowance] = ()) -> None:
        self.entries = tuple(entries)
        self._globs = [
            re.compile("|".join(fnmatch.translate(g) for g in e.routes)).match if e.routes else None
            for e in self.entries
        ]
        self._networks = [
            tuple(ipaddress.ip_network(c, strict=False) for c in e.clients) for e in self.entries
        ]
        self._whole = [i for i, e in enumerate(self.entries) if e.everything]
        self.skips_items = bool(self._whole)
        """Whether some entry allows everything on what it selects (checked on every server span)."""
        self._route_matches: dict[str, frozenset[int]] = {}
        self._client_matches: dict[str, frozenset[int]] = {}

    def __bool__(self) -> bool:
        return bool(self.entries)

    def skips(self, route: str, path: str, client: str) -> bool:
        """Whether an entry that allows everything selects this item."""
        routes = clients = None
        for i in self._whole:
            if self._globs[i] is not None:
                if routes is None:
                    routes = self._routes(route) | self._routes(path)
                if i not in routes:
                    continue
            if self._networks[i]:
                if clients is None:
                    clients = self._clients(client)
                if i not in clients:
                    continue
            return True
        return False

    def exemption(self, route: str, path: str, client: str) -> Exemption | None:
        """What the entries that select this item allow on it (None: nothing)."""
        routes = self._routes(route) | self._routes(path)
        clients = self._clients(client)
        rules: set[str] = set()
        parameters: dict[str, frozenset[str] | None] = {}
        selected = False
        for i, entry in enumerate(self.entries):
            if self._globs[i] is not None and i not in routes:
                continue
            if self._networks[i] and i not in clients:
                continue
            selected = True
            if entry.everything:
                return Exemption(everything=True)
            if not entry.parameters:
                rules |= entry.rules
                continue
            for name in entry.parameters:
                before = parameters.get(name, frozenset())
                # None (every rule) absorbs any set of rules.
                parameters[name] = None if before is None or not entry.rules else before | entry.rules
        if not selected:
            return None
        return Exemption(rules=frozenset(rules), parameters=parameters)

    def _routes(self, value: str) -> frozenset[int]:
        if not value:
            return frozenset()
        known = self._route_matches.get(value)
        if known is None:
            if len(self._route_matches) >= _CACHE_SIZE:
                self._route_matches.clear()
            known = frozenset(i for i, match in enumerate(self._globs) if match is not None and match(value))
            self._route_matches[value] = known
        return known

    def _clients(self, value: str) -> frozenset[int]:
        if not value:
            return frozenset()
        known = self._client_matches.get(value)
        if known is None:
            if len(self._client_matches) >= _CACHE_SIZE:
                self._client_matches.clear()
            try:
                address = ipaddress.ip_address(value.strip("[]"))
            except ValueError:
                known = frozenset()  # a host name, a socket path: no network contains it
            else:
                known = frozenset(
                    i for i, networks in enumerate(self._networks) if any(address in n for n in networks)
                )
            self._client_matches[value] = known
        return known


def judge_query(query: str, parameters: Mapping[str, frozenset[str] | None]) -> tuple[Detection, ...]:
    """The detections in a raw query string, with the allowed ``parameters`` not judged (or not
    for their rules): what :func:`~.analysis.analyse_query` finds, parameter by parameter."""
    found: list[Detection] = []
    for name, value in query_parameters(query):
        decoded = unquote_plus(name) if "%" in name or "+" in name else name
        silenced = parameters.get(decoded, frozenset())
        if silenced is None:
            continue
        detections = analyse(name, Kind.PARAM)
        if value:
            detections = analyse(value, Kind.PARAM) + detections
        found += (d for d in detections if d.rule not in silenced)
    return tuple(found)
