"""Security events: what the application knows about authentication and authorisation, as
OpenTelemetry log events that Vigil's sidecar scores.

The threat scorer already watches HTTP spans for failed logins and rejections, but only the
application knows that a login failed when it answers 200 with an error page, who was denied what,
and which operations are privileged. Telling it takes one call::

    from vigil.instrumentation import security_events

    if not check_password(user, password):
        security_events.auth_failure(user=user.name, reason="bad_password")
    security_events.auth_success(user=user.name)
    security_events.access_denied(user=user.name, resource="/reports/42", action="read")
    security_events.privileged_operation("user.delete", user=admin.name, target=victim.name)

Events
------
Each call emits one log record through the OpenTelemetry logs API, on the global logger provider
(under ``opentelemetry-instrument``: OTLP to the collector, like the application's logs), under the
scope ``vigil.instrumentation.security_events``, with the record's ``EventName`` set:

==========================  ========  =====================================================
``event.name``              severity  attributes besides the common ones
==========================  ========  =====================================================
``auth.failure``            WARN      ``auth.method``, ``error.type`` (the reason)
``auth.success``            INFO      ``auth.method``
``access.denied``           WARN      ``access.resource``, ``access.action``, ``error.type``
``privileged.operation``    INFO      ``privileged.operation.name``,
                                      ``privileged.operation.target``
==========================  ========  =====================================================

Common to all, each when known: ``user.name`` (``user=``), ``enduser.id`` (``user_id=``, for an
application that knows its users by id) and ``client.address`` (``client_address=``). Those are the
semantic conventions' keys and the ones the sidecar reads; the others are Vigil's, since the
conventions have no authentication or authorisation events yet. Left out, ``client.address`` is
taken from the active span (``client.address``, else the older ``http.client_ip``,
``net.sock.peer.addr``, ``net.peer.ip``), so inside an instrumented request handler the client comes
for free. Every call also takes ``attributes`` for the application's own. The record's body is a
sentence for people (``authentication failed for alice from 203.0.113.9: bad_password``); its trace
and span ids are the active span's, so each event links to the request it happened in.

What the sidecar makes of them
------------------------------
The threat scorer (``vigil.processors.threat``, on in ``vigil up``) counts ``auth.failure`` per client
and per account: 3, 5 and 10 failures in 5 minutes are a medium, high and critical brute force,
many accounts failing from one client is credential stuffing, an ``auth.success`` after 5 failures
is the guess that worked; ``access.denied`` counts towards an enumeration burst per client; a
``privileged.operation`` between 22:00 and 06:00 is an off-hours suspicion. The records that reach a
level are annotated with ``vigil.threat.*`` and reported as ``vigil.threat`` events and
``vigil_threats_total``. User-supplied strings in the events (a user name such as
``admin' OR '1'='1``) are scanned for injection payloads like any log attribute.

These are log records, not metrics: user names and addresses are what they are about. With no SDK
configured, the calls cost a function call and emit nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry._logs import Logger, LoggerProvider, SeverityNumber, get_logger
from opentelemetry.semconv.attributes.client_attributes import CLIENT_ADDRESS
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.schemas import Schemas

from vigil.instrumentation import __version__
from vigil.instrumentation.cardinality import AttributeValue

SCOPE = "vigil.instrumentation.security_events"

AUTH_FAILURE = "auth.failure"
AUTH_SUCCESS = "auth.success"
ACCESS_DENIED = "access.denied"
PRIVILEGED_OPERATION = "privileged.operation"

USER_NAME = "user.name"
ENDUSER_ID = "enduser.id"
AUTH_METHOD = "auth.method"
ACCESS_RESOURCE = "access.resource"
ACCESS_ACTION = "access.action"
PRIVILEGED_OPERATION_NAME = "privileged.operation.name"
PRIVILEGED_OPERATION_TARGET = "privileged.operation.target"

SPAN_CLIENT_KEYS = (CLIENT_ADDRESS, "http.client_ip", "net.sock.peer.addr", "net.peer.ip")
"""Where the active span keeps the client's address, newest conventions first."""


