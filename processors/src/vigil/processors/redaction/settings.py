"""The redaction scorer's settings, read once from the ``VIGIL_REDACTION_*`` variables
(:mod:`vigil.processors.environment_variables` documents each); the entry point ``redaction``
builds the scorer with them."""

from __future__ import annotations

import os
from collections.abc import Mapping

from vigil.processors import environment_variables as ev
from vigil.processors.redaction.scorer import RedactionConfig, Redactor
from vigil.processors.settings import parse_bool, read_environ, split_list


def _names(value: str) -> frozenset[str]:
    return frozenset(split_list(value))


def redaction_config_from_env(environ: Mapping[str, str] | None = None) -> RedactionConfig:
    """Defaults, then the ``VIGIL_REDACTION_*`` variables; a bad value raises ValueError naming it."""
    environ = os.environ if environ is None else environ
    values = read_environ(
        {
            "cards": (ev.VIGIL_REDACTION_CARDS, parse_bool),
            "emails": (ev.VIGIL_REDACTION_EMAILS, parse_bool),
            "secret_names": (ev.VIGIL_REDACTION_SECRET_NAMES, _names),
            "attributes": (ev.VIGIL_REDACTION_ATTRIBUTES, _names),
        },
        environ,
    )
    return RedactionConfig(**values)  # type: ignore[arg-type]


def redaction_scorer() -> Redactor:
    """The ``redaction`` entry point: a scorer configured from the environment."""
    return Redactor(redaction_config_from_env())
