"""Starting, stopping and inspecting the local stack (``vigil up``, ``vigil down``, ``vigil status``).

Every component runs as a local process in its own session. Its output goes to
``RUN_DIR/logs/NAME.log`` and its pid to ``RUN_DIR/NAME.pid``; ``RUN_DIR`` defaults to
``~/.local/state/vigil`` (``--run-dir`` or ``VIGIL_RUN_DIR`` move it). ``up`` skips a component
whose recorded process is still running, so running it twice is safe, and refuses to start one
whose port already answers for a process it did not start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from vigil.processors.stack.components import Component, default_components


def default_run_dir() -> Path:
    return Path(os.environ.get("VIGIL_RUN_DIR") or Path.home() / ".local" / "state" / "vigil")


def _http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by us) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


class Stack:
    """The components of one run directory."""

    def __init__(
        self,
        run_dir: Path,
        components: Sequence[Component],
        environ: Mapping[str, str] | None = None,
        progress: TextIO | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.components = list(components)
        self.log_dir = run_dir / "logs"
        # What every component inherits before its own env (default: this process's environment).
        self.environ = environ
        self._progress = progress

    def _say(self, line: str) -> None:
        print(line, file=self._progress or sys.stdout, flush=True)

    @classmethod
    def default(cls, run_dir: str | Path | None = None, with_demo: bool = True) -> Stack:
        run_dir = Path(run_dir) if run_dir else default_run_dir()
        components = default_components(run_dir)
        if not with_demo:
            components = [c for c in components if c.name not in ("demo", "traffic")]
        return cls(run_dir, components)

    def _pid_file(self, component: Component) -> Path:
        return self.run_dir / f"{component.name}.pid"

    def pid(self, component: Component) -> int | None:
        """The recorded pid of ``component`` if that process still runs."""
        try:
            pid = int(self._pid_file(component).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def state(self, component: Component) -> str:
        """``healthy``, ``starting`` (running, health check failing) or ``stopped``."""
        if self.pid(component) is None:
            return "stopped"
        if component.health_url is None or _http_ok(component.health_url):
            return "healthy"
        return "starting"

    def _start(self, component: Component) -> None:
        if component.health_url and _http_ok(component.health_url):
            raise RuntimeError(
                f"{component.name}: {component.health_url} already answers for a process this run "
                f"directory did not start ({self.run_dir}); stop it first"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{component.name}.log", "ab")
        with log:
            process = subprocess.Popen(
                component.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**(os.environ if self.environ is None else self.environ), **component.env},
                cwd=self.run_dir,
                start_new_session=True,  # survives the terminal that ran `vigil up`
            )
        self._pid_file(component).write_text(f"{process.pid}\n")

    def _wait(self, component: Component, url: str | None, deadline: float) -> bool:
        """Until ``url`` answers (None: while the process runs); False if the process died."""
        while time.monotonic() < deadline:
            if self.pid(component) is None:
                return False
            if url is None or _http_ok(url):
                return True
            time.sleep(0.2)
        return False

    def _log_tail(self, component: Component, lines: int = 15) -> str:
        try:
            text = (self.log_dir / f"{component.name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join("    " + line for line in text.splitlines()[-lines:])

    def up(self, with_demo: bool = True, timeout: float = 60.0) -> bool:
        """Start what is not running, in order, then wait until every component is healthy.

        Each component is started once the previous one listens; True if all end up healthy.
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        components = [c for c in self.components if with_demo or c.name not in ("demo", "traffic")]
        deadline = time.monotonic() + timeout
        started = {}
        for component in components:
            started[component.name] = self.pid(component) is None
            if started[component.name]:
                self._start(component)
            if not self._wait(component, component.started_url or component.health_url, deadline):
                return self._report_failure(component, timeout)
        for component in components:
            if not self._wait(component, component.health_url, deadline):
                return self._report_failure(component, timeout)
            how = "started" if started[component.name] else "already running"
            self._say(f"  {component.name:<12} healthy ({how}, pid {self.pid(component)})")
        return True

    def _report_failure(self, component: Component, timeout: float) -> bool:
        self._say(f"  {component.name:<12} NOT healthy after {timeout:.0f} s; its log ends:")
        self._say(self._log_tail(component))
        return False

    def down(self, timeout: float = 20.0) -> None:
        """Stop every component, last started first: SIGTERM, then SIGKILL after ``timeout``."""
        for component in reversed(self.components):
            pid = self.pid(component)
            if pid is not None:
                os.killpg(pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if _alive(pid):
                    os.killpg(pid, signal.SIGKILL)
                self._say(f"  {component.name:<12} stopped (pid {pid})")
            self._pid_file(component).unlink(missing_ok=True)

    def status(self) -> dict[str, object]:
        return {
            "run_dir": str(self.run_dir),
            "components": {
                c.name: {
                    "state": self.state(c),
                    "pid": self.pid(c),
                    "endpoints": dict(c.endpoints),
                    "log": str(self.log_dir / f"{c.name}.log"),
                }
                for c in self.components
            },
        }

    def describe(self) -> str:
        """Where to look, for people."""
        lines = [f"Vigil stack (run directory {self.run_dir}):"]
        for name, info in self.status()["components"].items():  # type: ignore[union-attr]
            endpoints = ", ".join(f"{k} {v}" for k, v in info["endpoints"].items() if k != "health")
            lines.append(f"  {name:<12} {info['state']:<9} {endpoints}")
        lines += [
            "Traces: Jaeger API http://127.0.0.1:16686/api/traces?service=vigil-demo",
            "Metrics: Prometheus http://127.0.0.1:9090 ; logs: " + str(self.run_dir / "otlp-logs.jsonl"),
            "Alerts: Alertmanager http://127.0.0.1:9093 ; webhook receivers in backends/alertmanager.yml",
            "Stop with: vigil down",
        ]
        return "\n".join(lines)
