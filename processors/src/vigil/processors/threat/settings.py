"""The threat scorer's settings, read once from the ``VIGIL_THREAT_*`` variables
(:mod:`vigil.processors.environment_variables` documents each); the entry point ``threat`` builds
the scorer with them."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping

from vigil.processors import environment_variables as ev
from vigil.processors.settings import parse_bool, read_environ, split_list
from vigil.processors.threat.behaviour import BehaviourConfig
from vigil.processors.threat.rules import RULES
from vigil.processors.threat.scorer import ThreatConfig, ThreatScorer


def _levels(value: str) -> tuple[int, int, int]:
    levels = tuple(int(part) for part in split_list(value))
    if len(levels) != 3 or not 0 < levels[0] < levels[1] < levels[2]:
        raise ValueError("expected three increasing positive counts, e.g. 3,5,10")
    return levels  # type: ignore[return-value]


def _hours(value: str) -> tuple[int, int]:
    start, _, end = value.partition("-")
    hours = (int(start), int(end))
    if not all(0 <= h <= 23 for h in hours):
        raise ValueError("expected START-END hours of 0..23, e.g. 22-6")
    return hours


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


def _rule_ids(value: str) -> frozenset[str]:
    ids = frozenset(split_list(value))
    unknown = ids - RULES.keys()
    if unknown:
        raise ValueError(f"unknown rule ids {sorted(unknown)}")
    return ids


def threat_config_from_env(environ: Mapping[str, str] | None = None) -> ThreatConfig:
    """Defaults, then the ``VIGIL_THREAT_*`` variables; a bad value raises ValueError naming it."""
    environ = os.environ if environ is None else environ
    top = read_environ(
        {
            "disabled_rules": (ev.VIGIL_THREAT_DISABLED_RULES, _rule_ids),
            "on": (ev.VIGIL_THREAT_BEHAVIOUR, parse_bool),
        },
        environ,
    )
    behaviour = read_environ(
        {
            "login_route": (ev.VIGIL_THREAT_LOGIN_ROUTE, _regex),
            "bruteforce_levels": (ev.VIGIL_THREAT_BRUTEFORCE_LEVELS, _levels),
            "off_hours": (ev.VIGIL_THREAT_OFF_HOURS, _hours),
            "max_keys": (ev.VIGIL_THREAT_MAX_KEYS, int),
        },
        environ,
    )
    return ThreatConfig(
        disabled_rules=top.get("disabled_rules", frozenset()),  # type: ignore[arg-type]
        behaviour=dataclasses.replace(BehaviourConfig(), **behaviour) if top.get("on", True) else None,  # type: ignore[arg-type]
    )


def threat_scorer() -> ThreatScorer:
    """The ``threat`` entry point: a scorer configured from the environment."""
    return ThreatScorer(threat_config_from_env())
