"""The selected containers' lifecycle as OpenTelemetry log events: why a job stopped.

A background thread follows the Docker daemon's event stream (only the selected containers' events,
filtered by the daemon) and emits one log record per event through the OpenTelemetry logs API, on
the logger provider the SDK was configured with (OTLP, like the application's own logs):

============================  ==================  ==========================================
``event.name`` (EventName)    Docker action       severity
============================  ==================  ==========================================
``container.start``           ``start``           INFO
``container.die``             ``die``             INFO for exit code 0, WARN for another,
                                                  ERROR after an OOM kill
``container.oom``             ``oom``             ERROR
``container.restart``         ``restart``         WARN
============================  ==================  ==========================================

The semantic conventions define no container lifecycle events; these are named after Docker's
actions, under the ``container.`` namespace of the attributes they carry. ``container.die`` is what
Docker reports whenever the container's main process ends, whether it exited, crashed or was
killed (``docker stop``, ``docker kill``, the OOM killer); a container that a restart policy brings
back reports ``die`` then ``start``, and ``restart`` comes from ``docker restart``.

Every record carries the container's identity (:mod:`.selection`: ``container.id``,
``container.name``, ``container.image.name``, the selector's ``container.label.<key>``) and
``container.image.tags``; its timestamp is the daemon's time of the event, and its body a sentence
for people, e.g. ``container job-17 (sandbox) died with exit code 137 (SIGKILL) after an OOM kill``.
``container.die`` adds:

- ``container.exit.code`` (int): the main process's exit code, named after the conventions'
  ``process.exit.code``; 128 + n means it was killed by signal n (137: ``SIGKILL``);
- ``container.oom_killed`` (bool): whether the kernel's OOM killer killed a process of the container
  since it started (Docker's ``State.OOMKilled``), told by an ``oom`` event. Docker sometimes reports
  the ``oom`` just after the ``die``, so a death by ``SIGKILL`` (exit code 137) with no OOM kill seen
  yet is emitted up to a second late, once the ``oom`` came or did not.

The stream is followed for as long as the application runs. When it breaks (the daemon restarts,
its socket goes away) the thread reconnects with growing pauses (:mod:`.connection`) and asks for
the events since the last one it saw, which the daemon still has unless it restarted itself.
Nothing here raises into the application: an event that cannot be read is skipped.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.semconv.attributes.container_attributes import CONTAINER_IMAGE_TAGS

from vigil.instrumentation.metrics.docker.connection import Connection
from vigil.instrumentation.metrics.docker.selection import LabelSelector, split_image

if TYPE_CHECKING:
    from docker.types import CancellableStream

_logger = logging.getLogger(__name__)

CONTAINER_START = "container.start"
CONTAINER_DIE = "container.die"
CONTAINER_OOM = "container.oom"
CONTAINER_RESTART = "container.restart"
EVENT_NAMES = {
    "start": CONTAINER_START,
    "die": CONTAINER_DIE,
    "oom": CONTAINER_OOM,
    "restart": CONTAINER_RESTART,
}

CONTAINER_EXIT_CODE = "container.exit.code"
CONTAINER_OOM_KILLED = "container.oom_killed"

_OOM_MEMORY = 4096
"""Containers remembered as OOM-killed until they die or start again."""
OOM_GRACE = 1.0
"""Seconds a death by ``SIGKILL`` waits for the ``oom`` event that may explain it."""
_MAX_HELD = 256


@dataclass(frozen=True)
class LifecycleRecord:
    event_name: str
    severity: SeverityNumber
    body: str
    attributes: Mapping[str, str | int | bool | list[str]]
    timestamp: int | None
    """Nanoseconds since the epoch, the daemon's time of the event."""


