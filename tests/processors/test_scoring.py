"""The scorer chain: order, failures, and which scorer gets the request's wire bytes."""

from __future__ import annotations

from tests.processors.otlp_samples import attr, traces
from vigil.processors.scoring import ScorerChain
from vigil.processors.signals import Signal


class Recorder:
    """Records what it was given; stamps spans, as a scorer that annotates."""

    signals = frozenset({Signal.TRACES})

    def __init__(self, name: str, reads_payload: bool) -> None:
        self.name = name
        self.reads_payload = reads_payload
        self.payloads: list[bytes | None] = []

    def score(self, signal, request, payload=None):
        self.payloads.append(payload)
        for span in request.resource_spans[0].scope_spans[0].spans:
            span.attributes.append(attr(f"vigil.test.{self.name}", "seen"))


def test_the_first_scorer_that_reads_bytes_gets_them_the_others_do_not():
    first, second = Recorder("first", True), Recorder("second", True)
    request = traces(spans=2)
    payload = request.SerializeToString()
    ScorerChain([first, second]).apply(Signal.TRACES, request, payload)
    # The second sees a request the first changed: the bytes would not describe it.
    assert first.payloads == [payload] and second.payloads == [None]


def test_a_scorer_that_does_not_read_bytes_is_called_without_them():
    plain = Recorder("plain", False)
    plain.score = lambda signal, request: plain.payloads.append("called without")  # type: ignore[method-assign]
    ScorerChain([plain]).apply(Signal.TRACES, traces(), traces().SerializeToString())
    assert plain.payloads == ["called without"]


def test_without_bytes_every_scorer_runs_on_the_request():
    first, second = Recorder("first", True), Recorder("second", False)
    request = traces(spans=1)
    ScorerChain([first, second]).apply(Signal.TRACES, request)
    assert first.payloads == [None] and second.payloads == [None]
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert (
        attr("vigil.test.first", "seen") in span.attributes
        and attr("vigil.test.second", "seen") in span.attributes
    )
