"""The sidecar's own metrics, served in Prometheus text format on ``/metrics``.

============================================  =========  ====================================
name                                          labels     meaning
============================================  =========  ====================================
``vigil_sidecar_requests_total``              signal,    export requests answered, by gRPC
                                              code       status code name (``OK``, ...)
``vigil_sidecar_items_total``                 signal     spans, data points or log records
                                                         forwarded
``vigil_sidecar_request_bytes_total``         signal     bytes of requests received
``vigil_sidecar_request_duration_seconds``    signal     time from receipt to answer,
                                                         scoring and forward included
``vigil_sidecar_forward_errors_total``        signal,    forwards to the return endpoint that
                                              code       failed, by the downstream status
``vigil_sidecar_scorer_errors_total``         scorer     scorer calls that raised
``vigil_sidecar_side_output_errors_total``    signal     scorers' side output (e.g. threat
                                                         events) that could not be forwarded
``vigil_sidecar_in_flight_requests``                     requests being handled now
============================================  =========  ====================================

The process collector of ``prometheus_client`` adds the usual ``process_*`` metrics (CPU, memory).
"""

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "vigil_sidecar_requests", "OTLP export requests answered, by gRPC status code", ["signal", "code"]
)
ITEMS = Counter("vigil_sidecar_items", "Spans, data points or log records forwarded", ["signal"])
REQUEST_BYTES = Counter("vigil_sidecar_request_bytes", "Bytes of OTLP requests received", ["signal"])
REQUEST_DURATION = Histogram(
    "vigil_sidecar_request_duration_seconds",
    "Time from receiving an export request to answering it, scoring and forward included",
    ["signal"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
FORWARD_ERRORS = Counter(
    "vigil_sidecar_forward_errors",
    "Forwards to the return endpoint that failed, by downstream status code",
    ["signal", "code"],
)
SCORER_ERRORS = Counter("vigil_sidecar_scorer_errors", "Scorer calls that raised", ["scorer"])
IN_FLIGHT = Gauge("vigil_sidecar_in_flight_requests", "Export requests being handled now")
SIDE_OUTPUT_ERRORS = Counter(
    "vigil_sidecar_side_output_errors", "Scorers' side output that could not be forwarded", ["signal"]
)
