"""The application's own container as the Docker daemon knows it: its name, image and chosen labels.

The ``vigil_container`` resource detector (:mod:`vigil.instrumentation.resources.container`) asks
here once it has found the container's id in the cgroup. The daemon is :envvar:`VIGIL_DOCKER_HOST`,
else ``DOCKER_HOST``, else ``unix:///var/run/docker.sock``; a ``unix://`` socket is used only when
its file exists, i.e. when it is mounted into the container::

    docker run -v /var/run/docker.sock:/var/run/docker.sock:ro -e VIGIL_CONTAINER_LABELS=com.example.team ...

Without it (the usual case) nothing is imported and nothing is contacted: the cost is one ``stat``.
A ``tcp://`` daemon is contacted only when one of the two variables names it. The lookup inspects
the container (``GET /containers/{id}/json``, after the API version) and sets:

- ``container.name``: its name, without Docker's leading ``/``;
- ``container.image.name``: the image it was created from, as given (``registry:5000/team/app``),
  without the tag or digest;
- ``container.image.tags``: ``[tag]`` when the image was named with a tag;
- ``container.label.<key>``: the value of each label named in :envvar:`VIGIL_CONTAINER_LABELS`
  that the container has, at most 256 characters.

These are the attributes the Docker collector gives the containers it watches
(:mod:`vigil.instrumentation.metrics.docker.selection`). Each request may take at most
:data:`REQUEST_TIMEOUT` seconds. It needs the ``docker`` extra
(``pip install 'vigil-instrumentation[docker]'``). When anything fails (no SDK, a daemon that does
not answer, a container this daemon does not know) the resource keeps the cgroup's attributes only,
with a warning (a debug message for the missing SDK).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from opentelemetry.semconv.attributes.container_attributes import CONTAINER_IMAGE_TAGS

from vigil.instrumentation.environment_variables import VIGIL_CONTAINER_LABELS

REQUEST_TIMEOUT = 1.0
"""Seconds each request to the daemon may take: the lookup runs while the application starts."""

UNIX = "unix://"

_logger = logging.getLogger(__name__)


def docker_attributes(container_id: str, environ: Mapping[str, str]) -> dict[str, object]:
    """The Docker daemon's attributes of container ``container_id``, or ``{}`` when the daemon is not
    reachable or does not know it; ``environ`` is the environment the settings are read from."""
    # The Docker collector's package brings in the metrics SDK: only worth it inside a container.
    from vigil.instrumentation.metrics.docker.connection import daemon_url, make_client
    from vigil.instrumentation.metrics.docker.selection import LabelSelector, split_image

    url = daemon_url(environ)
    if url.startswith(UNIX) and not Path(url.removeprefix(UNIX)).exists():
        _logger.debug("No Docker socket at %s: container name and image not looked up", url)
        return {}
    try:
        with make_client(max_pool_size=1, timeout=REQUEST_TIMEOUT, environ=environ) as client:
            inspected = client.inspect_container(container_id)
    except ImportError:
        _logger.debug(
            "The Docker socket %s is there, but looking up the container needs the docker SDK:"
            " pip install 'vigil-instrumentation[docker]'",
            url,
        )
        return {}
    except Exception as error:  # any failure leaves the cgroup's attributes, as the detector promises
        _logger.warning(
            "Resource detector vigil_container: cannot inspect container %s at %s (%s); "
            "starting without its name and image",
            container_id[:12],
            url,
            error,
        )
        return {}
    config = inspected.get("Config") or {}
    image = config.get("Image")
    selector = LabelSelector.parse(environ.get(VIGIL_CONTAINER_LABELS, ""))
    attributes: dict[str, object] = dict(
        selector.attributes(container_id, inspected.get("Name"), image, config.get("Labels") or {})
    )
    if image and (tag := split_image(image)[1]):
        attributes[CONTAINER_IMAGE_TAGS] = [tag]
    return attributes
