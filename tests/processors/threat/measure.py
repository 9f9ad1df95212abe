"""Recall and false-positive rates of a detector on a corpus, printed as they are asserted."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tests.processors.threat import corpora
from vigil.processors.threat.rules import Detection
from vigil.processors.threat.verdict import ATTACK_THRESHOLD, combine


@dataclass(frozen=True)
class Rate:
    name: str
    hits: int
    total: int
    examples: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0


def recall(name: str, values: Iterable[str], detect: Callable[[str], Iterable[Detection]]) -> Rate:
    values = list(values)
    missed = [v for v in values if combine(detect(v)) < ATTACK_THRESHOLD]
    rate = Rate(name, len(values) - len(missed), len(values), tuple(missed[:5]))
    print(f"recall {name}: {rate.rate:.4f} ({rate.hits}/{rate.total}); missed e.g. {list(rate.examples)[:3]}")
    return rate


def false_positives(name: str, values: Iterable[str], detect: Callable[[str], Iterable[Detection]]) -> Rate:
    values = list(values)
    flagged_values = [v for v in values if combine(detect(v)) >= ATTACK_THRESHOLD]
    rate = Rate(name, len(flagged_values), len(values), tuple(flagged_values[:5]))
    print(f"false positives {name}: {rate.rate:.4f} ({rate.hits}/{rate.total}); {list(rate.examples)}")
    return rate


NONE_FLAGGED = {"httpparams norm": 0, "libinjection false_positives": 0, "vigil benign_values": 0}
"""What ``benign_hits`` returns for a detector without false positives."""


def benign_hits(detect: Callable[[str], Iterable[Detection]]) -> dict[str, int]:
    """Values ``detect`` flags as attacks in each benign corpus (printed, as for ``false_positives``)."""
    return {
        name: false_positives(name, values, detect).hits
        for name, values in (
            ("httpparams norm", corpora.httpparams_label("norm")),
            ("libinjection false_positives", corpora.libinjection_false_positives()),
            ("vigil benign_values", corpora.benign_values()),
        )
    }
