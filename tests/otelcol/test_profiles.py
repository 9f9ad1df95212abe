"""The exporter profiles (collector-config/profiles/): each validates merged over the pipeline with its
environment set (to dummy values), alone and all together with the overlays; every secret comes from
the environment; every variable is documented. tests/e2e/test_cloud_profiles.py sends data through
them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.installed import REPO
from tests.otelcol.test_distribution import validate

PROFILES = REPO / "collector-config" / "profiles"
PIPELINE = REPO / "collector-config" / "vigil.yaml"
DOCS = REPO / "docs" / "exporters.md"

# What each profile needs to be built: its required variables, with dummy values.
ENVIRONMENT = {
    "aws": {"AWS_REGION": "eu-west-1"},
    "googlecloud": {"GOOGLE_CLOUD_PROJECT": "vigil-test"},
    "azuremonitor": {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://example.invalid/"
        )
    },
    "kafka": {"VIGIL_KAFKA_BROKERS": "kafka-0.example.invalid:9092,kafka-1.example.invalid:9092"},
    "kafka-sasl": {"VIGIL_KAFKA_USERNAME": "vigil", "VIGIL_KAFKA_PASSWORD": "dummy"},
    "otlphttp": {
        "VIGIL_OTLP_HTTP_ENDPOINT": "https://otlp.example.invalid",
        "VIGIL_OTLP_HTTP_HEADERS": '{"api-key": "dummy", "x-tenant": "vigil"}',
    },
}
# Profiles merged after another one.
NEEDS = {"kafka-sasl": ["kafka"]}
# Keys whose values are secrets (or name who holds them): never a literal in a profile.
SECRET_KEYS = {"password", "username", "connection_string", "instrumentation_key", "headers", "role_arn"}
REFERENCE = re.compile(r"^\$\{(env|file):[^}]*\}$")


def profile(name: str) -> Path:
    return PROFILES / f"{name}.yaml"


def test_every_profile_is_covered():
    assert sorted(p.stem for p in PROFILES.glob("*.yaml")) == sorted(ENVIRONMENT)


@pytest.mark.parametrize("name", sorted(ENVIRONMENT))
def test_profile_validates_merged_over_the_pipeline(name):
    names = [*NEEDS.get(name, []), name]
    env = {k: v for n in names for k, v in ENVIRONMENT[n].items()}
    result = validate(PIPELINE, *map(profile, names), env=env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_all_profiles_validate_together_with_the_overlays():
    # Profiles add pipelines of their own and restate no list of vigil.yaml, so they compose with
    # each other and with the overlays that rewrite the */out and */score pipelines.
    env = {k: v for values in ENVIRONMENT.values() for k, v in values.items()}
    overlays = [REPO / "collector-config" / "overlays" / f"{n}.yaml" for n in ("tail-sampling", "scale-out")]
    result = validate(PIPELINE, *overlays, *map(profile, ENVIRONMENT), env=env)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(
    ("name", "missing", "message"),
    [
        ("otlphttp", "VIGIL_OTLP_HTTP_ENDPOINT", "at least one endpoint must be specified"),
        ("kafka-sasl", "VIGIL_KAFKA_USERNAME", "username is required"),
    ],
)
def test_a_missing_required_variable_fails_validation(name, missing, message):
    names = [*NEEDS.get(name, []), name]
    env = {k: v for n in names for k, v in ENVIRONMENT[n].items() if k != missing}
    result = validate(PIPELINE, *map(profile, names), env={**env, missing: ""})
    assert result.returncode != 0
    assert message in result.stderr


def _values(node: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """(path, value) of every mapping entry in a parsed YAML document, depth first."""
    found: list[tuple[tuple[str, ...], object]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append(((*path, str(key)), value))
            found.extend(_values(value, (*path, str(key))))
    elif isinstance(node, list):
        for item in node:
            found.extend(_values(item, path))
    return found


@pytest.mark.parametrize("name", sorted(ENVIRONMENT))
def test_secrets_come_only_from_the_environment(name):
    document = yaml.safe_load(profile(name).read_text())
    secrets = [(path, value) for path, value in _values(document) if path[-1] in SECRET_KEYS]
    for path, value in secrets:
        assert isinstance(value, str) and REFERENCE.match(value), f"{'.'.join(path)}: {value!r}"


@pytest.mark.parametrize("name", sorted(ENVIRONMENT))
def test_a_profile_adds_components_and_redefines_none_of_the_pipeline(name):
    # A component defined again in a profile would be merged into vigil.yaml's, changing what the
    # local pipeline does; a pipeline of the same name would replace its lists.
    base = yaml.safe_load(PIPELINE.read_text())
    document = yaml.safe_load(profile(name).read_text())
    for kind in ("receivers", "processors", "exporters", "connectors", "extensions"):
        assert not set(document.get(kind) or {}) & set(base.get(kind) or {}), kind
    assert not set(document.get("service", {}).get("pipelines", {})) & set(base["service"]["pipelines"])


@pytest.mark.parametrize("name", sorted(ENVIRONMENT))
def test_every_variable_is_documented_in_the_header_and_the_docs(name):
    text = profile(name).read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    docs = DOCS.read_text()
    variables = set(re.findall(r"\$\{env:([A-Z0-9_]+)", text)) | set(ENVIRONMENT[name])
    assert variables
    for variable in sorted(variables):
        assert variable in header, f"{variable} is not in the header of {name}.yaml"
        assert variable in docs, f"{variable} is not in docs/exporters.md"
