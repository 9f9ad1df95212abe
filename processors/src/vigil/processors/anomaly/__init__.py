"""Anomaly scoring in the sidecar: spans, traces, metrics and logs against learned baselines.

The scorer is :class:`vigil.processors.anomaly.scorer.AnomalyScorer` (entry point ``anomaly``);
its module docstring is the overview, :mod:`.output` and :mod:`.events` list what it writes.
"""
