"""Combining detections into the calibrated score."""

from __future__ import annotations

from vigil.processors.threat.rules import detection
from vigil.processors.threat.verdict import ATTACK_THRESHOLD, combine, verdict


def test_no_detection_no_verdict():
    assert verdict([]) is None
    assert combine([]) == 0


def test_each_rule_counts_once_at_its_strongest():
    weak, strong = detection("sqli.union", 0.5), detection("sqli.union")
    assert combine([weak, strong, weak]) == strong.score


def test_independent_evidence_adds_up_noisy_or():
    a, b = detection("ssrf.loopback"), detection("ssrf.private-host")  # 0.45 and 0.3
    assert combine([a]) < ATTACK_THRESHOLD and combine([b]) < ATTACK_THRESHOLD
    assert combine([a, b]) == round(1 - (1 - 0.45) * (1 - 0.3), 3) >= ATTACK_THRESHOLD


def test_categories_and_rules_strongest_first():
    result = verdict(
        [detection("traversal.os-file"), detection("sqli.union"), detection("sqli.system-probe")]
    )
    assert result.categories == ("sqli", "traversal")
    assert result.rules == ("sqli.union", "traversal.os-file", "sqli.system-probe")
    assert result.is_attack
