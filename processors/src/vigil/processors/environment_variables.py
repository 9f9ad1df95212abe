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
group. Empty (the default) runs none: requests are forwarded byte for byte. ``redaction`` runs
last wherever it is named; ``vigil up`` runs ``threat,anomaly,redaction``.
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

# --- The anomaly scorer (VIGIL_SIDECAR_SCORERS=...,anomaly) -------------------------------------

VIGIL_ANOMALY_STATE_DIR = "VIGIL_ANOMALY_STATE_DIR"
"""
.. envvar:: VIGIL_ANOMALY_STATE_DIR

Directory where the anomaly scorer saves its baselines and models, and restores them from at
start, so that a restart does not warm up again. Must be owned by the sidecar's user and not
writable by others (the files are pickles). ``vigil up`` uses ``<run dir>/anomaly-state``.
Default: unset (nothing saved).
"""

VIGIL_ANOMALY_SAVE_INTERVAL = "VIGIL_ANOMALY_SAVE_INTERVAL"
"""
.. envvar:: VIGIL_ANOMALY_SAVE_INTERVAL

Seconds between saves of the state (also saved at shutdown). Default: ``60``.
"""

VIGIL_ANOMALY_WARMUP_SPANS = "VIGIL_ANOMALY_WARMUP_SPANS"
"""
.. envvar:: VIGIL_ANOMALY_WARMUP_SPANS

Spans an operation needs before its spans are scored; until then they are marked
``vigil.anomaly.warmup``. Default: ``30``.
"""

VIGIL_ANOMALY_WARMUP_TRACES = "VIGIL_ANOMALY_WARMUP_TRACES"
"""
.. envvar:: VIGIL_ANOMALY_WARMUP_TRACES

Traces an entry operation needs before its traces' shape is scored. Default: ``20``.
"""

VIGIL_ANOMALY_WARMUP_LOGS = "VIGIL_ANOMALY_WARMUP_LOGS"
"""
.. envvar:: VIGIL_ANOMALY_WARMUP_LOGS

Log records seen before log records are scored (templates learnt meanwhile are not "new").
Default: ``500``.
"""

VIGIL_ANOMALY_MAX_TEMPLATES = "VIGIL_ANOMALY_MAX_TEMPLATES"
"""
.. envvar:: VIGIL_ANOMALY_MAX_TEMPLATES

Log templates kept at once; the least recently seen are forgotten beyond it. Default: ``2000``.
"""

VIGIL_ANOMALY_MAX_OPERATIONS = "VIGIL_ANOMALY_MAX_OPERATIONS"
"""
.. envvar:: VIGIL_ANOMALY_MAX_OPERATIONS

Operations (service, span name, kind) with a baseline at once; the least recently seen are
forgotten beyond it. Default: ``10000``.
"""

VIGIL_ANOMALY_TRACE_WINDOW = "VIGIL_ANOMALY_TRACE_WINDOW"
"""
.. envvar:: VIGIL_ANOMALY_TRACE_WINDOW

Seconds (of span time) that spans wait for their trace's entry span to be judged with it.
Default: ``30``.
"""

VIGIL_ANOMALY_MULTIVARIATE = "VIGIL_ANOMALY_MULTIVARIATE"
"""
.. envvar:: VIGIL_ANOMALY_MULTIVARIATE

``true`` to score spans with the IsolationForest over span features as well as the per-operation
baselines, ``false`` to skip it. Default: ``true``.
"""

VIGIL_ANOMALY_EVENT_INTERVAL = "VIGIL_ANOMALY_EVENT_INTERVAL"
"""
.. envvar:: VIGIL_ANOMALY_EVENT_INTERVAL

Seconds (of event time) between two ``vigil.anomaly`` events about the same operation, series or
template; the anomalies in between are counted, not reported one by one. Default: ``10``.
"""

VIGIL_ANOMALY_MAX_SERIES = "VIGIL_ANOMALY_MAX_SERIES"
"""
.. envvar:: VIGIL_ANOMALY_MAX_SERIES

Metric series with a baseline at once (~2.5 KB each); the least recently seen are forgotten beyond
it. Default: ``10000``.
"""

VIGIL_ANOMALY_WARMUP_POINTS = "VIGIL_ANOMALY_WARMUP_POINTS"
"""
.. envvar:: VIGIL_ANOMALY_WARMUP_POINTS

Data points a metric series needs before it is scored. Default: ``30``.
"""

VIGIL_ANOMALY_DRIFT_WINDOW = "VIGIL_ANOMALY_DRIFT_WINDOW"
"""
.. envvar:: VIGIL_ANOMALY_DRIFT_WINDOW

Seconds (of event time) per drift window: each window's distribution is compared with the
previous window's. Default: ``3600``.
"""

VIGIL_ANOMALY_DRIFT_METRICS = "VIGIL_ANOMALY_DRIFT_METRICS"
"""
.. envvar:: VIGIL_ANOMALY_DRIFT_METRICS

Comma-separated metric names whose distribution is watched for drift (PSI and KL divergence
between a reference window and the current one), e.g. a model's input feature or prediction
score. Default: empty (none).
"""

