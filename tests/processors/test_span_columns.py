"""The wire reader of span_columns: what it returns must be what the decoded request holds, for
the protobuf library's encoding, for other valid encodings, and for hostile bytes (an error,
never a crash or a value the decoded request does not have)."""

from __future__ import annotations

import random
import tracemalloc

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from vigil.processors.span_columns import ALL_KINDS, ColumnReader, Slot, SpanLocator

SLOTS = (
    Slot(("url.query",), ALL_KINDS - {3, 4}),
    Slot(("user_agent.original", "http.user_agent")),
    Slot(("http.request.header.referer",)),
    Slot(("client.address",), {2}, dense=True),
    Slot(("http.response.status_code",), {2}, dense=True),
    Slot(("url.query",), {2}, dense=True),  # a key may feed several slots
)
READER = ColumnReader(SLOTS)
KEYS = (
    "url.query",
    "user_agent.original",
    "http.user_agent",
    "http.request.header.referer",
    "client.address",
)
KEYS += ("http.response.status_code", "db.system", "")


def python_value(value: AnyValue) -> object:
    """What the reader gives for an AnyValue, from the decoded message."""
    member = value.WhichOneof("value")
    if member is None or member == "kvlist_value":
        return None
    if member == "array_value":
        return tuple(
            None if item.WhichOneof("value") in ("array_value", "kvlist_value") else python_value(item)
            for item in value.array_value.values
        )
    return getattr(value, member)


def expected(request: ExportTraceServiceRequest) -> tuple:
    """The reader's result, computed from the decoded request."""
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    groups = []
    number = 0
    for r, rs in enumerate(request.resource_spans):
        for g, ss in enumerate(rs.scope_spans):
            groups.append((r, g, number, len(ss.spans)))
            number += len(ss.spans)
    dense_index = [n for n, s in enumerate(spans) if s.kind == 2]
    times = [s.end_time_unix_nano or s.start_time_unix_nano for s in spans if s.kind == 2]
    columns = []
    for slot in SLOTS:
        kinds = {k if 0 <= k <= 30 else -1 for k in slot.kinds}
        if slot.dense:
            column = []
            for s in spans:
                if s.kind != 2:
                    continue
                found = [python_value(kv.value) for kv in s.attributes if kv.key in slot.keys]
                column.append(found[-1] if found else None)
            columns.append(column)
        else:
            hits = [
                (n, python_value(kv.value))
                for n, s in enumerate(spans)
                if (s.kind if 0 <= s.kind <= 30 else -1) in kinds
                for kv in s.attributes
                if kv.key in slot.keys
            ]
            columns.append(([n for n, _ in hits], [v for _, v in hits]))
    return len(spans), groups, dense_index, times, columns


def result(payload: bytes) -> tuple:
    read = READER.read(payload)
    columns = [
        list(column) if slot.dense else (list(column[0]), list(column[1]))
        for slot, column in zip(SLOTS, read.columns, strict=True)
    ]
    return read.spans, read.groups, list(read.dense_index), list(read.times), columns


def random_value(rng: random.Random) -> AnyValue:
    pick = rng.randrange(8)
    if pick == 0:
        return AnyValue(string_value=rng.choice(["", "x", "q=1' OR 1=1--", "é\u2028ü", "a" * 300]))
    if pick == 1:
        return AnyValue(int_value=rng.choice([0, 200, -5, 2**63 - 1]))
    if pick == 2:
        return AnyValue(bool_value=rng.random() < 0.5)
    if pick == 3:
        return AnyValue(double_value=rng.choice([0.5, -1e300]))
    if pick == 4:
        return AnyValue(bytes_value=b"\x00\xff")
    if pick == 5:
        value = AnyValue()
        value.array_value.values.extend(
            [AnyValue(string_value="a"), AnyValue(int_value=3), AnyValue()][: rng.randrange(4)]
        )
        if rng.random() < 0.3:
            value.array_value.values.add().array_value.values.add(string_value="nested")
        return value
    if pick == 6:
        value = AnyValue()
        value.kvlist_value.values.add(key="k", value=AnyValue(string_value="v"))
        return value
    return AnyValue()


