"""Which containers the Docker collector watches, and how they are named in its telemetry.

:envvar:`VIGIL_DOCKER_LABEL_SELECTOR` lists labels, ``key`` or ``key=value``, separated by commas;
the daemon itself selects the containers that have all of them (its ``label`` filter, for the
container list and the event stream alike), so the collector never sees the others.

Every metric point and lifecycle event of a container carries:

- ``container.id``: the full 64-character id;
- ``container.name``: its name, without Docker's leading ``/``;
- ``container.image.name``: the image it was created from, as given (``registry:5000/team/job``),
  without the tag or digest; an image created by id keeps the id;
- ``container.label.<key>``: the value of each label named in the selector (for a selector
  ``com.example.sandbox`` the attribute ``container.label.com.example.sandbox``), at most 256
  characters. Only those: other labels could be anything, of any number.

Events also carry ``container.image.tags`` (the tag, when the image was named with one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.semconv._incubating.attributes.container_attributes import (
    CONTAINER_LABEL_TEMPLATE,
    CONTAINER_NAME,
)
from opentelemetry.semconv.attributes.container_attributes import CONTAINER_ID, CONTAINER_IMAGE_NAME

MAX_LABEL_VALUE = 256


@dataclass(frozen=True)
class LabelSelector:
    """The parsed selector: ``filters`` for the Docker API, ``keys`` for the attributes."""

    filters: tuple[str, ...]
    keys: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """``"a=1, b"`` -> filters ``("a=1", "b")``, keys ``("a", "b")``. Blank items are skipped."""
        filters, keys = [], []
        for item in text.split(","):
            key, equals, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not key:
                continue
            filters.append(f"{key}={value}" if equals else key)
            if key not in keys:
                keys.append(key)
        return cls(tuple(filters), tuple(keys))

    def api_filters(self) -> dict[str, list[str]]:
        """The ``label`` filter of Docker's list and events endpoints (empty: every container)."""
        return {"label": list(self.filters)} if self.filters else {}

    def attributes(
        self, container_id: str, name: str | None, image: str | None, labels: Mapping[str, str]
    ) -> dict[str, str]:
        """The attributes that identify a container on its metric points and events."""
        attributes = {CONTAINER_ID: container_id}
        if name:
            attributes[CONTAINER_NAME] = name.lstrip("/")
        if image and (image_name := split_image(image)[0]):
            attributes[CONTAINER_IMAGE_NAME] = image_name
        for key in self.keys:
            if (value := labels.get(key)) is not None:
                attributes[f"{CONTAINER_LABEL_TEMPLATE}.{key}"] = str(value)[:MAX_LABEL_VALUE]
        return attributes


def split_image(reference: str) -> tuple[str, str | None]:
    """``"registry:5000/team/job:1.2@sha256:..."`` -> ``("registry:5000/team/job", "1.2")``."""
    if reference.startswith("sha256:"):
        return reference, None
    name = reference.partition("@")[0]
    # A colon after the last slash starts the tag; one before it belongs to a registry's port.
    head, colon, tag = name.rpartition(":")
    if colon and "/" not in tag:
        return head, tag or None
    return name, None
