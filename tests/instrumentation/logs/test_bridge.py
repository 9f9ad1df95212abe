"""The OTLP bridge for stdlib logging, in real processes under ``opentelemetry-instrument`` exporting
to a recording receiver: trace and span ids, each record exactly once, and the application's own
logging configuration left as it made it."""

from __future__ import annotations

import json

from tests.instrumentation.exported import run_exporting

# Prints, as its last line, what the root logger looks like once the app's work is done.
ROOT_REPORT = """
import json, logging
root = logging.getLogger()
print(json.dumps({
    "level": logging.getLevelName(root.level),
    "handlers": [f"{type(h).__module__}.{type(h).__name__}" for h in root.handlers],
    "formats": [
        h.formatter._fmt if type(h.formatter) is logging.Formatter else type(h.formatter).__name__
        for h in root.handlers
    ],
}), flush=True)
"""

CONFIGURING_APP = (
    """
import logging
from opentelemetry import trace

logging.basicConfig(level=logging.INFO, format="APP %(levelname)s %(name)s %(message)s")
log = logging.getLogger("shop")
tracer = trace.get_tracer("shop")
for i in range(20):
    with tracer.start_as_current_span(f"order {i}"):
        log.info("work %d", i)
try:
    1 / 0
except ZeroDivisionError:
    with tracer.start_as_current_span("failing"):
        log.exception("work failed")
log.debug("not at this level")
"""
    + ROOT_REPORT
)

BRIDGE = "opentelemetry.instrumentation.logging.handler.LoggingHandler"


def root_report(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_records_carry_their_span_and_arrive_once_and_the_apps_configuration_stands():
    exported = run_exporting(CONFIGURING_APP)
    work = exported.bodies("work ")
    assert sorted(r.body for r in work) == sorted([f"work {i}" for i in range(20)] + ["work failed"])
    for record in work:
        span_name = "failing" if record.body == "work failed" else f"order {record.body.split()[1]}"
        assert (record.trace_id, record.span_id) == exported.spans[span_name], record.body
        assert record.flags & 1, "sampled"
        assert record.scope == "shop"
    failed = next(r for r in work if r.body == "work failed")
    assert failed.severity_text == "ERROR"
    assert failed.attributes["exception.type"] == "ZeroDivisionError"
    assert "Traceback" in failed.attributes["exception.stacktrace"]
    assert not exported.bodies("not at this level")

    # The app's basicConfig applied in full (level, format, its console handler), next to the bridge.
    assert root_report(exported.stdout) == {
        "level": "INFO",
        "handlers": ["logging.StreamHandler", BRIDGE],
        "formats": ["APP %(levelname)s %(name)s %(message)s", "NoneType"],
    }
    assert "APP INFO shop work 7" in exported.stderr
    # Not through the SDK's deprecated handler (code.* attributes are the tell; off in the bridge).
    assert not any(key.startswith("code.") for key in work[0].attributes)


UNCONFIGURED_APP = (
    """
import logging
from opentelemetry import trace
with trace.get_tracer("t").start_as_current_span("early"):
    logging.getLogger("early").warning("before any configuration")
"""
    + ROOT_REPORT
    + """
logging.basicConfig(level=logging.DEBUG, format="LATE %(message)s")
logging.getLogger("late").debug("after the app's own configuration")
"""
    + ROOT_REPORT
)


def test_log_correlation_calls_no_basic_config_behind_the_apps_back():
    # With the stock contrib package, OTEL_PYTHON_LOG_CORRELATION=true calls basicConfig at start-up,
    # and the app's own basicConfig then does nothing: its DEBUG level and format would be lost.
    exported = run_exporting(UNCONFIGURED_APP, OTEL_PYTHON_LOG_CORRELATION="true")
    before, after = (json.loads(line) for line in exported.stdout.strip().splitlines()[-2:])
    assert before == {"level": "WARNING", "handlers": [BRIDGE], "formats": ["NoneType"]}
    assert after == {
        "level": "DEBUG",
        "handlers": ["logging.StreamHandler", BRIDGE],
        "formats": ["LATE %(message)s", "NoneType"],
    }
    assert "LATE after the app's own configuration" in exported.stderr
    [early] = exported.bodies("before any configuration")
    # The correlation fields are on the record, for the app's own format strings.
    assert early.attributes["otelTraceID"] == early.trace_id == exported.spans["early"][0]
    assert early.attributes["otelSpanID"] == early.span_id
    assert len(exported.bodies("after the app's own configuration")) == 1


ONE_RECORD_APP = """
import logging
logging.getLogger("once").warning("exactly once")
"""


def test_with_the_sdks_deprecated_handler_switched_on_records_still_arrive_once():
    exported = run_exporting(ONE_RECORD_APP, OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true")
    assert len(exported.bodies("exactly once")) == 1


def test_switched_off_the_standard_way_nothing_is_exported():
    exported = run_exporting(ONE_RECORD_APP, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="system_metrics,logging")
    assert not exported.bodies("exactly once")


def test_the_standard_log_level_sets_the_root_level_without_a_handler():
    app = (
        """
import logging
logging.getLogger("lvl").info("info passes")
logging.getLogger("lvl").debug("debug does not")
"""
        + ROOT_REPORT
    )
    exported = run_exporting(app, OTEL_PYTHON_LOG_LEVEL="INFO")
    assert root_report(exported.stdout) == {"level": "INFO", "handlers": [BRIDGE], "formats": ["NoneType"]}
    assert [r.body for r in exported.records if r.scope == "lvl"] == ["info passes"]
