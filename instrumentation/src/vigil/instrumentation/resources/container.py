"""The container the application runs in, and its cgroup limits: ``vigil_container``.

Sets, from the process's cgroup (:mod:`vigil.instrumentation.cgroup`, v1 and v2):

- ``container.id``: from ``/proc/self/cgroup``, else from the container's own files in
  ``/proc/self/mountinfo`` (Docker on cgroup v2 hosts, where the cgroup shows only ``0::/``);
- ``container.runtime.name``: ``docker``, ``containerd``, ``cri-o`` or ``podman`` when the cgroup
  path or mount says which;
- ``vigil.cgroup.cpu.limit`` (double, CPUs): the CPU quota over its period (v1
  ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, v2 ``cpu.max``), e.g. ``1.5`` for a container run with
  ``--cpus 1.5``; absent when there is no quota;
- ``vigil.cgroup.memory.limit`` (int, bytes): v1 ``memory.limit_in_bytes``, v2 ``memory.max``;
  absent when unlimited.

The semantic conventions have no resource attributes for cgroup limits (only the
``k8s.container.cpu.limit`` and ``k8s.container.memory.limit`` metrics, in the same units), hence the
``vigil.`` namespace. The limits are those of the process's cgroup, so they are reported for a
systemd service with ``CPUQuota=`` or ``MemoryMax=`` too, not only in containers. They are read once
at start-up; the metrics ``container.cpu.limit`` and ``container.memory.limit`` follow changes
(:mod:`vigil.instrumentation.metrics.container`).

``container.name``, ``container.image.name``, ``container.image.tags`` and the labels named in
:envvar:`VIGIL_CONTAINER_LABELS` (``container.label.<key>``) come from the Docker API, and only when
its socket is mounted into the container (or :envvar:`VIGIL_DOCKER_HOST` names a daemon): see
:mod:`vigil.instrumentation.resources.docker_container`. Inside a container the socket is rarely
there; the Docker collector, which sees containers from the outside, puts the same attributes on the
metrics and events of the containers it watches (:mod:`vigil.instrumentation.metrics.docker`).
"""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource

from vigil.instrumentation.cgroup import ProcessCgroup
from vigil.instrumentation.resources.bounded import BoundedResourceDetector
from vigil.instrumentation.resources.docker_container import docker_attributes

CPU_LIMIT = "vigil.cgroup.cpu.limit"
MEMORY_LIMIT = "vigil.cgroup.memory.limit"


class ContainerResourceDetector(BoundedResourceDetector):
    name = "vigil_container"

    def _detect(self) -> Resource:
        cgroup = ProcessCgroup(self.root)
        attributes: dict[str, object] = {}
        if container := cgroup.container_id():
            attributes["container.id"] = container.id
            if container.runtime:
                attributes["container.runtime.name"] = container.runtime
            attributes.update(docker_attributes(container.id, self.environ))
        if (cpus := cgroup.cpu_limit()) is not None:
            attributes[CPU_LIMIT] = cpus
        if (memory := cgroup.memory_limit()) is not None:
            attributes[MEMORY_LIMIT] = memory
        return Resource(attributes)  # type: ignore[arg-type]
