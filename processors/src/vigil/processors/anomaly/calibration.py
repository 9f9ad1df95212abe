"""Turning a detector's raw surprise into Vigil's calibrated 0..1 score.

Every anomaly detector measures "how unusual" in its own unit: robust standard deviations of
log-latency, an IsolationForest path-length score, the rarity of a log template, a population
stability index. :func:`calibrate` maps any such non-negative surprise onto 0..1 with one shape,

    score = s² / (s² + h²)

where ``h`` is the surprise the detector's authors judge to be "just anomalous": it lands exactly
on 0.5, Vigil's alerting threshold. The curve is monotone, 0 for no surprise, and saturates slowly
(``s = 2h`` gives 0.8, ``s = 3h`` gives 0.9), so scores above the threshold still rank severity.
Each detector documents its ``h`` (e.g. 4 robust sigmas for span latency).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def calibrate(surprise: ArrayLike, at_half: float) -> NDArray[np.float64]:
    """Scores in 0..1 for non-negative ``surprise`` values; ``at_half`` maps to 0.5. Negative or
    NaN surprise counts as none."""
    s = np.nan_to_num(np.asarray(surprise, dtype=np.float64), nan=0.0, posinf=1e12)
    s = np.clip(s, 0.0, 1e12)
    squared = s * s
    return squared / (squared + at_half * at_half)


def calibrate_one(surprise: float, at_half: float) -> float:
    """:func:`calibrate` for a single value."""
    if not surprise > 0.0:  # also catches NaN
        return 0.0
    squared = min(surprise, 1e12) ** 2
    return squared / (squared + at_half * at_half)
