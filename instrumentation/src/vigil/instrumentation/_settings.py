"""Reading Vigil's settings from the environment (declared in :mod:`.environment_variables`)."""

from __future__ import annotations

import logging
import math
import os

_logger = logging.getLogger(__name__)


def positive_seconds(name: str, default: float) -> float:
    """The value of ``name`` as a positive number of seconds, or ``default`` (with a warning if the
    variable is set to something else)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        _logger.warning("%s=%r is not a positive number of seconds; using %s", name, raw, default)
        return default
    return value


def text(name: str, default: str) -> str:
    """The value of ``name``, or ``default`` when it is unset or blank."""
    return os.environ.get(name, "").strip() or default


def flag(name: str) -> bool | None:
    """``True`` for ``true``, ``False`` for ``false`` (any case), ``None`` when unset or blank, so the
    caller decides; anything else is ``None`` with a warning."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    _logger.warning("%s=%r is neither true nor false; using the default", name, raw)
    return None
