"""Reading what reached the backends: spans from Jaeger's HTTP API (or, in bulk, from its api_v3
gRPC API), series from Prometheus's query API, log records from the collector's log file, and the
sidecar's own counters."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import requests
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.message import Message
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from prometheus_client.parser import text_string_to_metric_families

from vigil.processors.stack.components import ENDPOINTS

T = TypeVar("T")


def wait_for(
    read: Callable[[], T], done: Callable[[T], bool], timeout: float = 30.0, every: float = 0.5
) -> T:
    """Poll ``read`` until ``done(value)``; return the last value either way (assert on it)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(every)
        value = read()
    return value


def settled(read: Callable[[], T], timeout: float = 60.0, quiet: float = 2.0, every: float = 0.25) -> T:
    """``read()`` once it has stopped changing for ``quiet`` seconds (late duplicates included),
    or its last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(every)
        again = read()
        if again != value:
            value, since = again, time.monotonic()
    return value


def jaeger_spans(service: str, query_url: str = ENDPOINTS["jaeger"]["query"]) -> list[dict]:
    """Every span Jaeger holds for ``service``, each with its process's tags merged in."""
    reply = requests.get(
        f"{query_url}/api/traces",
        params={"service": service, "limit": 100000, "lookback": "1h"},
        timeout=10,
    )
    if reply.status_code != 200:  # an unknown service is an error in Jaeger's API
        return []
    spans = []
    for trace in reply.json()["data"] or []:
        for span in trace["spans"]:
            span["process"] = trace["processes"][span["processID"]]
            spans.append(span)
    return spans


@functools.cache
def _find_traces_request() -> type[Message]:
    """jaeger.api_v3.FindTracesRequest (jaeger-idl's proto/api_v3/query_service.proto), with the
    fields used here, built at run time: Jaeger publishes no Python package of its protos."""
    fields = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="vigil_tests/jaeger_api_v3.proto",
        package="jaeger.api_v3",
        syntax="proto3",
        dependency=[timestamp_pb2.DESCRIPTOR.name],
    )
    params = proto.message_type.add(name="TraceQueryParameters")
    for name, number, kind, type_name in (
        ("service_name", 1, fields.TYPE_STRING, None),
        ("start_time_min", 4, fields.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
        ("start_time_max", 5, fields.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
        ("search_depth", 8, fields.TYPE_INT32, None),
        ("raw_traces", 9, fields.TYPE_BOOL, None),
    ):
        field = params.field.add(name=name, number=number, type=kind, label=fields.LABEL_OPTIONAL)
        if type_name:
            field.type_name = type_name
    request = proto.message_type.add(name="FindTracesRequest")
    request.field.add(
        name="query",
        number=1,
        type=fields.TYPE_MESSAGE,
        type_name=".jaeger.api_v3.TraceQueryParameters",
        label=fields.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("jaeger.api_v3.FindTracesRequest"))


def jaeger_stored_traces(
    query_grpc: str, service: str, since_ns: int, until_ns: int, max_traces: int
) -> Iterator[TracesData]:
    """Every trace Jaeger holds with a span of ``service`` that started between ``since_ns`` and
    ``until_ns``, up to ``max_traces`` (at most Jaeger's in-memory ``max_traces``), as stored:
    ``raw_traces``, so spans stored twice come twice (Jaeger's query adjusters would merge or
    rename them). One stream over the api_v3 gRPC API at ``query_grpc`` (``host:port``): a
    million spans in seconds, where /api/traces would build hundreds of megabytes of JSON."""
    request_type = _find_traces_request()
    request = request_type()
    query = request.query
    query.service_name = service
    query.start_time_min.FromNanoseconds(since_ns)
    query.start_time_max.FromNanoseconds(until_ns)
    query.search_depth = max_traces
    query.raw_traces = True
    options = [("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(query_grpc, options=options) as channel:
        find = channel.unary_stream(
            "/jaeger.api_v3.QueryService/FindTraces",
            request_serializer=request_type.SerializeToString,
            response_deserializer=TracesData.FromString,
        )
        yield from find(request, timeout=600)


def tags(span: dict) -> dict:
    return {t["key"]: t["value"] for t in span["tags"]}


def traces_by_marker(spans: list[dict], markers: list[str]) -> dict[str, list[dict]]:
    """The spans of each request's trace, found by the marker in its server span's target."""
    by_trace: dict[str, list[dict]] = {}
    for span in spans:
        by_trace.setdefault(span["traceID"], []).append(span)
    found = {}
    for trace in by_trace.values():
        for span in trace:
            target = str(tags(span).get("http.target", "")) + str(tags(span).get("url.query", ""))
            for marker in markers:
                if marker in target:
                    found[marker] = trace
    return found


def prometheus_query(query: str) -> list[dict]:
    reply = requests.get(
        f"{ENDPOINTS['prometheus']['query']}/api/v1/query", params={"query": query}, timeout=10
    )
    reply.raise_for_status()
    return reply.json()["data"]["result"]


def exported_log_records(path: Path, service: str) -> list[dict]:
    """Log records of ``service`` in the file exporter's OTLP JSON lines."""
    records: list[dict] = []
    if not path.exists():
        return records
    lines = path.read_text().split("\n")
    # The last piece is a line the exporter is still writing (or the empty rest after the last
    # newline): only complete lines are read.
    for line in lines[:-1]:
        if not line.strip():
            continue
        for resource_logs in json.loads(line).get("resourceLogs", []):
            attributes = {
                a["key"]: a["value"] for a in resource_logs.get("resource", {}).get("attributes", [])
            }
            if attributes.get("service.name", {}).get("stringValue") != service:
                continue
            for scope_logs in resource_logs.get("scopeLogs", []):
                records.extend(scope_logs.get("logRecords", []))
    return records


def sidecar_counter(name: str, **labels: str) -> float:
    """A counter from the sidecar's /metrics (``name`` without ``_total``)."""
    text = requests.get(ENDPOINTS["sidecar"]["metrics"], timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return sum(
                s.value
                for s in family.samples
                if s.name == f"{name}_total" and all(s.labels.get(k) == v for k, v in labels.items())
            )
    return 0.0
