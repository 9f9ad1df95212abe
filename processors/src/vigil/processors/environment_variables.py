"""Environment variables that configure the Vigil scoring sidecar.

Every setting of ``vigil serve`` can be given here or as a command-line flag; a flag wins.
The defaults are the local stack's loopback ports (see the top-level README).
"""

VIGIL_SIDECAR_ENDPOINT = "VIGIL_SIDECAR_ENDPOINT"
"""
.. envvar:: VIGIL_SIDECAR_ENDPOINT

``host:port`` on which the sidecar serves OTLP/gRPC (TraceService, MetricsService, LogsService).
Default: ``127.0.0.1:4327``.
"""

VIGIL_SIDECAR_RETURN_ENDPOINT = "VIGIL_SIDECAR_RETURN_ENDPOINT"
"""
.. envvar:: VIGIL_SIDECAR_RETURN_ENDPOINT

``host:port`` of the collector's return receiver, where every request goes after scoring.
Default: ``127.0.0.1:4328``.
"""

VIGIL_SIDECAR_HEALTH_ENDPOINT = "VIGIL_SIDECAR_HEALTH_ENDPOINT"
"""
.. envvar:: VIGIL_SIDECAR_HEALTH_ENDPOINT

``host:port`` of the sidecar's HTTP endpoint: ``/health/live``, ``/health/ready`` and ``/metrics``
(Prometheus text format). Default: ``127.0.0.1:13134``.
"""

VIGIL_SIDECAR_MAX_MESSAGE_BYTES = "VIGIL_SIDECAR_MAX_MESSAGE_BYTES"
"""
.. envvar:: VIGIL_SIDECAR_MAX_MESSAGE_BYTES

Largest OTLP request accepted, and forwarded, in bytes. Larger requests are refused with
RESOURCE_EXHAUSTED. Keep it at or above the collector's batch size in bytes and at or below the
return receiver's ``max_recv_msg_size_mib``. Default: ``67108864`` (64 MiB).
"""

VIGIL_SIDECAR_FORWARD_TIMEOUT = "VIGIL_SIDECAR_FORWARD_TIMEOUT"
"""
.. envvar:: VIGIL_SIDECAR_FORWARD_TIMEOUT

Seconds to wait for the return receiver to accept a forwarded request before answering
UNAVAILABLE (so that the collector sends the batch around the sidecar instead). Keep it below the
collector's ``otlp/sidecar`` exporter timeout (5 s in collector-config/vigil.yaml): a forward that
outlives that timeout could be delivered twice. Default: ``4``.
"""

VIGIL_SIDECAR_WORKERS = "VIGIL_SIDECAR_WORKERS"
"""
.. envvar:: VIGIL_SIDECAR_WORKERS

Threads serving requests. Scoring holds the GIL, so more threads help only while requests wait on
the forward; scale CPU-bound scoring with more processes. Default: ``8``.
"""

VIGIL_SIDECAR_MAX_CONCURRENT_RPCS = "VIGIL_SIDECAR_MAX_CONCURRENT_RPCS"
"""
.. envvar:: VIGIL_SIDECAR_MAX_CONCURRENT_RPCS

Requests admitted at once (running or queued for a worker); beyond it gRPC answers
RESOURCE_EXHAUSTED, which the collector's exporter retries later. Default: ``64``.
"""

VIGIL_SIDECAR_SHUTDOWN_GRACE = "VIGIL_SIDECAR_SHUTDOWN_GRACE"
"""
.. envvar:: VIGIL_SIDECAR_SHUTDOWN_GRACE

Seconds that a stopping sidecar (SIGTERM or SIGINT) gives requests in flight to finish; new
requests are refused meanwhile. Default: ``15``.
"""

VIGIL_SIDECAR_SCORERS = "VIGIL_SIDECAR_SCORERS"
"""
.. envvar:: VIGIL_SIDECAR_SCORERS

Comma-separated names of the scorers to run, in order, from the ``vigil.scorers`` entry-point
group. Empty (the default) runs none: requests are forwarded byte for byte.
"""

VIGIL_SIDECAR_TLS_CERT_FILE = "VIGIL_SIDECAR_TLS_CERT_FILE"
"""
.. envvar:: VIGIL_SIDECAR_TLS_CERT_FILE

PEM certificate (chain) of the sidecar. With ``VIGIL_SIDECAR_TLS_KEY_FILE``, the sidecar serves
OTLP over TLS, and presents this certificate as a client to a return endpoint that asks for one.
``scripts/make-certs.sh`` makes local ones. Default: unset (plaintext, loopback only).
"""

VIGIL_SIDECAR_TLS_KEY_FILE = "VIGIL_SIDECAR_TLS_KEY_FILE"
"""
.. envvar:: VIGIL_SIDECAR_TLS_KEY_FILE

PEM private key of ``VIGIL_SIDECAR_TLS_CERT_FILE``.
"""

VIGIL_SIDECAR_TLS_CLIENT_CA_FILE = "VIGIL_SIDECAR_TLS_CLIENT_CA_FILE"
"""
.. envvar:: VIGIL_SIDECAR_TLS_CLIENT_CA_FILE

PEM CA certificates that sign the collector's client certificate. When set, the sidecar requires
and verifies a client certificate on every connection (mutual TLS).
"""

VIGIL_SIDECAR_RETURN_TLS_CA_FILE = "VIGIL_SIDECAR_RETURN_TLS_CA_FILE"
"""
.. envvar:: VIGIL_SIDECAR_RETURN_TLS_CA_FILE

PEM CA certificates that sign the return receiver's certificate. When set, forwards go over TLS
and the receiver's certificate is verified against them.
"""
