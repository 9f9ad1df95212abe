"""Events packed into one logs request: grouped by resource, in order of first appearance."""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from vigil.processors.event_requests import EventsRequest, events_request

SCOPE = InstrumentationScope(name="vigil.test")


def resource(service: str) -> Resource:
    return Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])


def bodies(request) -> list[tuple[str, list[str]]]:
    return [
        (
            rl.resource.attributes[0].value.string_value if rl.resource.attributes else "",
            [r.body.string_value for sl in rl.scope_logs for r in sl.log_records],
        )
        for rl in request.resource_logs
    ]


def test_records_are_grouped_by_resource_in_order_of_first_appearance():
    shop, cart = resource("shop"), resource("cart")
    events = [(shop, "a"), (cart, "b"), (shop, "c"), (None, "d")]
    request = events_request(SCOPE, ((r, LogRecord(body=AnyValue(string_value=b))) for r, b in events))
    assert bodies(request) == [("shop", ["a", "c"]), ("cart", ["b"]), ("", ["d"])]
    assert all(rl.scope_logs[0].scope.name == "vigil.test" for rl in request.resource_logs)
    assert not request.resource_logs[2].HasField("resource")


def test_records_filled_in_place_are_the_request_s_own():
    events = EventsRequest(SCOPE)
    assert events.request() is None
    shop = resource("shop")
    events.record(shop).body.string_value = "a"
    events.record(shop).body.string_value = "b"
    request = events.request()
    assert bodies(request) == [("shop", ["a", "b"])]
    assert request.resource_logs[0].resource == shop
