"""Threat scoring: injection payloads, attack tools and attack behaviour, found in the telemetry apps
already send.

:class:`~vigil.processors.threat.scorer.ThreatScorer` is the sidecar scorer (entry point
``threat``); the modules below it are usable on their own:

``decoding``    undoing URL, HTML-entity, backslash and UTF-7 encodings, repeated and bounded
``sql``         SQL injection by tokenising values as SQL (and ``db.statement`` checks)
``html``        cross-site scripting by tokenising values as HTML
``traversal``   path traversal and sensitive-file probes
``shell``       OS command injection
``jndi``        JNDI / Log4j lookups; ``ssti``: template injection; ``ssrf``: internal targets
``scanner``     attack tools by user agent
``analysis``    which detector sees which value, and the cheap checks that skip benign ones
``rules``       every rule: id, category, strength, description
``rulefile``    the YAML rule file (rules on and off, thresholds, allow-lists), reloaded live;
                ``allowlist``: routes, parameters and clients on which rules stay quiet
``headers``     captured request headers (Referer, X-Forwarded-For, Cookie, ...) judged
``verdict``     combining detections into the calibrated score
``behaviour``   brute force, credential stuffing, rate abuse, enumeration, off-hours operations
``windows``     sliding-window counts per key in bounded memory; ``rates``: rate baselines
"""

from vigil.processors.threat.behaviour import BehaviourConfig
from vigil.processors.threat.scorer import ThreatConfig, ThreatScorer

__all__ = ["BehaviourConfig", "ThreatConfig", "ThreatScorer"]