# --- The threat scorer (VIGIL_SIDECAR_SCORERS=threat,...) ---------------------------------------

VIGIL_THREAT_DISABLED_RULES = "VIGIL_THREAT_DISABLED_RULES"
"""
.. envvar:: VIGIL_THREAT_DISABLED_RULES

Comma-separated ids of threat rules that never fire (``vigil.processors.threat.rules`` lists them,
e.g. ``privileged.off-hours,rate-abuse.client-endpoint``), or globs over them (``ssrf.*``). Adds
to the rules the rule file turns off. Default: empty.
"""

VIGIL_THREAT_BEHAVIOUR = "VIGIL_THREAT_BEHAVIOUR"
"""
.. envvar:: VIGIL_THREAT_BEHAVIOUR

``false`` turns the behavioural detectors off (brute force, credential stuffing, rate abuse,
enumeration, privileged operations at unusual hours). Default: ``true``.
"""

VIGIL_THREAT_LOGIN_ROUTE = "VIGIL_THREAT_LOGIN_ROUTE"
"""
.. envvar:: VIGIL_THREAT_LOGIN_ROUTE

Regular expression searched in a span's route (or path) to recognise a login request, whose 401 or
403 answer is a failed login. Default: paths ending in ``/login``, ``/signin``, ``/auth``,
``/token``, ``/session`` and the like.
"""

VIGIL_THREAT_BRUTEFORCE_LEVELS = "VIGIL_THREAT_BRUTEFORCE_LEVELS"
"""
.. envvar:: VIGIL_THREAT_BRUTEFORCE_LEVELS

Failed logins per client or account within 5 minutes for medium, high and critical brute force,
e.g. ``3,5,10`` (the default). With several sidecars, each sees only its share of a client's
attempts (docs/scale-out.md): lower the levels accordingly.
"""

VIGIL_THREAT_OFF_HOURS = "VIGIL_THREAT_OFF_HOURS"
"""
.. envvar:: VIGIL_THREAT_OFF_HOURS

``START-END`` hours (UTC, wrapping midnight) when privileged operations are unusual. Default:
``22-6``.
"""

VIGIL_THREAT_MAX_KEYS = "VIGIL_THREAT_MAX_KEYS"
"""
.. envvar:: VIGIL_THREAT_MAX_KEYS

Keys (clients, accounts, client-route pairs) per behavioural store; four stores, ~140 bytes a key,
the coldest half evicted when full. Default: ``100000``.
"""

VIGIL_THREAT_RULES_FILE = "VIGIL_THREAT_RULES_FILE"
"""
.. envvar:: VIGIL_THREAT_RULES_FILE

Path of the threat rule file (YAML): rules on and off, behavioural thresholds, allow-lists by
route, query parameter and client (``vigil.processors.threat.rulefile`` documents the format;
``processors/src/vigil/processors/threat/rules.yaml`` is a complete example at the defaults). The
sidecar reloads it within a second of a change, without a restart; a file that does not load is
refused with an error naming the line and key, and the rules in force stay. At start, a missing
or invalid file stops the sidecar. The other ``VIGIL_THREAT_*`` variables win over the file.
Default: unset (built-in defaults and the variables).
"""

# --- The redaction scorer (VIGIL_SIDECAR_SCORERS=...,redaction) ----------------------------------
# It masks secrets in every span and log record leaving the sidecar, after the other scorers have
# judged the raw values (vigil.processors.redaction.scorer says what it reads and masks).

VIGIL_REDACTION_CARDS = "VIGIL_REDACTION_CARDS"
"""
.. envvar:: VIGIL_REDACTION_CARDS

``false`` keeps payment card numbers (Luhn-valid, 13-19 digits) as they are; by default all but
their last four digits are masked. Default: ``true``.
"""

VIGIL_REDACTION_EMAILS = "VIGIL_REDACTION_EMAILS"
"""
.. envvar:: VIGIL_REDACTION_EMAILS

``true`` masks the local part of e-mail addresses (``REDACTED@example.com``) in the values the
redaction scorer reads, and in ``user.email``, ``user.name``, ``user.id`` and ``enduser.id``.
Off by default: an e-mail address is often the account an operator looks for (and the threat
scorer's brute-force events name it). Default: ``false``.
"""

VIGIL_REDACTION_SECRET_NAMES = "VIGIL_REDACTION_SECRET_NAMES"
"""
.. envvar:: VIGIL_REDACTION_SECRET_NAMES

Comma-separated names of query parameters, pairs, headers and attributes whose values are
secrets, besides the built-in ones (password, token, api key, signature, session id and the like),
e.g. ``pin,otp_code,x-shop-auth``. Compared without case and punctuation: ``X-Shop-Auth`` and
``x_shop_auth`` are the same name. Default: empty.
"""

VIGIL_REDACTION_ATTRIBUTES = "VIGIL_REDACTION_ATTRIBUTES"
"""
.. envvar:: VIGIL_REDACTION_ATTRIBUTES

Comma-separated attribute keys whose whole value is masked on spans, span events and log records,
e.g. ``app.customer.iban,enduser.id``. Default: empty.
"""
