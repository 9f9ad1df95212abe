"""Serving a fixture app in a subprocess, under ``opentelemetry-instrument`` or not, until the test is
done: the stack's own runner (:class:`vigil.processors.stack.runner.Stack`) with one component, so
the server runs in a session of its own, logs to ``run_dir/logs/<name>.log`` and is stopped with
SIGTERM to its whole process group (a server's master and its workers) at the end."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.installed import REPO
from vigil.processors.stack.components import Component
from vigil.processors.stack.runner import Stack


@contextmanager
def serving(
    argv: Sequence[str], port: int, env: Mapping[str, str], run_dir: Path, timeout: float = 60
) -> Iterator[int]:
    """Run ``argv``, which serves a fixture app on ``127.0.0.1:port``, with exactly ``env`` (plus the
    checkout on ``PYTHONPATH``, for ``tests.apps``); yield its pid once ``/healthz`` answers."""
    component = Component(
        "app",
        tuple(argv),
        env={"PYTHONPATH": str(REPO)},
        health_url=f"http://127.0.0.1:{port}/healthz",
    )
    progress = io.StringIO()
    stack = Stack(run_dir, [component], environ=dict(env), progress=progress)
    try:
        if not stack.up(timeout=timeout):
            pytest.fail(f"{argv} did not come up:\n{progress.getvalue()}")
        pid = stack.pid(component)
        assert pid is not None
        yield pid
    finally:
        stack.down()


def log_of(run_dir: Path) -> str:
    """What the server wrote to stdout and stderr."""
    return (run_dir / "logs" / "app.log").read_text(errors="replace")
