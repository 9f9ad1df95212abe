"""Vigil's resource detectors: where the telemetry comes from.

Each is an ``opentelemetry_resource_detector`` entry point, so the SDK builds the resource from them
at start-up. The SDK loads a detector only when ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS`` names it;
Vigil's distro defaults that variable to all of the names below plus the SDK's ``otel`` (last, so
that ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME`` win). Later names override earlier ones
for the same attribute.

- ``vigil_host`` (:mod:`.host`): ``host.name``, ``host.arch``, and ``host.id`` (the machine id,
  outside containers only).
- ``vigil_os`` (:mod:`.host`): ``os.type``, ``os.name``, ``os.version``, ``os.description``.
- ``vigil_process`` (:mod:`.process`): ``process.*``: pid, parent pid, executable, command, command
  arguments with secrets redacted, owner, runtime.
- ``vigil_container`` (:mod:`.container`): ``container.id`` and ``container.runtime.name`` from the
  cgroup (v1 or v2) or the mount table, and the cgroup's CPU and memory limits as
  ``vigil.cgroup.cpu.limit`` and ``vigil.cgroup.memory.limit``.
- ``vigil_k8s`` (:mod:`.kubernetes`): ``k8s.*`` from the downward API (environment and mounted
  files).
- ``vigil_cloud`` (:mod:`.cloud`): ``cloud.*``, ``host.*``, ``faas.*`` from the AWS, GCP and Azure
  detector packages, each run only where cheap local checks say the app is on that cloud.

Every detector is bounded (:mod:`.bounded`): it may take at most ``VIGIL_RESOURCE_DETECTOR_TIMEOUT``
seconds (default 2), and one that hangs or fails is skipped with a warning while the application
starts without its attributes. Off-cloud, none of them touches the network.

To leave a detector out, set ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS`` to the list you want, e.g.
``vigil_host,vigil_os,vigil_container,otel``. Do not use ``*``: it also loads every cloud package's
own detectors, and those probe metadata endpoints wherever they run.
"""
