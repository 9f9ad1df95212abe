"""The scorer interface: an ordered chain of scorers that annotate OTLP requests in place.

A scorer is any object with a ``name``, the ``signals`` it scores, and a ``score(signal, request)``
method that reads the decoded export request and adds attributes to its spans, data points or log
records. ``score`` may also return *side output*: further export requests, e.g. an
``ExportLogsServiceRequest`` of events about what it found, as ``(signal, request)`` pairs. The
sidecar forwards them after the scored request (a side output that cannot be forwarded is logged
and counted; the scored request, already delivered, stands).

Scorers are registered as entry points in the ``vigil.scorers`` group (the entry point loads a
class or a factory taking no arguments) and switched on, in order, by name::

    VIGIL_SIDECAR_SCORERS=threat,anomaly vigil serve

    # pyproject.toml of a package that ships a scorer
    [project.entry-points."vigil.scorers"]
    threat = "vigil.processors.threat.settings:threat_scorer"

A scorer that reads the request's wire bytes (``reads_payload = True``, and a ``payload``
keyword argument to ``score``) gets them when it is the first of the chain for the signal, as
nothing has changed the request yet; otherwise it must encode the request itself.

A scorer that learns may also have a ``close()`` method: the sidecar calls it once it has stopped
taking requests, e.g. to save its state. A scorer with ``runs_last = True`` (the ``redaction``
scorer, which masks the values the others judge) runs after all the others, wherever it is named.

A request for a signal that no scorer handles is never decoded beyond validation and is forwarded
byte for byte. A scorer that raises does not lose the request: the error is logged and counted,
the remaining scorers still run and the request is forwarded (fail open).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from google.protobuf.message import Message

from vigil.processors import self_metrics
from vigil.processors.signals import Signal

ENTRY_POINT_GROUP = "vigil.scorers"

SideOutput = tuple[Signal, Message]
"""A further export request from a scorer, to be forwarded after the scored one."""

_logger = logging.getLogger(__name__)


@runtime_checkable
class Scorer(Protocol):
    """What the sidecar needs of a scorer."""

    name: str
    signals: frozenset[Signal]

    def score(self, signal: Signal, request: Message) -> Iterable[SideOutput] | None:
        """Annotate ``request`` (an OTLP export request of ``signal``) in place; optionally return
        further requests to forward."""


class ScorerChain:
    """Scorers applied in order; the chain for a signal is resolved once, not per request."""

    def __init__(self, scorers: Sequence[Scorer] = ()) -> None:
        for scorer in scorers:
            if not isinstance(scorer, Scorer):
                raise TypeError(f"{scorer!r} is not a scorer: it needs name, signals and score()")
        # Stable: the others keep the order they were named in.
        self.scorers = tuple(sorted(scorers, key=lambda s: bool(getattr(s, "runs_last", False))))
        self._by_signal = {signal: tuple(s for s in self.scorers if signal in s.signals) for signal in Signal}

    def handles(self, signal: Signal) -> bool:
        """Whether any scorer reads ``signal`` (if not, requests pass through untouched)."""
        return bool(self._by_signal[signal])

    def apply(self, signal: Signal, request: Message, payload: bytes | None = None) -> list[SideOutput]:
        """Run every scorer of ``signal`` on ``request``; return their side output. A failing
        scorer is logged and skipped. ``payload``: the bytes ``request`` was decoded from, given
        to the first scorer if it reads them (``reads_payload``); later ones see a request the
        first may have changed."""
        side: list[SideOutput] = []
        for position, scorer in enumerate(self._by_signal[signal]):
            try:
                if position == 0 and payload is not None and getattr(scorer, "reads_payload", False):
                    side.extend(scorer.score(signal, request, payload=payload) or ())  # type: ignore[call-arg]
                    continue
                side.extend(scorer.score(signal, request) or ())
            except Exception:
                self_metrics.SCORER_ERRORS.labels(scorer=scorer.name).inc()
                _logger.exception(
                    "scorer %s failed on a %s request; forwarding it", scorer.name, signal.label
                )
        return side

    def close(self) -> None:
        """Let scorers that keep state save it (those with a ``close()`` method), once no more
        requests come; a failure is logged, the others still close."""
        for scorer in self.scorers:
            close = getattr(scorer, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception:
                _logger.exception("closing scorer %s failed", scorer.name)

    @classmethod
    def from_names(cls, names: Iterable[str]) -> ScorerChain:
        """Build the chain from entry-point names, in the order given."""
        available = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        scorers = []
        for name in names:
            if name not in available:
                known = ", ".join(sorted(available)) or "none installed"
                raise ValueError(f"unknown scorer {name!r} (available: {known})")
            scorers.append(available[name].load()())
        return cls(scorers)
