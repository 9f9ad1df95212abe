"""Decoding: every layer attackers use, undone, bounded, and never raising."""

from __future__ import annotations

import random
import time

import pytest

from vigil.processors.threat.decoding import MAX_CHARS, clip, decode, percent_decode


@pytest.mark.parametrize(
    "raw,decoded",
    [
        ("%27%20OR%201%3D1", "' OR 1=1"),
        ("%2527", "'"),  # double encoding
        ("%25252e%25252e%25252f", "../"),  # triple
        ("%%32%65", "."),  # an escape whose digits are themselves escaped
        ("%u003cscript%u003e", "<script>"),  # IIS %u
        ("%c0%ae%c0%ae%c0%af", "../"),  # overlong UTF-8
        ("%e0%80%ae", "."),  # three-byte overlong
        ("caf%C3%A9", "café"),
        ("almad%e9n", "almadén"),  # not UTF-8: read as Latin-1
        ("&lt;svg&gt;", "<svg>"),
        ("&#106;&#x61;vascript&colon;", "javascript:"),
        ("&#106avascript", "javascript"),  # numeric reference without ;
        ("java&Tab;script", "java\tscript"),
        ("\\u003cimg\\x20src\\u{3D}x\\u003e", "<img src=x>"),
        ("+ADw-script+AD4-", "<script>"),  # UTF-7
        ("\uff1cscript\uff1e", "<script>"),  # full-width forms
        ("%EF%BC%9Cscript", "<script"),  # full-width, percent-encoded
    ],
)
def test_layers(raw, decoded):
    assert decode(raw) == decoded


def test_plus_is_a_space_only_in_query_strings_and_only_once():
    assert decode("a+b", query=True) == "a b"
    assert decode("a+b") == "a+b"
    assert decode("1%2B1", query=True) == "1+1"  # an encoded + is a plus
    assert decode("C%2B%2B+primer", query=True) == "C++ primer"


@pytest.mark.parametrize(
    "raw",
    [
        "%",
        "%%",
        "%zz",
        "%2",
        "%u12",
        "%uzzzz",
        "&#;",
        "&#xZZ;",
        "&#99999999;",
        "\\u12",
        "\\xZ",
        "\\u{110000}",
        "+-",
        "+AD",
        "100% cotton",
        "50%25 off",
        "AT&T",
        "C:\\new\\table",
        "a\\x",
    ],
)
def test_invalid_or_partial_sequences_stay_or_are_replaced(raw):
    out = decode(raw)
    assert isinstance(out, str)
    assert "\ud800" not in out  # no lone surrogates ever come out


def test_surrogates_and_out_of_range_code_points_are_replaced():
    assert decode("\\ud800") == "\ufffd"
    assert decode("&#xD800;") == "\ufffd"
    out = decode("%ed%a0%80")  # an encoded surrogate is not UTF-8: read as Latin-1
    assert out[0] == "í" and not any(0xD800 <= ord(c) <= 0xDFFF for c in out)


def test_benign_text_is_unchanged():
    for value in ("O'Brien", "Tom & Jerry", "100% cotton", "a/b/c", "x=1&y=2", "naïve café", "日本語"):
        assert decode(value) == value


def test_rounds_are_bounded():
    # five layers of encoding: four are undone, the fifth stays
    value = "'"
    for _ in range(5):
        value = value.replace("%", "%25") if "%" in value else "%27"
    assert decode(value) == "%27"


def test_huge_values_are_clipped_to_head_and_tail():
    value = "a" * 100_000 + "<script>"
    out = decode(value)
    assert len(out) <= MAX_CHARS and out.endswith("<script>")
    assert clip("x" * 10) == "x" * 10


def test_never_raises_and_stays_fast_on_hostile_input():
    rng = random.Random(4)
    pieces = [
        "%",
        "%2",
        "%25",
        "%u",
        "%c0",
        "%ff",
        "&#",
        "&#x",
        ";",
        "\\u",
        "\\x",
        "\\u{",
        "+A",
        "+ADw-",
        "\x00",
        "\udcff",
        "\uff05",
        "a",
        "\ufdfa",
    ]
    start = time.perf_counter()
    for _ in range(3000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        assert isinstance(decode(value, query=True), str)
        assert isinstance(percent_decode(value), str)
    assert time.perf_counter() - start < 10
    for piece in ("%25" * 20_000, "&amp;" * 20_000, "\\u0025" * 20_000, "\ufdfa" * 20_000):
        started = time.perf_counter()
        decode(piece)
        assert time.perf_counter() - started < 0.5
