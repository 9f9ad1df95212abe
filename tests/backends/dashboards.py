"""Reading the Grafana dashboards (backends/grafana/dashboards/*.json): their PromQL queries, with
Grafana's variables replaced so that Prometheus can run them, and the metric selectors in each, found
by a real PromQL parser (promql-parser)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import promql_parser

from tests.installed import REPO

DASHBOARDS = REPO / "backends" / "grafana" / "dashboards"
# Grafana's own variables, by what a query gets in their place: a duration, or a number.
BUILTIN = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h", "__range_s": "3600"}
# A dashboard variable (a label value, "All" by default) becomes a regex that matches any value.
ANY_VALUE = ".+"
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str
    """As Prometheus gets it: variables replaced."""


@dataclass(frozen=True)
class Selector:
    metric: str
    labels: frozenset[str]
    """Label names its matchers test."""


@dataclass(frozen=True)
class Grouping:
    labels: frozenset[str]
    """Label names of an aggregation's ``by (...)``."""
    metrics: frozenset[str]
    """The metrics it aggregates: one of them at least must have each label."""


def dashboards() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict) -> Iterator[dict]:
    """Every panel, including those inside (collapsed) rows; rows themselves left out."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def variables_used(text: str) -> set[str]:
    return {a or b for a, b in VARIABLE.findall(text)}


def substitute(text: str) -> str:
    return VARIABLE.sub(lambda m: BUILTIN.get(m.group(1) or m.group(2), ANY_VALUE), text)


def queries(name: str, dashboard: dict) -> list[Query]:
    """Every PromQL query of the dashboard: its panels' targets and its variables' label_values
    selectors (label_values(metric, label) is Grafana's, not PromQL: its selector is the query)."""
    found = [
        Query(name, panel["title"], substitute(target["expr"]))
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        definition = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = LABEL_VALUES.match(definition.strip())
        assert match and match.group("selector"), f"{name}: variable {variable['name']}: {definition}"
        found.append(Query(name, f"variable {variable['name']}", substitute(match.group("selector"))))
    return found


def selectors(expr: str) -> list[Selector]:
    """The vector selectors of ``expr`` (parsed, so names inside strings or functions do not count)."""
    found: list[Selector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = node.matchers.matchers
            name = node.name or next(m.value for m in matchers if m.name == "__name__")
            found.append(Selector(name, frozenset(m.name for m in matchers if m.name != "__name__")))

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return found


def groupings(expr: str) -> list[Grouping]:
    """The ``by (...)`` aggregations of ``expr``, with the metrics each aggregates."""
    found: list[Grouping] = []

    def visit(node: promql_parser.Expr) -> None:
        modifier = getattr(node, "modifier", None)
        if (
            isinstance(node, promql_parser.AggregateExpr)
            and modifier
            and modifier.type == promql_parser.AggModifierType.By
        ):
            metrics = frozenset(s.metric for s in selectors(str(node.expr)))
            found.append(Grouping(frozenset(modifier.labels), metrics))

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return found
