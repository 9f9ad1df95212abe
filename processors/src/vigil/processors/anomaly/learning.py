"""How fast a baseline learns: one rule for operation baselines and trace shapes.

A batch of ``new`` items moves a baseline that has seen ``seen`` items by a weight that is

- at first a plain running mean, ``new / (seen + new)``: the first items count fully;
- later an exponential half-life of ``halflife_s`` seconds of event time, but never fewer than
  ``min_halflife_items`` items, so the baseline follows a slow change of normal whatever the
  traffic (a busy operation does not forget in seconds, a quiet one does not freeze);
- scaled down by ``strength`` (0..1) for evidence learnt reluctantly: outliers, anomalous traces,
  errors.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def learning_weight(
    seen: ArrayLike,
    new: ArrayLike,
    elapsed_s: ArrayLike,
    halflife_s: float,
    min_halflife_items: float,
    strength: ArrayLike = 1.0,
) -> NDArray[np.float64]:
    """The weight (0..1) of a batch against the baseline (see the module docstring); a float for
    scalar arguments (numpy costs ~4 µs a call on scalars: the trace path calls it per trace),
    an array otherwise."""
    if isinstance(seen, int | float) and isinstance(new, int | float) and isinstance(elapsed_s, int | float):
        steps = min(elapsed_s / halflife_s, new / min_halflife_items) * float(strength)  # type: ignore[arg-type]
        return max(new / (seen + new), 1.0 - 0.5**steps)  # type: ignore[return-value]
    seen, new = np.asarray(seen, dtype=np.float64), np.asarray(new, dtype=np.float64)
    steps = np.minimum(np.asarray(elapsed_s) / halflife_s, new / min_halflife_items) * strength
    return np.maximum(new / (seen + new), 1.0 - 0.5**steps)
