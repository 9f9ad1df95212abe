"""Saving and restoring the anomaly scorer's learned state.

Baselines, models and templates live in memory while the sidecar runs and are written to a state
directory (``VIGIL_ANOMALY_STATE_DIR``) every ``VIGIL_ANOMALY_SAVE_INTERVAL`` seconds and at
shutdown; a restarted sidecar, or ``vigil score --state DIR``, picks up where it stopped instead of
warming up again.

Each part of the scorer that learns implements :class:`Stateful`: ``snapshot()`` returns plain
Python data (dicts, lists, numbers, numpy arrays, scikit-learn estimators) and ``restore()`` takes
it back. :class:`StateStore` writes one file per part, ``<name>.pickle``, atomically (a temporary
file renamed over the old one), so that a crash mid-save leaves the previous state intact, with a
format version so an incompatible file is ignored with a warning rather than misread.

Pickle executes code on load: the state directory must be as trusted as the sidecar's own code
(owned by its user, not writable by others). The store refuses a directory or file that other
users can write.
"""

from __future__ import annotations

import logging
import os
import pickle
import stat
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

FORMAT_VERSION = 1

_logger = logging.getLogger(__name__)


@runtime_checkable
class Stateful(Protocol):
    """A part of the scorer whose learning survives restarts."""

    def snapshot(self) -> Any:
        """The learned state, as picklable plain data."""

    def restore(self, state: Any) -> None:
        """Take back a state that :meth:`snapshot` returned (possibly in an earlier process)."""


class StateStore:
    """One directory of saved parts, each under its name."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def save(self, name: str, part: Stateful) -> None:
        """Write ``part``'s snapshot to ``<directory>/<name>.pickle`` atomically."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = {"format": FORMAT_VERSION, "name": name, "state": part.snapshot()}
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.directory / f"{name}.pickle")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, name: str, part: Stateful) -> bool:
        """Restore ``part`` from its saved file; False (with a warning) when there is none usable."""
        path = self.directory / f"{name}.pickle"
        if not path.exists():
            return False
        for checked in (self.directory, path):
            mode = checked.stat().st_mode
            if mode & (stat.S_IWGRP | stat.S_IWOTH):
                _logger.warning("not loading %s: %s is writable by other users", path, checked)
                return False
        try:
            with path.open("rb") as handle:
                payload = pickle.load(handle)  # our own file, permissions checked above
        except Exception as exc:  # a truncated or foreign file must not stop the sidecar
            _logger.warning("ignoring unreadable anomaly state %s: %s", path, exc)
            return False
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            _logger.warning("ignoring anomaly state %s: not format %d", path, FORMAT_VERSION)
            return False
        part.restore(payload["state"])
        return True
