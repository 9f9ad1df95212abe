"""Request headers, as the instrumentation captures them, judged for injection.

OpenTelemetry instrumentations record the request headers they are told to capture
(``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST``; Vigil's distro captures
``Referer``, ``X-Forwarded-For``, ``X-Forwarded-Host``, ``Origin`` and ``Content-Type`` by
default) as ``http.request.header.<name>``: a string array, ``<name>`` in lower case with ``-``
(the semantic conventions) or ``_`` (Python's instrumentations), so both spellings are read.
Headers are as user-controlled as the query string: SQL injection in ``Referer`` or
``X-Forwarded-For`` (applications log them into databases), Log4Shell and Shellshock in any
header, OGNL in ``Content-Type``, access-control bypasses in ``X-Original-URL``.

Which headers, and how each is judged (:data:`HEADER_KEYS`):

=========================================  ======================================================
``User-Agent``                             as ``user_agent.original``: attack tools, JNDI lookups
``Referer``, ``Origin``                    a URL: its path as a request path, its query
                                           parameter by parameter; not a URL: as text
``X-Forwarded-For``, ``X-Real-IP``,        a list of addresses is fine; anything else as text
``True-Client-IP``, ``X-Client-IP``,
``CF-Connecting-IP``, ``Forwarded``
``Host``, ``X-Forwarded-Host``             a host name (and port) is fine; anything else as text
``Cookie``                                 each cookie's value (and name) as text; the names are
                                           not otherwise judged
``X-Original-URL``, ``X-Rewrite-URL``      a request target (path and query)
``Content-Type``, ``Accept``,              as text, every injection detector
``Accept-Language``, ``X-Requested-With``
=========================================  ======================================================

Other headers are not read: each judged header costs a dict lookup per span attribute in the
scorer's single pass, and a header list that grows with configuration would cost a prefix test.
The values of ``Authorization`` and other credentials are never judged (and the redaction
scorer masks them).
"""

from __future__ import annotations

import re

from vigil.processors.threat.analysis import BoundedCache, Kind, analyse, analyse_target
from vigil.processors.threat.rules import Detection

_AGENT, _URL, _ADDRESSES, _HOST, _COOKIE, _TARGET, _TEXT = (
    "agent",
    "url",
    "addresses",
    "host",
    "cookie",
    "target",
    "text",
)
_HOW = {
    "user-agent": _AGENT,
    "referer": _URL,
    "origin": _URL,
    "x-forwarded-for": _ADDRESSES,
    "x-real-ip": _ADDRESSES,
    "true-client-ip": _ADDRESSES,
    "x-client-ip": _ADDRESSES,
    "cf-connecting-ip": _ADDRESSES,
    "forwarded": _ADDRESSES,
    "host": _HOST,
    "x-forwarded-host": _HOST,
    "cookie": _COOKIE,
    "x-original-url": _TARGET,
    "x-rewrite-url": _TARGET,
    "content-type": _TEXT,
    "accept": _TEXT,
    "accept-language": _TEXT,
    "x-requested-with": _TEXT,
}
HEADER_KEYS: dict[str, str] = {
    f"http.request.header.{spelling}": name for name in _HOW for spelling in {name, name.replace("-", "_")}
}
"""Attribute key (both spellings) -> header name, for every header judged."""

_SCHEME_HOST = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]*")
# Addresses (IPv4, IPv6, with ports), "unknown", and RFC 7239 Forwarded pairs, separated by "," or
# ";". The separator is required between items, so that no run of characters can be split between
# items in many ways (which would backtrack exponentially).
_ADDRESS = r'(?:(?:for|by)=)?"?\[?[0-9A-Fa-f.:]+\]?(?::\d+)?"?|unknown|proto=https?|host="?[\w.:\[\]-]+"?'
_ADDRESS_LIST = re.compile(rf"\s*(?:{_ADDRESS})(?:\s*[,;]\s*(?:{_ADDRESS}))*\s*")
_HOST_NAME = re.compile(r"[\w.-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


def _url(value: str) -> tuple[Detection, ...]:
    """A Referer or Origin: judged as the request target it names, or as text if no URL."""
    scheme_host = _SCHEME_HOST.match(value)
    if scheme_host is None:
        return analyse(value, Kind.TEXT)
    target = value[scheme_host.end() :].partition("#")[0]
    return analyse_target(target) if target else ()


def _cookies(value: str) -> tuple[Detection, ...]:
    found: tuple[Detection, ...] = ()
    for part in value.split(";"):
        name, _, cookie = part.strip().partition("=")
        if cookie:
            found += analyse(cookie, Kind.TEXT)
        if name:
            found += analyse(name, Kind.TEXT)
    return found


def analyse_header(name: str, value: str) -> tuple[Detection, ...]:
    """Every detection in the value of request header ``name`` (lower case, ``-`` between words)."""
    how = _HOW.get(name, _TEXT)
    if how is _AGENT:
        return analyse(value, Kind.USER_AGENT)
    if how is _URL:
        return _url(value)
    if how is _ADDRESSES:
        return () if _ADDRESS_LIST.fullmatch(value) else analyse(value, Kind.TEXT)
    if how is _HOST:
        return () if _HOST_NAME.fullmatch(value) else analyse(value, Kind.TEXT)
    if how is _COOKIE:
        return _cookies(value)
    if how is _TARGET:
        return analyse_target(value)
    return analyse(value, Kind.TEXT)


class HeaderJudge:
    """Judges header values, remembering verdicts per header value (bounded: user agents,
    referers and cookies of a session repeat)."""

    def __init__(self, size: int = 4096) -> None:
        self._caches = {name: BoundedCache(size) for name in _HOW}

    def detections(self, key: str, text: str) -> tuple[Detection, ...]:
        """Every detection in one value of the header attribute ``key`` (one of :data:`HEADER_KEYS`)."""
        name = HEADER_KEYS[key]
        return self._caches[name].judged(text, lambda value: analyse_header(name, value))