def random_request(rng: random.Random) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for _ in range(rng.randrange(4)):
        rs = request.resource_spans.add()
        rs.resource.attributes.add(key="url.query", value=AnyValue(string_value="resource, not span"))
        for _ in range(rng.randrange(4)):
            ss = rs.scope_spans.add()
            for _ in range(rng.randrange(6)):
                span = ss.spans.add(
                    name="s",
                    kind=rng.choice([0, 1, 2, 2, 3, 4, 5, 31, 200, -1]),
                    start_time_unix_nano=rng.choice([0, 1_700_000_000_000_000_000]),
                    end_time_unix_nano=rng.choice([0, 1_700_000_000_500_000_000]),
                )
                for _ in range(rng.randrange(6)):
                    span.attributes.add(key=rng.choice(KEYS), value=random_value(rng))
                if rng.random() < 0.2:  # event and link attributes are not the span's
                    span.events.add(name="e").attributes.add(
                        key="url.query", value=AnyValue(string_value="ev")
                    )
                    span.links.add(trace_id=b"t" * 16).attributes.add(
                        key="client.address", value=AnyValue(string_value="link")
                    )
    return request


@pytest.mark.parametrize("seed", range(300))
def test_the_columns_are_what_the_decoded_request_holds(seed):
    request = random_request(random.Random(seed))
    assert result(request.SerializeToString()) == expected(request)


# --- encodings other than the protobuf library's -------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def wrap_spans(*spans: bytes) -> bytes:
    """A request of one resource and one scope holding the encoded spans."""
    return field(1, field(2, b"".join(field(2, s) for s in spans)))


SERVER_KIND = varint(6 << 3) + varint(2)


def attribute(key: bytes, *values: bytes, key_last: bool = False) -> bytes:
    body = b"".join(field(2, v) for v in values)
    return field(9, body + field(1, key) if key_last else field(1, key) + body)


def check(payload: bytes) -> tuple:
    """The reader's result on ``payload``, checked against what protobuf decodes from it."""
    request = ExportTraceServiceRequest.FromString(payload)
    got = result(payload)
    assert got == expected(request)
    return got


def test_a_key_after_its_value_and_a_kind_after_the_attributes():
    span = attribute(b"client.address", field(1, b"203.0.113.9"), key_last=True) + SERVER_KIND
    columns = check(wrap_spans(span))[4]
    assert columns[3] == ["203.0.113.9"]


def test_a_value_given_twice_is_merged_as_protobuf_merges_it():
    two_strings = attribute(b"url.query", field(1, b"first"), field(1, b"second"))
    string_then_int = attribute(b"url.query", field(1, b"text"), varint(3 << 3) + varint(404))
    arrays = attribute(b"url.query", field(5, field(1, field(1, b"a"))), field(5, field(1, field(1, b"b"))))
    columns = check(wrap_spans(SERVER_KIND + two_strings + string_then_int + arrays))[4]
    assert columns[0][1] == ["second", 404, ("a", "b")]


def test_the_last_of_repeated_span_fields_wins():
    kind_twice = varint(6 << 3) + varint(3) + SERVER_KIND
    got = check(wrap_spans(kind_twice + attribute(b"client.address", field(1, b"a"))))
    assert got[2] == [0] and got[4][3] == ["a"]


def test_unknown_fields_and_groups_are_skipped():
    group = varint(50 << 3 | 3) + varint(1 << 3) + varint(7) + varint(50 << 3 | 4)
    fixed = varint(51 << 3 | 5) + b"\x01\x02\x03\x04" + varint(52 << 3 | 1) + b"\x00" * 8
    span = group + fixed + SERVER_KIND + attribute(b"url.query", field(1, b"q=1"))
    assert check(wrap_spans(span))[4][0] == ([0], ["q=1"])


def test_a_field_with_an_unexpected_wire_type_is_an_unknown_field():
    kind_as_bytes = field(6, b"\x02")  # kind is a varint: protobuf keeps this aside, kind stays 0
    got = check(wrap_spans(kind_as_bytes + attribute(b"client.address", field(1, b"a"))))
    assert got[2] == []


