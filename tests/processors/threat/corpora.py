"""The labelled corpora the threat detectors are measured on (shared/ beside the clone), and ours.

``../shared/corpora`` (see its README): libinjection's SQLi and XSS attack files and its
false_positives.txt, payloadbox's SQLi payloads, and HttpParamsDataset's labelled parameter
values. ``benign_values.txt`` and ``attack_values.txt`` here are Vigil's own: realistic benign
values (names with apostrophes, addresses, searches, JSON, base64, URLs, prose, code from a
support form) and attacks written from the techniques' descriptions rather than these corpora.

Some HttpParamsDataset rows are no attack of their label as recorded: fuzzer templates whose
``{file}`` placeholder leaves nothing that climbs, rows whose backslashes or ``<`` the dataset
lost, plain words. :data:`HTTPPARAMS_EXCLUSIONS` names them, each group with its reason;
:func:`httpparams_attacks` is a label without them and :func:`httpparams_excluded` counts what
each reason removes. Recall is reported on both, the whole label and its attacks.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CORPORA = ROOT.parent / "shared" / "corpora"
HERE = Path(__file__).resolve().parent


def available() -> bool:
    return (CORPORA / "httpparams" / "payload_train.csv").is_file()


def _lines(path: Path, comment: str = "#") -> list[str]:
    """Non-empty lines not starting with ``comment``, as text (undecodable bytes replaced)."""
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip() and not line.startswith(comment):
            lines.append(line)
    return lines


@functools.cache
def libinjection_sqli() -> tuple[str, ...]:
    return tuple(x for p in sorted((CORPORA / "libinjection").glob("sqli-*.txt")) for x in _lines(p))


@functools.cache
def libinjection_xss() -> tuple[str, ...]:
    return tuple(x for p in sorted((CORPORA / "libinjection").glob("xss-*.txt")) for x in _lines(p))


@functools.cache
def libinjection_false_positives() -> tuple[str, ...]:
    return tuple(_lines(CORPORA / "libinjection" / "false_positives.txt"))


@functools.cache
def payloadbox_sqli() -> tuple[str, ...]:
    return tuple(x for p in sorted((CORPORA / "payloadbox").rglob("*.txt")) for x in _lines(p))


@functools.cache
def httpparams() -> tuple[tuple[str, str], ...]:
    """(value, label) with label in norm / sqli / xss / path-traversal / cmdi."""
    with (CORPORA / "httpparams" / "payload_train.csv").open(encoding="utf-8", newline="") as f:
        return tuple((row["payload"], row["attack_type"]) for row in csv.DictReader(f))


def httpparams_label(label: str) -> tuple[str, ...]:
    return tuple(value for value, attack in httpparams() if attack == label)


@dataclass(frozen=True)
class Exclusion:
    """Rows of a label that are no attack of that kind, and why (``applies`` picks them)."""

    reason: str
    applies: Callable[[str], bool]


def _dots(value: str) -> str:
    return re.sub("(?i)0x2e", ".", value)  # the hex notation of traversal fuzzers


_SEPARATORS_LOST = re.compile(r"etcpasswd|windowswin|web-infweb|inetpubwwwroot|[.:]oot\.ini|(?<!0)x2e")

HTTPPARAMS_EXCLUSIONS: dict[str, tuple[Exclusion, ...]] = {
    "path-traversal": (
        Exclusion(
            "unfilled {file} template without any '..' ('//{file}', '/iii{file}', '/./.{file}'): whatever "
            "the fuzzer puts in, the path stays below the root or the current directory",
            lambda v: "{file}" in v and ".." not in _dots(v),
        ),
        Exclusion("'/./' alone: the current directory", lambda v: v == "/./"),
        Exclusion(
            "backslashes lost by the dataset: 'c:windowswin.ini' was c:\\windows\\win.ini, "
            "'......etcpasswd' ..\\..\\..\\etc\\passwd, 'oot.ini' \\boot.ini (\\b read as a "
            "backspace), '0x2e0x2ex2e' lost the '\\' or '0' before 'x2e': no separator is left, nothing "
            "climbs or names a file",
            lambda v: bool(_SEPARATORS_LOST.search(v)),
        ),
        Exclusion(
            "length probe: '/' and hundreds of 'a' ending in dots, then {file}: a long name, no "
            "separator after the dots, so no climb (Windows drops a name's trailing dots)",
            lambda v: bool(re.fullmatch(r"/a{100,}\.+\{file\}", v)),
        ),
    ),
    "cmdi": (
        Exclusion(
            "a plain word without separator, substitution or arguments ('id', 'asdf3334', a quoted "
            "'true'): the same value is an ordinary id, name or flag in any form",
            lambda v: v in ("id", "asdf3334", "'true'", "'false'"),
        ),
    ),
    "xss": (
        Exclusion(
            "markup stripped by the dataset: '<' removed ('scriptalert(1)/script'), no tag left",
            lambda v: "/script" in v and "<" not in v,
        ),
        Exclusion(
            "plain markup that runs nothing: a link, an image, closing tags",
            lambda v: (
                v
                in (
                    '<a href="http://server.com/">crosssitescripting</a>',
                    "</body></html>",
                    '<img src="http://www.vulnerability-lab.com/file.php?variables=malicious">',
                )
            ),
        ),
        Exclusion(
            "fragments without script: 'a=\"get\";', a style with a number for a value, and "
            "'javascript#...', which is a relative link (no scheme without the colon)",
            lambda v: (
                v
                in (
                    'a="get";',
                    "<div style=\"background-image:52c8'a161332904a1c5248.10278.1053379'9\">",
                    '>"<a href="javascript#document.cookie=true;">',
                )
            ),
        ),
    ),
}
"""HttpParamsDataset rows that are no attack of their label, by label."""


def _exclusion(label: str, value: str) -> Exclusion | None:
    return next((e for e in HTTPPARAMS_EXCLUSIONS.get(label, ()) if e.applies(value)), None)


@functools.cache
def httpparams_attacks(label: str) -> tuple[str, ...]:
    """The rows labelled ``label`` without those :data:`HTTPPARAMS_EXCLUSIONS` names."""
    return tuple(v for v in httpparams_label(label) if _exclusion(label, v) is None)


def httpparams_excluded(label: str) -> dict[str, int]:
    """How many rows labelled ``label`` each exclusion removes, by reason."""
    counts = {e.reason: 0 for e in HTTPPARAMS_EXCLUSIONS.get(label, ())}
    for value in httpparams_label(label):
        found = _exclusion(label, value)
        if found is not None:
            counts[found.reason] += 1
    return counts


@functools.cache
def benign_values() -> tuple[str, ...]:
    """Our own realistic benign values."""
    return tuple(_lines(HERE / "benign_values.txt", comment="# "))


@functools.cache
def attack_values() -> tuple[tuple[str, str], ...]:
    """Our own attacks: (category, value)."""
    pairs = []
    for line in _lines(HERE / "attack_values.txt", comment="# "):
        category, _, value = line.partition(" ")
        pairs.append((category, value))
    return tuple(pairs)
