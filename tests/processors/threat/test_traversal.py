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
    # The attacks of this fuzzer's list: the rows with no traversal left to see are set apart in
    # corpora.HTTPPARAMS_EXCLUSIONS, with their reasons (counted in the next test).
    assert (
        recall("httpparams path-traversal attacks", corpora.httpparams_attacks("path-traversal"), detect).rate
        >= 0.99
    )
    # All rows: "/aaaa...a..{file}" length probes, "/////{file}" placeholders, "etcpasswd" with
    # the separators lost are missed, as they should be.
    assert (
        recall("httpparams path-traversal", corpora.httpparams_label("path-traversal"), detect).rate >= 0.77
    )


def test_excluded_rows_are_counted():
    assert list(corpora.httpparams_excluded("path-traversal").values()) == [17, 1, 14, 12]
    assert len(corpora.httpparams_attacks("path-traversal")) == 193 - 44


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
        # paths in a sentence: climbs there count less, a target file is only a suspicion
        "cd ../.. and run make again",
        "I ran cd ../../ then make",
        "import x from '../../utils/format'",
        "Copy it from ..\\..\\templates\\invoice.docx",
        "I uploaded it to /home/alice/.../drafts",
        "the log is at /var/log/nginx/error.log",
        "my /etc/passwd file got corrupted after the upgrade",
        "Wait.../what?",
        "see /docs/... for more",
        "/api/{id}/items",
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
        "/static/..%5c..%5c..%5cwindows%5csystem32%5cdrivers%5cetc%5chosts",
    ],
)
def test_encoded_traversal_is_decoded(value):
    assert combine(detect(value)) >= 0.5


@pytest.mark.parametrize(
    "value,rule",
    [
        ("/..?x=1", "traversal.dot-dot"),  # the segment ends where the query starts
        ("/../../{file}", "traversal.dot-dot"),
        ("/..{file}", "traversal.dot-dot"),  # a fuzzer's unfilled placeholder stands for the target
        ("/...{file}", "traversal.dot-evasion"),
        ("/.../.../etc/passwd", "traversal.dot-evasion"),
        ("; cat ../../../etc/shadow", "traversal.dot-dot"),  # after a command: not prose
    ],
)
def test_segment_ends(value, rule):
    found = detect(value)
    assert rule in {d.rule for d in found} and combine(found) >= 0.5, found


def test_one_climb_in_a_request_path_is_an_attack():
    assert combine(traversal.analyse("/static/../app.py", in_path=True)) >= 0.5
    assert combine(traversal.analyse("../app.py")) < 0.5  # a relative link in a parameter
