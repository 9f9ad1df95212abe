"""A process's control group, read from ``/proc`` and ``/sys/fs/cgroup``: cgroup v1 and v2 alike.

What it answers:

- which container the process runs in (:meth:`ProcessCgroup.container_id`), from the cgroup paths
  in ``/proc/<pid>/cgroup`` (``/docker/<id>``, ``/kubepods/.../<id>``, systemd's
  ``docker-<id>.scope``, ``cri-containerd-<id>.scope``, ``crio-<id>.scope``,
  ``libpod-<id>.scope``), or, where a private cgroup namespace shows only ``0::/`` (Docker's default
  on cgroup v2 hosts), from the container's own files bind-mounted from
  ``/var/lib/docker/containers/<id>/`` in ``/proc/<pid>/mountinfo``;
- where each controller's files for the process are (:meth:`ProcessCgroup.directory`): the cgroup
  path joined to the controller's mount point from ``mountinfo``, so it works on the host, inside a
  container (whose cgroup is mounted as the root of its view), on v1 (one hierarchy per controller)
  and v2 (one unified hierarchy);
- the CPU quota and memory limit that apply (:meth:`ProcessCgroup.cpu_limit`,
  :meth:`ProcessCgroup.memory_limit`): v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` and
  ``memory.limit_in_bytes``, v2 ``cpu.max`` and ``memory.max``, the tightest of the process's cgroup
  and its ancestors up to the mount point;
- the kernel's formats of the statistics files in those directories: flat keyed (``cpu.stat``,
  ``memory.stat``, ``memory.events``, v1 ``memory.oom_control``; :func:`read_keyed`), v2 nested keyed
  ``io.stat`` (:func:`parse_io_stat`) and v1 ``blkio`` byte counters (:func:`parse_blkio`). Which
  file holds what on v1 and v2 is the business of the container metrics
  (:mod:`vigil.instrumentation.metrics.container`).

Every file is read under ``root`` (default ``/``), so tests point it at fixture trees (the pattern of
the Prometheus client's ``proc=`` parameter). Nothing here raises for a missing or unreadable file:
the answer is then ``None``. On Kubernetes with containerd and a private cgroup namespace, neither
source holds the container id (the mounted files belong to the pod sandbox): ``None`` there too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Above this, a v1 memory limit means "unlimited" (the kernel reports PAGE_COUNTER_MAX pages in bytes,
# 9223372036854771712 on 4 KiB pages).
_V1_UNLIMITED_BYTES = 1 << 62

# One path segment that names a container: an id of 64 hex digits, bare (cgroupfs driver) or in a
# systemd scope with the runtime as prefix.
_SEGMENT_ID = re.compile(
    r"(?:(?P<prefix>docker|cri-containerd|containerd|crio|libpod)-)?(?P<id>[0-9a-f]{64})(?:\.scope)?"
)
# ECS task containers (Fargate, recent agents): /ecs/<task id>/<task id>-<number>.
_ECS_SEGMENT_ID = re.compile(r"[0-9a-f]{32}-\d+")
_PREFIX_RUNTIME = {
    "docker": "docker",
    "cri-containerd": "containerd",
    "containerd": "containerd",
    "crio": "cri-o",
    "libpod": "podman",
}
# A container's own files bind-mounted into it (hostname, hosts, resolv.conf) by Docker or Podman.
_MOUNT_ROOT_ID = re.compile(
    r"/(?P<store>docker/containers|overlay-containers|containers)/(?P<id>[0-9a-f]{64})(?:/|$)"
)
_CONTAINER_FILES = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")
_MOUNTINFO_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class CgroupLine:
    """One line of ``/proc/<pid>/cgroup``: ``hierarchy-id:controllers:path``."""

    hierarchy_id: int
    controllers: tuple[str, ...]
    """Empty for the v2 hierarchy (``0::/path``)."""
    path: str


@dataclass(frozen=True)
class Mount:
    """The fields of one ``/proc/<pid>/mountinfo`` line that locating cgroups needs."""

    root: str
    """The directory of the mounted file system that appears at ``mount_point``."""
    mount_point: str
    fs_type: str
    super_options: tuple[str, ...]


@dataclass(frozen=True)
class ContainerId:
    id: str
    runtime: str | None
    """``docker``, ``containerd``, ``cri-o``, ``podman``, or ``None`` when the path does not say."""


def parse_proc_cgroup(text: str) -> list[CgroupLine]:
    """Parse ``/proc/<pid>/cgroup``; malformed lines are skipped."""
    lines = []
    for raw in text.splitlines():
        parts = raw.split(":", 2)
        if len(parts) != 3 or not parts[0].isdigit():
            continue
        controllers = tuple(name for name in parts[1].split(",") if name)
        lines.append(CgroupLine(int(parts[0]), controllers, parts[2]))
    return lines


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse ``/proc/<pid>/mountinfo`` (see proc(5)); malformed lines are skipped."""
    mounts = []
    for raw in text.splitlines():
        fields = raw.split()
        if "-" not in fields:
            continue
        separator = fields.index("-")
        if separator < 6 or len(fields) < separator + 4:
            continue
        mounts.append(
            Mount(
                root=_unescape(fields[3]),
                mount_point=_unescape(fields[4]),
                fs_type=fields[separator + 1],
                super_options=tuple(fields[separator + 3].split(",")),
            )
        )
    return mounts


