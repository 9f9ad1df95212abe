"""The Grafana dashboards and the alert rules query what the stack really produces: after traffic that
gives every panel something to show (ordinary and attacked spans, spans far off their baseline,
failing spans, a metric series past its warm-up; the demo app's own metrics), every metric a
panel, a dashboard variable or a rule names is in the live Prometheus, with the labels its
matchers test. Also: the name the sidecar's vigil.anomaly.score gauge gets there (unit "1":
vigil_anomaly_score_ratio)."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.backends.dashboards import Query, Selector, dashboards, groupings, queries, selectors
from tests.e2e.backends import prometheus_query, wait_for
from tests.e2e.findings import (
    anomalous_traces,
    attack_traces,
    failing_traces,
    metric_series,
    ordinary_traces,
)
from tests.installed import REPO
from vigil.instrumentation.metrics.container import ContainerMetrics
from vigil.processors.stack.components import ENDPOINTS

pytestmark = pytest.mark.stack

PROMETHEUS = ENDPOINTS["prometheus"]["query"]
RULES = REPO / "backends" / "rules" / "vigil.rules.yml"
ANOMALY_SCORE = "vigil_anomaly_score_ratio"


def rule_queries() -> list[Query]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [
        Query("vigil.rules.yml", rule.get("alert") or rule["record"], rule["expr"])
        for group in groups
        for rule in group["rules"]
    ]


def all_queries() -> list[Query]:
    return [q for name, board in dashboards().items() for q in queries(name, board)] + rule_queries()


def all_selectors() -> dict[Selector, list[Query]]:
    found: dict[Selector, list[Query]] = {}
    for query in all_queries():
        for selector in selectors(query.expr):
            found.setdefault(selector, []).append(query)
    return found


def label_names(metric: str) -> set[str] | None:
    """Label names of the metric's series in Prometheus (last hour); None when it has none."""
    reply = requests.get(
        f"{PROMETHEUS}/api/v1/series",
        params={"match[]": f'{{__name__="{metric}"}}', "start": time.time() - 3600},
        timeout=10,
    )
    reply.raise_for_status()
    series = reply.json()["data"]
    return {label for s in series for label in s} if series else None


def optional(metric: str) -> bool:
    # container.* metrics exist only where the demo runs in a container or a limited cgroup: the
    # instrumentation's own test of this machine says whether they must.
    return metric.startswith("container_") and not ContainerMetrics("/").in_container_or_limited()


@pytest.fixture(scope="module")
def driven(stack, telemetrygen) -> str:
    """Traffic for every panel, each kind under a service of its own (so that, say, failing spans
    do not shift the latency baselines); the service of the metric series."""
    run = uuid.uuid4().hex[:8]
    ordinary_traces(telemetrygen, f"dashboards-threats-{run}")
    attack_traces(telemetrygen, f"dashboards-threats-{run}")
    failing_traces(telemetrygen, f"dashboards-errors-{run}")
    anomalous_traces(telemetrygen, f"dashboards-latency-{run}")
    metric_series(telemetrygen, f"dashboards-metrics-{run}")
    return f"dashboards-metrics-{run}"


def test_every_metric_the_dashboards_and_rules_name_is_in_prometheus(driven):
    wanted = all_selectors()
    metrics = sorted({s.metric for s in wanted})

    def missing() -> list[str]:
        return [m for m in metrics if not optional(m) and label_names(m) is None]

    # Recording rules over rate()s of the error spans need two scrapes after spanmetrics' flush (15 s).
    absent = wait_for(missing, lambda m: not m, timeout=90, every=3)
    assert not absent, {
        m: [f"{q.dashboard}: {q.panel}" for s, qs in wanted.items() if s.metric == m for q in qs]
        for m in absent
    }

    for selector, used_by in wanted.items():
        present = label_names(selector.metric)
        if present is None:
            continue  # an optional metric this machine does not produce
        unknown = selector.labels - present
        assert not unknown, (
            selector.metric,
            sorted(unknown),
            sorted({f"{q.dashboard}: {q.panel}" for q in used_by}),
        )

    # A label a panel groups by (a legend, a table column) must be on what it aggregates.
    for query in all_queries():
        for grouping in groupings(query.expr):
            names = [label_names(m) for m in grouping.metrics]
            if all(n is None for n in names):
                continue
            unknown = grouping.labels - set().union(*(n for n in names if n))
            assert not unknown, (
                f"{query.dashboard}: {query.panel}",
                sorted(unknown),
                sorted(grouping.metrics),
            )


def test_the_anomaly_score_gauge_is_named_as_the_rules_and_dashboards_query_it(driven):
    def families() -> set[str]:
        text = requests.get(ENDPOINTS["collector"]["prometheus_exporter"], timeout=10).text
        return {
            f.name for f in text_string_to_metric_families(text) if f.name.startswith("vigil_anomaly_score")
        }

    # The sidecar's gauge has unit "1": the collector's Prometheus exporter appends _ratio to a
    # gauge of that unit (pkg.translator.prometheus.NormalizeName, on at v0.139.0).
    assert wait_for(families, bool, timeout=45) == {ANOMALY_SCORE}
    series = wait_for(
        lambda: prometheus_query(f'{ANOMALY_SCORE}{{service_name="{driven}"}}'), bool, timeout=30
    )
    assert series and {s["metric"]["metric_name"] for s in series} == {"gen"}

    users = {
        q.panel for s, qs in all_selectors().items() if s.metric.startswith("vigil_anomaly_score") for q in qs
    }
    assert "VigilMetricAnomalous" in users and "Metric series off their baseline" in users
    assert not {s.metric for s in all_selectors()} & {"vigil_anomaly_score"}
