"""Resources keep their hash: computed once per resource, equal for equal resources, in use in every
process Vigil's configurator sets up."""

from __future__ import annotations

import json
import subprocess
import sys

from opentelemetry.sdk.resources import Resource

from tests.instrumentation.instrumented import INSTRUMENT, clean_env
from vigil.instrumentation import resource_hash


def test_a_resource_hashes_once_and_equal_resources_hash_equal(monkeypatch):
    resource_hash.cache_resource_hashes()
    computed = []
    sdk_hash = resource_hash._sdk_hash
    monkeypatch.setattr(
        resource_hash, "_sdk_hash", lambda resource: computed.append(resource) or sdk_hash(resource)
    )

    attributes = {"service.name": "shop", "process.pid": 12, "process.command_args": ["python", "app.py"]}
    first, twin = Resource(attributes), Resource(dict(attributes))
    grouped = {}
    for resource in [first] * 50 + [twin] * 50:
        grouped.setdefault(resource, []).append(resource)
    assert len(grouped) == 1  # equal resources group together, as the exporters need
    assert computed == [first, twin]  # once each, not once per lookup

    merged = first.merge(Resource({"process.pid": 13}))
    assert hash(merged) != hash(first)
    assert hash(merged) == hash(Resource({**attributes, "process.pid": 13}))


def test_the_configurator_turns_it_on():
    probe = (
        "import json, os; from opentelemetry.sdk.resources import Resource; "
        "print(json.dumps(Resource.__hash__.__module__)); os._exit(0)"
    )
    out = subprocess.run([INSTRUMENT, sys.executable, "-c", probe], env=clean_env(), capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == "vigil.instrumentation.resource_hash"