def container_id_from_cgroup(lines: list[CgroupLine]) -> ContainerId | None:
    """The container named by the deepest matching segment of any cgroup path, or ``None``."""
    for line in lines:
        segments = PurePosixPath(line.path).parts
        for index in range(len(segments) - 1, 0, -1):
            segment = segments[index]
            if match := _SEGMENT_ID.fullmatch(segment):
                runtime = _PREFIX_RUNTIME.get(match["prefix"] or "")
                if runtime is None and segments[index - 1] == "docker":
                    runtime = "docker"
                return ContainerId(match["id"], runtime)
            if _ECS_SEGMENT_ID.fullmatch(segment) and "ecs" in segments:
                return ContainerId(segment, None)
    return None


def container_id_from_mountinfo(mounts: list[Mount]) -> ContainerId | None:
    """The container whose own files (``/etc/hostname`` first) are mounted from its runtime's store."""
    ordered = sorted(mounts, key=lambda mount: mount.mount_point not in _CONTAINER_FILES)
    for mount in ordered:
        if "/sandboxes/" in mount.root:  # a Kubernetes pod sandbox, not this container
            continue
        if match := _MOUNT_ROOT_ID.search(mount.root):
            store = match["store"]
            if store == "docker/containers":
                runtime = "docker"
            elif store == "overlay-containers" or "/containers/storage/" in mount.root:
                runtime = "podman"
            elif "containerd" in mount.root:
                runtime = "containerd"
            else:
                runtime = None
            return ContainerId(match["id"], runtime)
    return None


class ProcessCgroup:
    """The cgroup of process ``pid`` (default: this one) as seen under ``root``."""

    def __init__(self, root: Path | str = "/", pid: int | str = "self") -> None:
        self.root = Path(root)
        proc = self.root / "proc" / str(pid)
        self.lines = parse_proc_cgroup(read_text(proc / "cgroup") or "")
        self.mounts = parse_mountinfo(read_text(proc / "mountinfo") or "")

    def container_id(self) -> ContainerId | None:
        """The container this process runs in, or ``None`` (not in one, or not discoverable)."""
        return container_id_from_cgroup(self.lines) or container_id_from_mountinfo(self.mounts)

    def version(self, controller: str) -> int | None:
        """1 or 2: the hierarchy that holds ``controller`` for this process; ``None`` if neither."""
        location = self._locate(controller)
        return location[0] if location else None

    def directory(self, controller: str) -> Path | None:
        """The directory with this process's files for ``controller`` (e.g. ``memory``)."""
        location = self._locate(controller)
        return location[1][0] if location else None

    def cpu_limit(self) -> float | None:
        """CPUs the process may use (quota / period), or ``None`` when there is no quota."""
        return self._tightest("cpu", _cpu_limit)

    def memory_limit(self) -> int | None:
        """Bytes of memory the process's cgroup may use, or ``None`` when unlimited."""
        return self._tightest("memory", _memory_limit)

    def _tightest(self, controller: str, read: Callable[[int, Path], float | None]) -> float | None:
        """The smallest limit that ``read(version, directory)`` finds on the process's cgroup path:
        a parent's limit binds its children too."""
        location = self._locate(controller)
        if location is None:
            return None
        version, directories = location
        return min((limit for d in directories if (limit := read(version, d)) is not None), default=None)

    def _locate(self, controller: str) -> tuple[int, list[Path]] | None:
        """(version, directories from the process's own cgroup up to the controller's mount point)."""
        for line in self.lines:
            if controller in line.controllers:
                mount = next(
                    (m for m in self.mounts if m.fs_type == "cgroup" and controller in m.super_options), None
                )
                if mount is not None:
                    return 1, self._chain(mount.mount_point, mount.root, line.path)
                # No mount table to go by: the conventional layout.
                return 1, self._chain(f"/sys/fs/cgroup/{controller}", "/", line.path)
        unified = next((line for line in self.lines if line.hierarchy_id == 0 and not line.controllers), None)
        if unified is None:
            return None
        mounts = [m for m in self.mounts if m.fs_type == "cgroup2"]
        mount = next((m for m in mounts if m.mount_point == "/sys/fs/cgroup"), mounts[0] if mounts else None)
        mount_point, mount_root = (mount.mount_point, mount.root) if mount else ("/sys/fs/cgroup", "/")
        base = self._under_root(mount_point)
        # On hybrid hosts the v2 hierarchy exists but holds no controllers (they are all on v1).
        available = (read_text(base / "cgroup.controllers") or "").split()
        if controller not in available:
            return None
        return 2, self._chain(mount_point, mount_root, unified.path)

    def _chain(self, mount_point: str, mount_root: str, cgroup_path: str) -> list[Path]:
        base = self._under_root(mount_point)
        relative = _relative_to_mount(cgroup_path, mount_root)
        directory = base.joinpath(*relative)
        if not directory.is_dir():
            # The cgroup is mounted as the root of this view (a container without its own cgroup
            # namespace sees its host path in /proc but its own cgroup at the mount point).
            return [base]
        chain = [directory]
        while directory != base:
            directory = directory.parent
            chain.append(directory)
        return chain

    def _under_root(self, absolute: str) -> Path:
        return self.root.joinpath(*PurePosixPath(absolute).parts[1:])


