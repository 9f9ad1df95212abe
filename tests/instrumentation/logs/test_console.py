"""``VIGIL_LOG_FORMAT=json`` in real processes under ``opentelemetry-instrument``: JSON lines on
stdout with the same ids as the OTLP records, one console handler whatever the app and a second
configuration do, and the app's own handler configuration winning where it names one."""

from __future__ import annotations

import json

from tests.instrumentation.exported import run_exporting
from tests.instrumentation.logs.test_bridge import BRIDGE, ROOT_REPORT

CONSOLE = "vigil.instrumentation.logs.console.ConsoleHandler"

JSON_APP = (
    """
import logging
from opentelemetry import trace
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from vigil.instrumentation.logs import configure_logs

# A second configuration and a second instrumentation change nothing.
configure_logs()
LoggingInstrumentor().instrument()
# The app's own basicConfig: its level applies, its console handler is Vigil's JSON one.
logging.basicConfig(level=logging.INFO, format="PLAIN %(message)s")
log = logging.getLogger("shop")
tracer = trace.get_tracer("shop")
print("FIRST-LINE-IS-NOT-JSON", flush=True)
for i in range(10):
    with tracer.start_as_current_span(f"order {i}"):
        log.info("work %d", i, extra={"order.size": "large"})
try:
    {}["missing"]
except KeyError:
    log.exception("work failed")
log.debug("not at this level")
"""
    + ROOT_REPORT
)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_json_lines_carry_the_ids_of_the_otlp_records_and_nothing_is_doubled():
    exported = run_exporting(JSON_APP, VIGIL_LOG_FORMAT="json")
    lines = [line for line in json_lines(exported.stdout) if "message" in line]
    work = [line for line in lines if line["message"].startswith("work ")]
    assert [line["message"] for line in work] == [f"work {i}" for i in range(10)] + ["work failed"]
    records = {r.body: r for r in exported.bodies("work ")}
    assert len(exported.bodies("work ")) == 11, "each record exported once"
    for line in work[:10]:
        record = records[line["message"]]
        assert (line["trace_id"], line["span_id"]) == (record.trace_id, record.span_id)
        assert (line["trace_id"], line["span_id"]) == exported.spans[f"order {line['message'].split()[1]}"]
        assert int(line["trace_flags"], 16) == record.flags
        assert line["service.name"] == "exported-app"
        assert (line["level"], line["logger"]) == ("INFO", "shop")
        assert line["order.size"] == "large"
        assert line["timestamp"].endswith("Z")
    failed = work[10]
    assert failed["level"] == "ERROR"
    assert "trace_id" not in failed, "logged outside any span"
    assert failed["exception"].startswith("Traceback") and "KeyError: 'missing'" in failed["exception"]
    assert not [line for line in lines if line["message"] == "not at this level"]
    assert "PLAIN" not in exported.stdout + exported.stderr, "a second, plain console handler"

    report = json.loads(exported.stdout.strip().splitlines()[-1])
    assert report == {
        "level": "INFO",
        "handlers": [CONSOLE, BRIDGE],
        "formats": ["JsonFormatter", "NoneType"],
    }


DICT_CONFIG_APP = (
    """
import logging, logging.config
logging.config.dictConfig({
    "version": 1,
    "formatters": {"mine": {"format": "MINE %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "mine"}},
    "root": {"handlers": ["console"], "level": "DEBUG"},
})
logging.getLogger("cfg").debug("configured by the app")
"""
    + ROOT_REPORT
)


def test_an_app_that_configures_its_root_handlers_gets_exactly_them():
    exported = run_exporting(DICT_CONFIG_APP, VIGIL_LOG_FORMAT="json")
    report = json.loads(exported.stdout.strip().splitlines()[-1])
    assert report == {
        "level": "DEBUG",
        "handlers": ["logging.StreamHandler", BRIDGE],
        "formats": ["MINE %(message)s", "NoneType"],
    }
    assert "MINE configured by the app" in exported.stderr
    assert not [
        line for line in json_lines(exported.stdout) if line.get("message") == "configured by the app"
    ]
    assert len(exported.bodies("configured by the app")) == 1


def test_an_unknown_format_is_reported_and_adds_nothing():
    exported = run_exporting(ROOT_REPORT, VIGIL_LOG_FORMAT="yaml")
    report = json.loads(exported.stdout.strip().splitlines()[-1])
    assert report["handlers"] == [BRIDGE]
    # Said at start-up, before the bridge exists: on stderr, by Python's last-resort handler.
    assert "VIGIL_LOG_FORMAT='yaml' is not one of" in exported.stderr