def test_an_array_split_in_many_parts_is_refused_and_the_encoding_of_the_request_is_read():
    parts = [field(5, field(1, field(1, str(i).encode()))) for i in range(9)]
    payload = wrap_spans(SERVER_KIND + attribute(b"url.query", *parts))
    request = ExportTraceServiceRequest.FromString(payload)
    with pytest.raises(ValueError, match="malformed OTLP"):
        READER.read(payload)
    assert result(request.SerializeToString())[4][0][1] == [tuple(str(i) for i in range(9))]


# --- hostile bytes ---------------------------------------------------------------------------------


def decodes(payload: bytes) -> ExportTraceServiceRequest | None:
    try:
        return ExportTraceServiceRequest.FromString(payload)
    except DecodeError:
        return None


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=st.binary(max_size=512))
def test_random_bytes_give_the_decoded_values_or_an_error(payload):
    request = decodes(payload)
    try:
        got = result(payload)
    except ValueError:
        return
    if request is not None:
        assert got == expected(request)


def test_mutated_requests_give_the_decoded_values_or_an_error():
    rng = random.Random(7)
    base = [random_request(random.Random(seed)).SerializeToString() for seed in range(40)]
    compared = refused = 0
    for _ in range(4000):
        data = bytearray(rng.choice(base))
        for _ in range(rng.randrange(1, 3)):
            if not data:
                break
            at = rng.randrange(len(data))
            op = rng.randrange(3)
            if op == 0:
                data[at] = rng.randrange(256)
            elif op == 1:
                del data[at : at + rng.randrange(1, 4)]
            else:
                data[at:at] = rng.randbytes(rng.randrange(1, 4))
        payload = bytes(data)
        request = decodes(payload)
        try:
            got = result(payload)
        except ValueError:
            refused += request is not None
            continue
        if request is not None:
            assert got == expected(request)
            compared += 1
    assert compared > 100  # enough mutations still decode for the comparison to mean something
    assert refused == 0  # what protobuf decodes, the reader reads


def test_truncated_requests_are_refused_at_every_cut():
    payload = random_request(random.Random(3)).SerializeToString()
    assert len(payload) > 200
    for cut in range(1, len(payload)):
        try:
            READER.read(payload[:cut])
        except ValueError as exc:
            assert "malformed OTLP" in str(exc)


# --- finding the spans -----------------------------------------------------------------------------


def test_span_numbers_find_the_decoded_spans_across_resources_and_empty_scopes():
    request = ExportTraceServiceRequest()
    for r in range(3):
        rs = request.resource_spans.add()
        rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=f"svc{r}"))
        rs.scope_spans.add()  # empty
        for g in range(2):
            ss = rs.scope_spans.add()
            for i in range(r + g):
                ss.spans.add(name=f"{r}/{g}/{i}", kind=Span.SPAN_KIND_SERVER)
        rs.scope_spans.add()  # empty
    read = READER.read(request.SerializeToString())
    locate = SpanLocator(request, read.groups)
    names = [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert read.spans == len(names) == 9
    for number, name in enumerate(names):
        span, resource = locate(number)
        assert span.name == name
        assert resource.attributes[0].value.string_value == f"svc{name.split('/')[0]}"


def test_slots_are_checked():
    with pytest.raises(ValueError, match="same kinds"):
        ColumnReader([Slot(("a",), {2}, dense=True), Slot(("b",), {1}, dense=True)])
    with pytest.raises(TypeError):
        ColumnReader([Slot((b"bytes key",))])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most"):
        ColumnReader([Slot(("k",)) for _ in range(65)])


def test_an_empty_request_has_no_spans():
    read = READER.read(b"")
    assert (read.spans, read.groups, list(read.dense_index)) == (0, [], [])


def test_reading_leaves_no_memory_behind_on_success_and_on_error():
    good = random_request(random.Random(11)).SerializeToString()
    bad = good[: len(good) // 2]

    def read_many(payload: bytes) -> None:
        for _ in range(2000):
            try:
                READER.read(payload)
            except ValueError:
                pass

    for payload in (good, bad):
        tracemalloc.start()
        read_many(payload)  # fills the interpreter's free lists, which tracemalloc counts as held
        before = tracemalloc.get_traced_memory()[0]
        read_many(payload)
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert grown < 10_000, f"{grown} bytes kept after 2000 reads"
