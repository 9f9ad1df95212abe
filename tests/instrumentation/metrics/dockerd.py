"""A private Docker daemon for tests, in a network namespace of its own (see
/work/shared/notes/machine.md): its bridge and iptables rules stay inside the namespace, nothing
reaches the host's network, and with no registry reachable a missing image fails at once.

Its data and exec roots, pidfile and socket live in one temporary directory; its containers go under
a cgroup parent of its own, removed at :meth:`PrivateDockerd.stop`. Images come from
:func:`import_busybox`: Debian's static busybox with a few applets linked, no registry involved.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
from itertools import count
from pathlib import Path

import docker

BUSYBOX = Path("/bin/busybox")
IMAGE = "local/busybox:test"
APPLETS = ("sh", "sleep", "dd", "head", "tr", "ping", "cat", "true", "false", "kill")
KEY_JSON = Path("/etc/docker/key.json")
CGROUP_ROOT = Path("/sys/fs/cgroup")

_instances = count()


def why_not_available() -> str | None:
    """Why a private daemon cannot run here, or ``None`` when it can."""
    if os.geteuid() != 0:
        return "dockerd needs root"
    for tool in ("dockerd", "unshare", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/install.sh installs docker.io)"
    if not BUSYBOX.exists():
        return "no /bin/busybox for the test image (scripts/install.sh installs busybox-static)"
    return None


class PrivateDockerd:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.pidfile = directory / "dockerd.pid"
        self.cgroup_parent = f"vigil-test-{os.getpid()}-{next(_instances)}"
        self._key_existed = KEY_JSON.exists()
        self._log: io.BufferedWriter | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> None:
        d = self.directory
        command = (
            "ip link set lo up && exec dockerd --storage-driver=overlay2 --ip6tables=false"
            f" --cgroup-parent=/{self.cgroup_parent} --data-root={d}/data --exec-root={d}/exec"
            f" --pidfile={self.pidfile} -H {self.url}"
        )
        self._log = open(d / "dockerd.log", "ab")  # closed in stop()
        # unshare execs sh, which execs dockerd: one process, in a new network namespace and session.
        self._process = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", command],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.client(timeout=2) as client:
                    client.ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dockerd did not start; see {d / 'dockerd.log'}") from None
                time.sleep(0.1)

    def client(self, timeout: float = 10) -> docker.APIClient:
        return docker.APIClient(base_url=self.url, version="auto", timeout=timeout)

    def stop(self, timeout: float = 15) -> None:
        """Remove every container (so the daemon does not wait for them), stop the daemon by its
        pidfile, and remove its cgroups."""
        try:
            with self.client(timeout=5) as client:
                for container in client.containers(all=True):
                    client.remove_container(container["Id"], force=True)
        except Exception:
            pass  # not running, or already stopping: the signal below does the rest
        try:
            pid = int(self.pidfile.read_text())
        except (OSError, ValueError):
            pid = self._process.pid if self._process else None
        if pid is not None:
            _signal(pid, signal.SIGTERM)
            if self._process is not None:
                try:
                    self._process.wait(timeout)
                except subprocess.TimeoutExpired:
                    _signal(pid, signal.SIGKILL)
                    self._process.wait(5)
        # The containers' cgroups empty out as their last processes are reaped: give them a moment.
        deadline = time.monotonic() + 5
        while True:
            try:
                self._remove_cgroups()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _remove_cgroups(self) -> None:
        for parent in CGROUP_ROOT.glob(f"*/{self.cgroup_parent}"):
            for child in parent.iterdir():
                if child.is_dir():
                    child.rmdir()
            parent.rmdir()

    def cleanup(self) -> None:
        """After the last stop: the daemon's trust key, if it made one, and its files."""
        if not self._key_existed:
            KEY_JSON.unlink(missing_ok=True)
        shutil.rmtree(self.directory / "data", ignore_errors=True)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def import_busybox(client: docker.APIClient) -> str:
    """Import :data:`IMAGE` from this host's static busybox; returns its reference."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        directory = tarfile.TarInfo("bin")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(directory)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    repository, tag = IMAGE.split(":")
    client.import_image_from_data(archive.getvalue(), repository=repository, tag=tag)
    return IMAGE