class LifecycleRecords:
    """Docker events in, log records out; remembers OOM kills until the ``die`` they explain."""

    def __init__(self, selector: LabelSelector) -> None:
        self._selector = selector
        self._oom_killed: OrderedDict[str, None] = OrderedDict()

    def awaits_oom(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` is a death by ``SIGKILL`` (exit code 137) with no OOM kill seen yet.
        Docker's ``oom`` and ``die`` come from two notifications that race: now and then the ``oom``
        arrives just after the ``die`` it explains, so such a record waits for it a moment."""
        if (event.get("Action") or event.get("status")) != "die":
            return False
        actor = event.get("Actor") or {}
        cid = actor.get("ID") or event.get("id")
        code = _exit_code((actor.get("Attributes") or {}).get("exitCode"))
        return code == 128 + signal.SIGKILL and cid not in self._oom_killed

    def record(self, event: Mapping[str, Any]) -> LifecycleRecord | None:
        """The record for one decoded Docker event, or ``None`` for events of no interest."""
        action = event.get("Action") or event.get("status")
        if event.get("Type", "container") != "container" or action not in EVENT_NAMES:
            return None
        actor = event.get("Actor") or {}
        cid = actor.get("ID") or event.get("id")
        if not cid:
            return None
        details = actor.get("Attributes") or {}
        # Docker puts the container's labels among the event's attributes, next to its own keys.
        image = details.get("image") or event.get("from")
        attributes: dict[str, Any] = dict(self._selector.attributes(cid, details.get("name"), image, details))
        if image and (tag := split_image(image)[1]):
            attributes[CONTAINER_IMAGE_TAGS] = [tag]
        who = f"container {attributes.get('container.name', cid[:12])}" + (f" ({image})" if image else "")
        severity = SeverityNumber.INFO

        if action == "start":
            self._oom_killed.pop(cid, None)
            body = f"{who} started"
        elif action == "restart":
            severity, body = SeverityNumber.WARN, f"{who} restarted"
        elif action == "oom":
            self._oom_killed[cid] = None
            while len(self._oom_killed) > _OOM_MEMORY:
                self._oom_killed.popitem(last=False)
            severity, body = SeverityNumber.ERROR, f"{who}: a process was killed for lack of memory (OOM)"
        else:  # die
            oom_killed = cid in self._oom_killed
            self._oom_killed.pop(cid, None)
            attributes[CONTAINER_OOM_KILLED] = oom_killed
            body = f"{who} died"
            if (code := _exit_code(details.get("exitCode"))) is not None:
                attributes[CONTAINER_EXIT_CODE] = code
                body += f" with exit code {code}{_signal_note(code)}"
                if code != 0:
                    severity = SeverityNumber.WARN
            if oom_killed:
                severity, body = SeverityNumber.ERROR, body + " after an OOM kill"
        timestamp = event.get("timeNano")
        if not isinstance(timestamp, int) and isinstance(event.get("time"), int):
            timestamp = event["time"] * 1_000_000_000
        return LifecycleRecord(EVENT_NAMES[action], severity, body, attributes, timestamp)


def _exit_code(raw: object) -> int | None:
    try:
        return int(str(raw))
    except ValueError:
        return None


def _signal_note(code: int) -> str:
    if code > 128:
        try:
            return f" ({signal.Signals(code - 128).name})"
        except ValueError:
            pass
    return ""


class LifecycleEvents:
    """The background thread that follows the event stream and emits the records."""

    def __init__(
        self,
        selector: LabelSelector,
        logger: Logger,
        listener: Callable[[str, str], None] | None = None,
        connection: Connection | None = None,
        oom_grace: float = OOM_GRACE,
    ) -> None:
        self._selector = selector
        self._oom_grace = oom_grace
        # The stream's thread and the timers of held deaths both emit: one at a time.
        self._lock = threading.RLock()
        self._held: OrderedDict[str, tuple[Mapping[str, Any], threading.Timer]] = OrderedDict()
        self._logger = logger
        self._listener = listener
        self._connection = connection or Connection("container events")
        self._records = LifecycleRecords(selector)
        self._filters = {"type": ["container"], "event": list(EVENT_NAMES), **selector.api_filters()}
        self._last_time: int | None = None  # timeNano of the last event seen
        self._seen_at_last_time: set[tuple[str, str]] = set()
        self._stream: CancellableStream | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.following = threading.Event()
        """Set while the event stream is open."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vigil-docker-events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._close_stream()  # unblocks the thread's read
        if self._thread is not None:
            self._thread.join(timeout)
        self._connection.close()
        with self._lock:  # deaths still waiting for an oom event go out as they are
            for cid in list(self._held):
                self._release(cid)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                client = self._connection.client()
                self._stream = client.events(since=self._since(), filters=self._filters, decode=True)
                self._connection.succeeded()
                self.following.set()
                if self._stop.is_set():  # stopped while connecting: stop() found no stream to close
                    break
                for event in self._stream:
                    if self._stop.is_set():
                        break
                    self._handle(event)
                if self._stop.is_set():
                    break
                # The daemon closed the stream: it is stopping, or restarting.
                self._connection.failed("the event stream ended")
            except Exception as error:
                if self._stop.is_set():
                    break
                self._connection.failed(error)
            finally:
                self.following.clear()
                self._close_stream()
            self._connection.wait_to_retry(self._stop)

    def _since(self) -> str | None:
        """Where the stream resumes after a reconnection: at the last event seen (again)."""
        if self._last_time is None:
            return None
        seconds, nanoseconds = divmod(self._last_time, 1_000_000_000)
        return f"{seconds}.{nanoseconds:09d}"

    def _handle(self, event: Mapping[str, Any]) -> None:
        try:
            with self._lock:
                cid = str((event.get("Actor") or {}).get("ID") or event.get("id"))
                if self._replayed(event, cid):
                    return
                if self._records.awaits_oom(event):
                    self._hold(cid, event)
                    return
                record = self._records.record(event)
                if record is not None:
                    self._emit(record, cid)
                    if record.event_name == CONTAINER_OOM:
                        self._release(cid)  # the death it explains, if that came first
        except Exception:
            _logger.debug("Docker collector: skipped an event it could not handle: %r", event, exc_info=True)

    def _replayed(self, event: Mapping[str, Any], cid: str) -> bool:
        """Whether the daemon sent ``event`` already, before a reconnection (see :meth:`_since`)."""
        when, key = event.get("timeNano"), (cid, str(event.get("Action")))
        if not isinstance(when, int):
            return False
        if self._last_time is not None and (
            when < self._last_time or (when == self._last_time and key in self._seen_at_last_time)
        ):
            return True
        if when != self._last_time:
            self._last_time, self._seen_at_last_time = when, set()
        self._seen_at_last_time.add(key)
        return False

    def _hold(self, cid: str, event: Mapping[str, Any]) -> None:
        timer = threading.Timer(self._oom_grace, self._release, args=(cid,))
        timer.daemon = True
        self._held[cid] = (event, timer)
        timer.start()
        while len(self._held) > _MAX_HELD:  # a storm of kills: the oldest go out now
            self._release(next(iter(self._held)))

    def _release(self, cid: str) -> None:
        """Emit the held death of ``cid``, if any; with its OOM kill, if that arrived meanwhile."""
        held = None
        try:
            with self._lock:
                held = self._held.pop(cid, None)
                if held is None:
                    return
                event, timer = held
                timer.cancel()
                if (record := self._records.record(event)) is not None:
                    self._emit(record, cid)
        except Exception:
            _logger.debug("Docker collector: skipped an event it could not handle: %r", held, exc_info=True)

    def _emit(self, record: LifecycleRecord, cid: str) -> None:
        self._logger.emit(
            timestamp=record.timestamp,
            severity_number=record.severity,
            severity_text=record.severity.name,
            body=record.body,
            attributes=record.attributes,  # type: ignore[arg-type]
            event_name=record.event_name,
        )
        if self._listener is not None:
            self._listener(record.event_name, cid)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception:  # already closed by the daemon's side
                _logger.debug("Docker collector: closing the event stream failed", exc_info=True)
