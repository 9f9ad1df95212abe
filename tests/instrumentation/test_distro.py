"""The distro and configurator as `opentelemetry-instrument` loads them, in a real subprocess."""

from __future__ import annotations

import vigil.instrumentation
from tests.instrumentation.instrumented import run_probe
from vigil.instrumentation.distro import RESOURCE_DETECTORS


def test_otlp_for_all_signals_by_default_and_the_distro_identifies_itself():
    probe = run_probe()
    assert probe["sdk"], "opentelemetry-instrument did not set up the SDK"
    env = probe["env"]
    assert {
        name: env.get(name)
        for name in (
            "OTEL_TRACES_EXPORTER",
            "OTEL_METRICS_EXPORTER",
            "OTEL_LOGS_EXPORTER",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS",
        )
    } == {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "5",
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": RESOURCE_DETECTORS,
    }
    # Logs go through opentelemetry-instrumentation-logging, not the SDK's deprecated handler.
    assert "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED" not in env
    assert probe["resource"]["telemetry.distro.name"] == "vigil"
    assert probe["resource"]["telemetry.distro.version"] == vigil.instrumentation.__version__
    assert probe["resource"]["service.name"] == "probe"


def test_the_startup_hook_names_vigil_when_nothing_else_is_named():
    env = run_probe()["env"]
    assert env["OTEL_PYTHON_DISTRO"] == "vigil"
    assert env["OTEL_PYTHON_CONFIGURATOR"] == "vigil"


def test_the_startup_hook_leaves_a_users_choice_alone():
    # Naming only the configurator: the hook must not add a distro choice of its own.
    env = run_probe(OTEL_PYTHON_CONFIGURATOR="vigil")["env"]
    assert "OTEL_PYTHON_DISTRO" not in env


def test_standard_variables_win_over_the_distro_defaults():
    env = run_probe(OTEL_TRACES_EXPORTER="console", OTEL_LOGS_EXPORTER="none")["env"]
    assert env["OTEL_TRACES_EXPORTER"] == "console"
    assert env["OTEL_LOGS_EXPORTER"] == "none"
    assert env["OTEL_METRICS_EXPORTER"] == "otlp"


def test_resource_attributes_from_the_environment_win_over_the_distro_identity():
    probe = run_probe(OTEL_RESOURCE_ATTRIBUTES="telemetry.distro.name=acme,deployment.environment=ci")
    assert probe["resource"]["telemetry.distro.name"] == "acme"
    assert probe["resource"]["deployment.environment"] == "ci"


def test_every_default_detector_is_registered_and_bounded():
    from opentelemetry.util._importlib_metadata import entry_points

    from vigil.instrumentation.resources.bounded import BoundedResourceDetector

    names = RESOURCE_DETECTORS.split(",")
    assert names[-1] == "otel", "OTEL_RESOURCE_ATTRIBUTES must win: the SDK's otel detector goes last"
    for name in names[:-1]:
        [entry_point] = entry_points(group="opentelemetry_resource_detector", name=name)
        assert issubclass(entry_point.load(), BoundedResourceDetector), name
