"""Process attributes, with the command line redacted."""

from __future__ import annotations

import os
import sys

from vigil.instrumentation.redaction import REDACTED
from vigil.instrumentation.resources.process import ProcessResourceDetector, runtime_version


def test_process_attributes():
    argv = ["/usr/bin/python3", "-m", "gunicorn", "app:app", "--password", "hunter2", "--workers", "4"]
    attributes = ProcessResourceDetector(argv=argv).detect().attributes
    assert attributes["process.pid"] == os.getpid()
    assert attributes["process.parent_pid"] == os.getppid()
    assert attributes["process.executable.path"] == sys.executable
    assert attributes["process.executable.name"] == os.path.basename(sys.executable)
    assert attributes["process.command"] == "/usr/bin/python3"
    assert list(attributes["process.command_args"]) == [
        "/usr/bin/python3",
        "-m",
        "gunicorn",
        "app:app",
        "--password",
        REDACTED,
        "--workers",
        "4",
    ]
    assert attributes["process.args_count"] == 8
    assert attributes["process.runtime.name"] == sys.implementation.name
    assert attributes["process.runtime.version"] == runtime_version()
    assert attributes["process.runtime.description"] == sys.version
    assert attributes["process.owner"]
    assert "process.command_line" not in attributes


def test_default_argv_is_what_the_interpreter_received():
    attributes = ProcessResourceDetector().detect().attributes
    assert attributes["process.args_count"] == len(sys.orig_argv)


def test_runtime_version_of_a_final_release():
    if sys.version_info.releaselevel == "final":
        assert runtime_version() == ".".join(map(str, sys.version_info[:3]))


def test_is_rerun_after_fork():
    assert ProcessResourceDetector().is_process_dependent()
