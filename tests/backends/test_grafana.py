"""Grafana's provisioning (backends/grafana/): the dashboards parse, name only provisioned data
sources and declared variables, and every query is valid PromQL; exemplars link to Jaeger.
tests/e2e/test_dashboards.py checks the metrics against the live stack."""

from __future__ import annotations

import pytest
import yaml

from tests.backends.dashboards import (
    BUILTIN,
    dashboards,
    groupings,
    panels,
    queries,
    selectors,
    substitute,
    variables_used,
)
from tests.installed import REPO

PROVISIONING = REPO / "backends" / "grafana" / "provisioning"
DASHBOARDS = dashboards()
# What the issue asks for, by dashboard file.
EXPECTED = {"security-overview", "service-red", "system-health", "pipeline-health"}


@pytest.fixture(scope="module")
def datasources() -> dict[str, dict]:
    document = yaml.safe_load((PROVISIONING / "datasources" / "vigil.yaml").read_text())
    return {source["uid"]: source for source in document["datasources"]}


def test_the_four_dashboards_are_there_with_unique_uids():
    assert set(DASHBOARDS) == EXPECTED
    uids = [board["uid"] for board in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_have_unique_ids_and_provisioned_data_sources(name, datasources):
    board = DASHBOARDS[name]
    ids = [panel["id"] for panel in board["panels"]] + [
        p["id"] for r in board["panels"] for p in r.get("panels", [])
    ]
    assert len(set(ids)) == len(ids)
    for panel in panels(board):
        assert panel["targets"], panel["title"]
        for source in [panel["datasource"], *(t["datasource"] for t in panel["targets"])]:
            assert source["uid"] in datasources and datasources[source["uid"]]["type"] == source["type"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_queries_use_only_declared_variables(name):
    board = DASHBOARDS[name]
    declared = {variable["name"] for variable in board.get("templating", {}).get("list", [])}
    for panel in panels(board):
        for target in panel["targets"]:
            assert variables_used(target["expr"]) <= declared | set(BUILTIN), (panel["title"], target["expr"])


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_query_is_valid_promql_naming_metrics(name):
    found = queries(name, DASHBOARDS[name])
    assert found
    for query in found:
        assert selectors(query.expr), query  # parses, and selects at least one metric


def test_variables_become_a_match_anything_regex_and_durations():
    assert substitute('rate(x{a=~"$service"}[$__rate_interval])') == 'rate(x{a=~".+"}[1m])'
    assert substitute('x{a=~"${service}"}[$__range]') == 'x{a=~".+"}[1h]'


def test_selectors_come_from_the_parse_not_from_strings():
    expr = (
        'sum by (le) (rate(a_bucket{job="x", le!=""}[1m])) / on() group_left b'
        ' or label_replace(c, "d", "e", "f", "g")'
    )
    assert [(s.metric, set(s.labels)) for s in selectors(expr)] == [
        ("a_bucket", {"job", "le"}),
        ("b", set()),
        ("c", set()),
    ]
    assert [s.metric for s in selectors('{__name__="vigil:span_requests:rate5m"}')] == [
        "vigil:span_requests:rate5m"
    ]


def test_groupings_name_the_labels_and_the_metrics_they_aggregate():
    expr = "topk(5, sum by (client_address) (increase(a[1h]))) / on() group_left count without (w) (b)"
    (grouping,) = groupings(expr)
    assert grouping.labels == {"client_address"} and grouping.metrics == {"a"}


def test_exemplars_link_to_jaeger(datasources):
    prometheus = datasources["vigil-prometheus"]
    (destination,) = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    assert destination == {"name": "trace_id", "datasourceUid": "vigil-jaeger"}
    assert datasources["vigil-jaeger"]["type"] == "jaeger"
    # The panels that promise links to traces ask for exemplars.
    with_exemplars = [
        panel["title"]
        for board in DASHBOARDS.values()
        for panel in panels(board)
        if any(target.get("exemplar") for target in panel["targets"])
    ]
    assert len(with_exemplars) >= 2, with_exemplars


def test_the_provider_loads_the_dashboards_directory():
    document = yaml.safe_load((PROVISIONING / "dashboards" / "vigil.yaml").read_text())
    (provider,) = document["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "/etc/vigil/grafana/dashboards"
