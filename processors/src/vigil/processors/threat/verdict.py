"""From the detections on an item to its calibrated threat score, categories and rules.

Each rule counts once, at its strongest; the rules' scores combine as independent evidence
(noisy-OR: ``1 - (1 - s1) * (1 - s2) * ...``). One strong rule is enough for an attack verdict
(>= 0.5, :data:`ATTACK_THRESHOLD`), two weak ones of 0.3 stay a suspicion (0.51 is just over:
weak evidence has to come from several independent places to count as an attack).

Categories are listed strongest first; so are rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vigil.processors.threat.rules import Detection

ATTACK_THRESHOLD = 0.5
"""Scores at or above this mean "this is an attack"; below it a score is a graded suspicion."""


@dataclass(frozen=True)
class Verdict:
    """The threat assessment of one span or log record."""

    score: float
    categories: tuple[str, ...]
    rules: tuple[str, ...]

    @property
    def is_attack(self) -> bool:
        return self.score >= ATTACK_THRESHOLD


def strongest(detections: Iterable[Detection]) -> dict[str, Detection]:
    """Each rule's strongest detection, by rule id."""
    best: dict[str, Detection] = {}
    for found in detections:
        held = best.get(found.rule)
        if held is None or found.score > held.score:
            best[found.rule] = found
    return best


def combine(detections: Iterable[Detection]) -> float:
    """The noisy-OR of each rule's strongest score, rounded to 3 decimals (0 with no detection)."""
    remaining = 1.0
    for found in strongest(detections).values():
        remaining *= 1.0 - found.score
    return round(1.0 - remaining, 3)


def verdict(detections: Iterable[Detection]) -> Verdict | None:
    """The :class:`Verdict` for ``detections``, or None when there are none (or all score 0)."""
    best = sorted(strongest(detections).values(), key=lambda d: (-d.score, d.rule))
    best = [d for d in best if d.score > 0]
    if not best:
        return None
    remaining = 1.0
    categories: dict[str, None] = {}
    for found in best:
        remaining *= 1.0 - found.score
        categories.setdefault(found.category)
    return Verdict(round(1.0 - remaining, 3), tuple(categories), tuple(d.rule for d in best))
