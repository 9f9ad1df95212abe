"""The application's process: ``vigil_process``.

Sets ``process.pid``, ``process.parent_pid``, ``process.executable.name`` and
``process.executable.path`` (the interpreter), ``process.command`` (``argv[0]`` as the interpreter
received it), ``process.command_args`` (the full command line, ``python -m module`` included, with
anything that looks like a secret replaced by ``REDACTED``: see :mod:`vigil.instrumentation.redaction`),
``process.args_count``, ``process.owner`` (the effective user's name, or uid when it has none), and
``process.runtime.name`` / ``.version`` / ``.description``.

``process.command_line`` is not set: the conventions prefer ``process.command_args`` over a line
assembled for monitoring. The detector is process-dependent, so the SDK runs it again in a forked
child and ``process.pid`` stays true under pre-fork servers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from opentelemetry.sdk.resources import Resource

from vigil.instrumentation.redaction import redact_args
from vigil.instrumentation.resources.bounded import BoundedResourceDetector


def runtime_version() -> str:
    """``3.11.9`` for a final release, ``3.13.0.candidate.1`` otherwise (as the SDK writes it)."""
    info = sys.version_info
    parts = info[:3] if info.releaselevel == "final" and not info.serial else info
    return ".".join(map(str, parts))


def owner() -> str | None:
    """The effective user's name, or its uid when the user database has no entry."""
    if not hasattr(os, "geteuid"):
        return None
    uid = os.geteuid()
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):  # e.g. a container run with a uid the image does not know
        return str(uid)


class ProcessResourceDetector(BoundedResourceDetector):
    name = "vigil_process"

    def __init__(
        self, raise_on_error: bool = False, *, timeout: float | None = None, argv: Sequence[str] | None = None
    ) -> None:
        super().__init__(raise_on_error, timeout=timeout)
        self._argv = argv

    def is_process_dependent(self) -> bool:
        return True

    def _detect(self) -> Resource:
        # sys.orig_argv keeps what the interpreter was given (e.g. "-m gunicorn"); sys.argv is rewritten.
        argv = list(self._argv if self._argv is not None else getattr(sys, "orig_argv", sys.argv))
        executable = sys.executable or ""
        attributes: dict[str, object] = {
            "process.pid": os.getpid(),
            "process.executable.name": os.path.basename(executable),
            "process.executable.path": executable,
            "process.runtime.name": sys.implementation.name,
            "process.runtime.version": runtime_version(),
            "process.runtime.description": sys.version,
        }
        if hasattr(os, "getppid"):
            attributes["process.parent_pid"] = os.getppid()
        if argv:
            attributes["process.command"] = argv[0]
            attributes["process.command_args"] = redact_args(argv)
            attributes["process.args_count"] = len(argv)
        if user := owner():
            attributes["process.owner"] = user
        return Resource(attributes)  # type: ignore[arg-type]