def _relative_to_mount(cgroup_path: str, mount_root: str) -> tuple[str, ...]:
    path = PurePosixPath(cgroup_path)
    if ".." in path.parts:  # outside our cgroup namespace's root: nothing under the mount to walk
        return ()
    try:
        return path.relative_to(mount_root).parts
    except ValueError:
        return ()


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash in paths as octal escapes (\040 ...).
    return _MOUNTINFO_ESCAPE.sub(lambda match: chr(int(match[1], 8)), field)


def read_text(path: Path) -> str | None:
    """The content of ``path``, or ``None`` if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def read_int(path: Path) -> int | None:
    """The integer that is the whole content of ``path`` (e.g. ``memory.current``), or ``None``."""
    text = (read_text(path) or "").strip()
    try:
        return int(text)
    except ValueError:
        return None


def read_keyed(path: Path) -> dict[str, int] | None:
    """A flat-keyed file, one ``key value`` pair per line, or ``None`` if it cannot be read. Pairs
    whose value is not an integer are left out."""
    text = read_text(path)
    if text is None:
        return None
    values = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("-").isdigit():
            values[fields[0]] = int(fields[1])
    return values


def parse_io_stat(text: str) -> dict[str, dict[str, int]]:
    """v2 ``io.stat``: ``{"8:0": {"rbytes": ..., "wbytes": ..., ...}}``, one entry per device line
    (``8:0 rbytes=1 wbytes=2 rios=3 ...``)."""
    devices: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        counters = devices.setdefault(fields[0], {})
        for pair in fields[1:]:
            key, _, value = pair.partition("=")
            if value.isdigit():
                counters[key] = int(value)
    return devices


def parse_blkio(text: str) -> dict[str, dict[str, int]]:
    """v1 ``blkio.*io_service_bytes*``: ``{"8:0": {"read": ..., "write": ..., ...}}`` from lines
    ``8:0 Read 123``; the closing ``Total n`` line (all devices) is left out."""
    devices: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[2].isdigit():
            devices.setdefault(fields[0], {})[fields[1].lower()] = int(fields[2])
    return devices


def _cpu_limit(version: int, directory: Path) -> float | None:
    if version == 1:
        quota = read_int(directory / "cpu.cfs_quota_us")
        period = read_int(directory / "cpu.cfs_period_us")
    else:
        fields = (read_text(directory / "cpu.max") or "").split()
        quota = int(fields[0]) if len(fields) == 2 and fields[0].isdigit() else None
        period = int(fields[1]) if len(fields) == 2 and fields[1].isdigit() else None
    return quota / period if quota is not None and quota > 0 and period else None


def _memory_limit(version: int, directory: Path) -> int | None:
    if version == 1:
        limit = read_int(directory / "memory.limit_in_bytes")
        if limit is not None and limit >= _V1_UNLIMITED_BYTES:
            return None
    else:
        limit = read_int(directory / "memory.max")  # "max" reads as None
    return limit if limit is not None and limit > 0 else None
