"""The labelled corpora the threat detectors are measured on (shared/ beside the clone), and ours.

``../shared/corpora`` (see its README): libinjection's SQLi and XSS attack files and its
false_positives.txt, payloadbox's SQLi payloads, and HttpParamsDataset's labelled parameter
values. ``benign_values.txt`` and ``attack_values.txt`` here are Vigil's own: realistic benign
values (names with apostrophes, addresses, searches, JSON, base64, URLs, prose, code from a
support form) and attacks written from the techniques' descriptions rather than these corpora.
"""

from __future__ import annotations

import csv
import functools
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