class SecurityEvents:
    """Emits the security events; see the module docstring. ``logger_provider``: default, the
    global one (looked up at the first event, so an instance made before the SDK is set up works)."""

    def __init__(self, logger_provider: LoggerProvider | None = None) -> None:
        self._provider = logger_provider
        self._logger: Logger | None = None

    def auth_failure(
        self,
        *,
        user: str | None = None,
        user_id: str | None = None,
        client_address: str | None = None,
        reason: str | None = None,
        method: str | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        """A login or credential check failed. ``reason``: a short category (``bad_password``,
        ``unknown_user``, ``mfa_failed``); ``method``: how the user tried (``password``, ``api_key``)."""
        client = client_address or _active_client()
        body = f"authentication failed for {_who(user, user_id)}{_from(client)}" + (
            f": {reason}" if reason else ""
        )
        self._emit(
            AUTH_FAILURE,
            SeverityNumber.WARN,
            body,
            _attributes(user, user_id, client, attributes, {AUTH_METHOD: method, ERROR_TYPE: reason}),
        )

    def auth_success(
        self,
        *,
        user: str | None = None,
        user_id: str | None = None,
        client_address: str | None = None,
        method: str | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        """A login succeeded (the sidecar looks for one after a run of failures)."""
        client = client_address or _active_client()
        self._emit(
            AUTH_SUCCESS,
            SeverityNumber.INFO,
            f"authentication succeeded for {_who(user, user_id)}{_from(client)}",
            _attributes(user, user_id, client, attributes, {AUTH_METHOD: method}),
        )

    def access_denied(
        self,
        *,
        user: str | None = None,
        user_id: str | None = None,
        client_address: str | None = None,
        resource: str | None = None,
        action: str | None = None,
        reason: str | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        """An authenticated (or anonymous) caller was refused: ``action`` on ``resource``, e.g.
        ``"delete"`` on ``"/projects/7"``, for ``reason`` (e.g. ``missing_role``)."""
        client = client_address or _active_client()
        what = " ".join(part for part in (action, resource) if part) or "access"
        body = f"{what} denied to {_who(user, user_id)}{_from(client)}" + (f": {reason}" if reason else "")
        self._emit(
            ACCESS_DENIED,
            SeverityNumber.WARN,
            body,
            _attributes(
                user,
                user_id,
                client,
                attributes,
                {ACCESS_RESOURCE: resource, ACCESS_ACTION: action, ERROR_TYPE: reason},
            ),
        )

    def privileged_operation(
        self,
        operation: str,
        *,
        user: str | None = None,
        user_id: str | None = None,
        client_address: str | None = None,
        target: str | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        """Someone did something that needs privileges: ``operation`` (e.g. ``user.delete``,
        ``role.grant``, ``config.change``) on ``target``."""
        client = client_address or _active_client()
        body = (
            f"{operation}" + (f" on {target}" if target else "") + f" by {_who(user, user_id)}{_from(client)}"
        )
        self._emit(
            PRIVILEGED_OPERATION,
            SeverityNumber.INFO,
            body,
            _attributes(
                user,
                user_id,
                client,
                attributes,
                {PRIVILEGED_OPERATION_NAME: operation, PRIVILEGED_OPERATION_TARGET: target},
            ),
        )

    def _emit(
        self, name: str, severity: SeverityNumber, body: str, attributes: dict[str, AttributeValue]
    ) -> None:
        logger = self._logger
        if logger is None:
            logger = self._logger = get_logger(
                SCOPE, __version__, self._provider, schema_url=Schemas.V1_44_0.value
            )
        logger.emit(
            timestamp=time.time_ns(),
            severity_number=severity,
            severity_text=severity.name,
            body=body,
            attributes=attributes,  # type: ignore[arg-type]
            event_name=name,
        )


def _attributes(
    user: str | None,
    user_id: str | None,
    client: str | None,
    extra: Mapping[str, AttributeValue] | None,
    own: Mapping[str, str | None],
) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = dict(extra or {})
    for key, value in ((USER_NAME, user), (ENDUSER_ID, user_id), (CLIENT_ADDRESS, client), *own.items()):
        if value:
            attributes[key] = value
    return attributes


def _active_client() -> str | None:
    """The client address the active span recorded, if any (SDK spans expose their attributes)."""
    attributes = getattr(trace.get_current_span(), "attributes", None)
    if not attributes:
        return None
    return next((str(attributes[key]) for key in SPAN_CLIENT_KEYS if attributes.get(key)), None)


def _who(user: str | None, user_id: str | None) -> str:
    return user or user_id or "an unknown user"


def _from(client: str | None) -> str:
    return f" from {client}" if client else ""


_default = SecurityEvents()

auth_failure = _default.auth_failure
auth_success = _default.auth_success
access_denied = _default.access_denied
privileged_operation = _default.privileged_operation
