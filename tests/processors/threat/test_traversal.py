"""Path traversal: recall on the attack corpus, false positives on benign values."""

from __future__ import annotations

import pytest

from tests.processors.threat import corpora
from tests.processors.threat.measure import NONE_FLAGGED, benign_hits, recall
from vigil.processors.threat import traversal
from vigil.processors.threat.decoding import decode
from vigil.processors.threat.verdict import combine


def detect(value: str):
    return traversal.analyse(decode(value, query=True))


def test_recall_on_httpparams_path_traversal():
    # This corpus is a fuzzer's list: a quarter of it has no traversal left to see ("/aaaa...a" buffer
    # probes, "/////{file}" and "/iii{file}" placeholders, "etcpasswd" with the separators stripped).
    assert (
        recall("httpparams path-traversal", corpora.httpparams_label("path-traversal"), detect).rate >= 0.74
    )


def test_recall_on_our_own_traversal():
    ours = [v for category, v in corpora.attack_values() if category == "traversal"]
    assert recall("vigil attack_values traversal", ours, detect).rate == 1.0


def test_false_positives_on_benign_values():
    assert benign_hits(detect) == NONE_FLAGGED


@pytest.mark.parametrize(
    "value",
    [
        "../images/logo.png",
        "Hmm...",
        "see /docs/... for more",
        "/home/alice/notes.txt",
        "v1.2.3",
        "passwd command not working",
        "edit your hosts file",
        "C:\\Users\\Public\\report.docx",
    ],
)
def test_relative_links_and_paths_stay_quiet(value):
    assert combine(detect(value)) < 0.5


@pytest.mark.parametrize(
    "value",
    [
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%252e%252e%252fetc%252fpasswd",
        "..%c0%af..%c0%afetc/passwd",
        "..%5c..%5cwindows%5cwin.ini",
        "%u002e%u002e/%u002e%u002e/etc/passwd",
        "/0x2e0x2e/0x2e0x2e/etc/passwd",
        "....//....//etc/passwd",
        "..;/..;/WEB-INF/web.xml",
    ],
)
def test_encoded_traversal_is_decoded(value):
    assert combine(detect(value)) >= 0.5


def test_one_climb_in_a_request_path_is_an_attack():
    assert combine(traversal.analyse("/static/../app.py", in_path=True)) >= 0.5
    assert combine(traversal.analyse("../app.py")) < 0.5  # a relative link in a parameter
