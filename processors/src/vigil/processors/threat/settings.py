"""The threat scorer's settings: built-in defaults, then the rule file
(``VIGIL_THREAT_RULES_FILE``, :mod:`vigil.processors.threat.rulefile`), then the other
``VIGIL_THREAT_*`` variables (:mod:`vigil.processors.environment_variables` documents each), which
win over the file. The entry point ``threat`` builds the scorer with them and, with a rule file,
reloads the file when it changes (the variables, read once at start, are applied again to every
version of the file)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping

from vigil.processors import environment_variables as ev
from vigil.processors.settings import parse_bool, read_environ, split_list
from vigil.processors.threat.behaviour import BehaviourConfig
from vigil.processors.threat.rulefile import (
    RuleFile,
    RuleFileWatcher,
    check_hours,
    check_levels,
    check_regex,
    rule_ids,
)
from vigil.processors.threat.scorer import ThreatConfig, ThreatScorer

_logger = logging.getLogger(__name__)


def _levels(value: str) -> tuple[int, int, int]:
    return check_levels(tuple(int(part) for part in split_list(value)))


def _hours(value: str) -> tuple[int, int]:
    start, _, end = value.partition("-")
    return check_hours((int(start), int(end)))


def _rule_ids(value: str) -> frozenset[str]:
    return frozenset().union(*(rule_ids(pattern) for pattern in split_list(value)))


# Behavioural settings that a variable can set: field -> (variable, parse).
_BEHAVIOUR_VARIABLES = {
    "login_route": (ev.VIGIL_THREAT_LOGIN_ROUTE, check_regex),
    "bruteforce_levels": (ev.VIGIL_THREAT_BRUTEFORCE_LEVELS, _levels),
    "off_hours": (ev.VIGIL_THREAT_OFF_HOURS, _hours),
    "max_keys": (ev.VIGIL_THREAT_MAX_KEYS, int),
}


def threat_config_from_env(
    environ: Mapping[str, str] | None = None, rule_file: RuleFile | None = None
) -> ThreatConfig:
    """Defaults, then ``rule_file``, then the ``VIGIL_THREAT_*`` variables; a bad value raises
    ValueError naming the variable. Where a variable overrides the file, a warning says so."""
    environ = os.environ if environ is None else environ
    top = read_environ(
        {
            "disabled_rules": (ev.VIGIL_THREAT_DISABLED_RULES, _rule_ids),
            "on": (ev.VIGIL_THREAT_BEHAVIOUR, parse_bool),
        },
        environ,
    )
    behaviour_env = read_environ(_BEHAVIOUR_VARIABLES, environ)
    file = rule_file or RuleFile()
    file_behaviour = dict(file.behaviour)
    env_disabled: frozenset[str] = top.get("disabled_rules", frozenset())  # type: ignore[assignment]
    overridden = [
        f"{_BEHAVIOUR_VARIABLES[name][0]} over behaviour.{name}"
        for name in behaviour_env
        if name in file_behaviour
    ]
    if env_disabled & file.enabled:
        overridden.append(
            f"{ev.VIGIL_THREAT_DISABLED_RULES} over rules {sorted(env_disabled & file.enabled)}"
        )
    if "on" in top and file.behaviour_enabled is not None and top["on"] != file.behaviour_enabled:
        overridden.append(f"{ev.VIGIL_THREAT_BEHAVIOUR} over behaviour.enabled")
    if overridden:
        _logger.warning(
            "threat settings: variables win over the rule file %s: %s", file.path, "; ".join(overridden)
        )
    on = top.get("on", True if file.behaviour_enabled is None else file.behaviour_enabled)
    behaviour = dataclasses.replace(BehaviourConfig(), **{**file_behaviour, **behaviour_env}) if on else None
    return ThreatConfig(
        disabled_rules=file.disabled | env_disabled,
        behaviour=behaviour,  # type: ignore[arg-type]
        allow=file.allow,
    )


def threat_scorer() -> ThreatScorer:
    """The ``threat`` entry point: a scorer configured from the environment and, when
    ``VIGIL_THREAT_RULES_FILE`` names one, from that rule file, reloaded when it changes."""
    environ = dict(os.environ)  # every reload applies the variables as they were at start
    path = environ.get(ev.VIGIL_THREAT_RULES_FILE, "").strip()
    if not path:
        return ThreatScorer(threat_config_from_env(environ))
    try:
        watcher = RuleFileWatcher(path, lambda rule_file: threat_config_from_env(environ, rule_file))
    except ValueError as exc:
        raise ValueError(f"{ev.VIGIL_THREAT_RULES_FILE}: {exc}") from None
    _logger.info("threat rules from %s (reloaded when it changes)", path)
    return ThreatScorer(watcher.current, reload=watcher.poll)  # type: ignore[arg-type]
