"""The machine the application runs on: host and operating system.

``vigil_host`` sets

- ``host.name``: what ``gethostname()`` returns (no DNS lookup);
- ``host.arch``: the semantic conventions' values (``amd64``, ``arm64``, ``arm32``, ``x86``,
  ``ppc32``, ``ppc64``, ``s390x``, ``ia64``), or the machine's own name for anything else;
- ``host.id``: the machine id (``/etc/machine-id``, else ``/var/lib/dbus/machine-id``), as the
  conventions ask for non-containerised systems. Inside a container the file, when present, comes
  from the image and is shared by every container of that image, so it is left out there.
  On a cloud, ``vigil_cloud`` replaces it with the instance id.

``vigil_os`` sets

- ``os.type``: ``linux``, ``darwin``, ``windows``, ``freebsd``, ... as the conventions list them;
- ``os.name`` and ``os.version``: the distribution's ``NAME`` and ``VERSION_ID`` from
  ``/etc/os-release`` on Linux (inside a container: the image's distribution), the product version
  on macOS and Windows;
- ``os.description``: human-readable, e.g. ``Debian GNU/Linux 12 (bookworm) (Linux 6.1.0-18-amd64)``:
  the distribution and the running kernel, which inside a container is the host's.

Files are read under ``root`` (default ``/``) so that tests can use fixture trees.
"""

from __future__ import annotations

import platform
import shlex
import socket
from pathlib import Path

from opentelemetry.sdk.resources import Resource

from vigil.instrumentation.cgroup import ProcessCgroup
from vigil.instrumentation.resources.bounded import BoundedResourceDetector

_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv6l": "arm32",
    "armv7l": "arm32",
    "armv8l": "arm32",
    "arm": "arm32",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
    "x86": "x86",
    "ppc": "ppc32",
    "ppc64": "ppc64",
    "ppc64le": "ppc64",
    "s390x": "s390x",
    "ia64": "ia64",
}
_OS_TYPE = {"sunos": "solaris", "dragonfly": "dragonflybsd", "os/390": "zos", "zos": "zos"}
_MACHINE_ID_FILES = ("etc/machine-id", "var/lib/dbus/machine-id")
_CONTAINER_MARKERS = (".dockerenv", "run/.containerenv")


def host_arch(machine: str) -> str:
    """``host.arch`` for what ``platform.machine()`` reports."""
    return _ARCH.get(machine.lower(), machine.lower())


def os_type(system: str) -> str:
    """``os.type`` for what ``platform.system()`` reports."""
    system = system.lower()
    return _OS_TYPE.get(system, system)


def read_os_release(root: Path) -> dict[str, str]:
    """The ``KEY=value`` pairs of ``/etc/os-release`` (else ``/usr/lib/os-release``), unquoted."""
    for relative in ("etc/os-release", "usr/lib/os-release"):
        try:
            text = (root / relative).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        fields = {}
        for line in text.splitlines():
            key, separator, value = line.partition("=")
            if separator and key.strip() and not key.startswith("#"):
                try:
                    words = shlex.split(value, comments=False)
                except ValueError:  # unbalanced quotes: keep the raw value
                    words = [value.strip()]
                fields[key.strip()] = " ".join(words)
        return fields
    return {}


class HostResourceDetector(BoundedResourceDetector):
    name = "vigil_host"

    def _detect(self) -> Resource:
        attributes: dict[str, str] = {
            "host.name": socket.gethostname(),
            "host.arch": host_arch(platform.machine()),
        }
        if not self._in_container() and (machine_id := self._machine_id()):
            attributes["host.id"] = machine_id
        return Resource(attributes)

    def _in_container(self) -> bool:
        if any((self.root / marker).exists() for marker in _CONTAINER_MARKERS):
            return True
        return ProcessCgroup(self.root).container_id() is not None

    def _machine_id(self) -> str | None:
        for relative in _MACHINE_ID_FILES:
            try:
                value = (self.root / relative).read_text(encoding="ascii", errors="replace").strip()
            except OSError:
                continue
            if value:
                return value
        return None


class OsResourceDetector(BoundedResourceDetector):
    name = "vigil_os"

    def _detect(self) -> Resource:
        system = platform.system()
        kind = os_type(system)
        attributes: dict[str, str] = {"os.type": kind}
        kernel = f"{system} {platform.release()}".strip()
        if kind == "linux":
            release = read_os_release(self.root)
            if release.get("NAME"):
                attributes["os.name"] = release["NAME"]
            if release.get("VERSION_ID"):
                attributes["os.version"] = release["VERSION_ID"]
            pretty = release.get("PRETTY_NAME") or release.get("NAME")
            attributes["os.description"] = f"{pretty} ({kernel})" if pretty else kernel
        elif kind == "darwin":
            version = platform.mac_ver()[0]
            attributes["os.name"] = "macOS"
            if version:
                attributes["os.version"] = version
            attributes["os.description"] = f"macOS {version} ({kernel})".replace("  ", " ")
        else:
            if kind == "windows":
                attributes["os.name"] = "Windows"
                attributes["os.version"] = platform.version()
            else:
                attributes["os.version"] = platform.release()
            attributes["os.description"] = platform.platform()
        return Resource(attributes)
