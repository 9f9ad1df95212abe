"""Vigil's demo app: a small shop web service, and a generator of ordinary traffic for it.

The app is what Vigil's local stack observes: it is run under ``opentelemetry-instrument``
and never imports OpenTelemetry itself, so everything Vigil sees comes from zero-code
instrumentation (Flask, sqlite3, requests, logging).

Modules:

- ``settings``: the environment variables the app reads.
- ``app``: the Flask app factory; ``python -m vigil_demo`` serves it.
- ``accounts``, ``catalog``, ``recommendations``, ``inventory``, ``admin``: the endpoints,
  and ``context``, what they share during a request.
- ``database``, ``seed``, ``passwords``: the sqlite database and its initial content.
- ``faults``: fault injection (latency, errors, a slow database, CPU contention) and its
  ``/_faults`` control endpoint, for testing anomaly detection.
- ``traffic``: the traffic generator, ``python -m vigil_demo.traffic``.
- ``loopback``: the check that keeps the app and the generator on this machine.
"""
