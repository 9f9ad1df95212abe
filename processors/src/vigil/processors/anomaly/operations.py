"""Per-operation baselines of span latency and error rate, learned as spans stream by.

An *operation* is a (service, span name, span kind) triple: ``("shop", "GET /items", SERVER)``.
For each one Vigil keeps, in a fixed-size table:

- the typical log-latency (an exponentially weighted mean of ``ln(duration in ms)``) and its
  spread (the weighted mean absolute deviation around it). Working on the log makes the baseline
  scale-free: a 5 ms query and a 2 s report are judged by the same rule, by ratios;
- the error rate (a weighted mean of "status is ERROR").

A span then scores by how far it sits from its operation's baseline:

Latency
    ``z = (ln d - centre) / (1.25 x spread)``, the distance in robust standard deviations
    (1.25 x the mean absolute deviation is one standard deviation for normal data), counted only
    for spans *slower* than usual and at least ``min_excess_ms`` slower (a 40 µs span taking
    120 µs is not news). ``z = 5`` scores 0.5 (:mod:`.calibration`). The spread has a floor of 0.1
    (10 %), so an operation that always takes exactly 2 ms does not alarm at 2.3 ms.
    A slowdown of the whole operation counts too: the mean log-latency of its last 20 spans
    (outliers clipped at 4 sigmas, the batch included) against the baseline, in standard errors
    of such a mean; 6 of them score 0.5. It lifts the score of spans that are themselves slower
    than usual (by one sigma or more), so that a 3x slowdown, which single spans of a spread-out
    operation hide, is reported on the slow spans it makes.
Error
    errors are judged as a rate, not one by one: an ERROR span scores by how unlikely ``k``, the
    errors among the operation's last ``error_window_spans`` spans (20) and its batch, is at the
    operation's usual error rate ``p`` (floored at 0.1 %): the surprise ``-ln P(X >= k)`` for
    ``X ~ Poisson(20 p)``, with 1 % scoring 0.5. An isolated error of an operation that fails
    0.2 % of the time scores 0.33 (one is expected every 500 spans); two within 20 spans score 0.7;
    where the operation fails half the time, errors score ~0.

Warm-up is explicit: an operation seen fewer than ``warmup_spans`` times has no baseline yet, and
its spans get no score (the scorer marks them ``vigil.anomaly.warmup``).

Learning: each batch moves the baseline by a weight that starts as a plain running mean (the
first spans count fully) and settles at a half-life of ``halflife_seconds`` of event time (10
minutes; but never fewer than ``min_halflife_spans`` spans, 50, for a quiet operation), so the
baseline follows a slow change of normal whatever the traffic. Spans beyond 4 robust sigmas are
clipped there and learnt at a fifth of the weight, so a lasting fault is reported for the better
part of an hour before it becomes the new normal; the error rate is learnt five times more slowly
as well.

Memory is bounded: at most ``max_operations`` operations; when the table is full, the tenth of
them seen least recently is forgotten (each costs ~50 bytes in the table plus its key).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammainc

from vigil.processors.anomaly.calibration import calibrate
from vigil.processors.anomaly.learning import learning_weight

_SPREAD_FLOOR = 0.1
_ERROR_FLOOR = 1e-3
_CLIP_SIGMAS = 4.0
_OUTLIER_WEIGHT = 0.2
_SHIFT_AT_HALF = 6.0


@dataclass(frozen=True)
class SpanScores:
    """Scores of one batch of spans, aligned with the batch."""

    warm: NDArray[np.bool_]
    """Whether the span's operation had a baseline (False: no score)."""
    latency: NDArray[np.float64]
    error: NDArray[np.float64]
    z: NDArray[np.float64]
    """Robust z of the log-latency (0 for spans not slower than usual)."""


class OperationBaselines:
    """Latency and error-rate baselines for up to ``max_operations`` operations."""

    def __init__(
        self,
        *,
        max_operations: int = 10_000,
        warmup_spans: int = 30,
        halflife_seconds: float = 600.0,
        min_halflife_spans: float = 50.0,
        error_window_spans: int = 20,
        latency_at_half: float = 5.0,
        error_at_half: float = -math.log(0.01),
        min_excess_ms: float = 1.0,
    ) -> None:
        if max_operations < 10:
            raise ValueError("max_operations must be at least 10")
        self.max_operations = max_operations
        self.warmup_spans = warmup_spans
        self.halflife_seconds = halflife_seconds
        self.min_halflife_spans = min_halflife_spans
        self.error_window_spans = error_window_spans
        self.latency_at_half = latency_at_half
        self.error_at_half = error_at_half
        self.min_excess_ms = min_excess_ms
        self._clear()

    def _clear(self) -> None:
        size = self.max_operations
        self._slots: dict[Hashable, int] = {}
        self._keys: list[Hashable | None] = [None] * size
        self._free = list(range(size - 1, -1, -1))
        self._count = np.zeros(size, dtype=np.int64)
        self._centre = np.zeros(size)
        self._spread = np.zeros(size)
        self._errors = np.zeros(size)
        self._recent_errors = np.zeros(size)
        self._recent_centre = np.zeros(size)
        self._learnt_at = np.zeros(size, dtype=np.int64)
        self._last_seen = np.zeros(size, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._slots)

    def slots(self, keys: Sequence[Hashable], now: int) -> NDArray[np.intp]:
        """Table slots of ``keys`` (new operations get fresh slots), stamped as seen at ``now``."""
        get = self._slots.get
        found = [get(key) for key in keys]
        if None in found:
            for i, slot in enumerate(found):
                if slot is None:
                    # (a key twice in the batch is assigned once)
                    found[i] = get(keys[i]) if keys[i] in self._slots else self._assign(keys[i])
        out = np.array(found, dtype=np.intp)
        self._last_seen[out] = now
        return out

    def score(
        self, slots: NDArray[np.intp], duration_ns: NDArray[np.int64], error: NDArray[np.bool_]
    ) -> SpanScores:
        """Score a batch against the baselines as they were before it (then call :meth:`learn`)."""
        log_ms = _log_ms(duration_ns)
        warm = self._count[slots] >= self.warmup_spans
        centre = self._centre[slots]
        sigma = np.maximum(self._spread[slots] * 1.25, _SPREAD_FLOOR)
        z = (log_ms - centre) / sigma
        # A shift of the operation as a whole: the mean of its recent log-latencies (clipped, the
        # batch included) against the baseline, in standard errors of a window's mean. A 3x
        # slowdown hides in the spread span by span, but not in 20 spans together.
        window = self.error_window_spans
        clipped = np.minimum(log_ms, centre + _CLIP_SIGMAS * sigma)
        n = np.bincount(slots, minlength=self.max_operations)[slots]
        batch_mean = np.bincount(slots, weights=clipped, minlength=self.max_operations)[slots] / n
        keep = (1.0 - 1.0 / window) ** n
        recent = self._recent_centre[slots] * keep + (1.0 - keep) * batch_mean
        shift = (recent - centre) / (sigma / math.sqrt(window))
        # Only a span slower than usual itself carries the shift's evidence.
        z = np.where(z > 1.0, np.maximum(z, shift * self.latency_at_half / _SHIFT_AT_HALF), z)
        excess_ms = duration_ns / 1e6 - np.exp(centre)
        z = np.where(warm & (z > 0) & (excess_ms >= self.min_excess_ms), z, 0.0)
        error_surprise = np.zeros(len(slots))
        failed = warm & error
        if failed.any():
            # How unlikely this many errors among the operation's last spans are, at its usual
            # error rate: the Poisson tail P(X >= k), k = recent errors and this batch's.
            window = self.error_window_spans
            usual = window * np.maximum(self._errors[slots[failed]], _ERROR_FLOOR)
            in_batch = np.bincount(slots, weights=error, minlength=self.max_operations)[slots[failed]]
            k = self._recent_errors[slots[failed]] * window + in_batch
            error_surprise[failed] = -np.log(np.maximum(gammainc(k, usual), 1e-300))
        return SpanScores(
            warm=warm,
            latency=calibrate(z, self.latency_at_half),
            error=calibrate(error_surprise, self.error_at_half),
            z=z,
        )

    def learn(
        self, slots: NDArray[np.intp], duration_ns: NDArray[np.int64], error: NDArray[np.bool_], now: int
    ) -> None:
        """Move the baselines of the batch's operations towards what the batch showed."""
        if len(slots) == 0:
            return
        log_ms = _log_ms(duration_ns)
        ops, inverse, n = np.unique(slots, return_inverse=True, return_counts=True)
        count = self._count[ops]
        centre, spread = self._centre[ops], self._spread[ops]
        warm = count >= self.warmup_spans
        # Outliers of a warm baseline are clipped at 4 sigmas and learnt at a fifth of the weight:
        # they are reported for a while rather than absorbed at once; a lasting change still
        # becomes the new normal, five times more slowly.
        sigma = np.maximum(spread * 1.25, _SPREAD_FLOOR)
        lo, hi = centre - _CLIP_SIGMAS * sigma, centre + _CLIP_SIGMAS * sigma
        clipped = np.where(warm[inverse], np.clip(log_ms, lo[inverse], hi[inverse]), log_ms)
        outlier = warm[inverse] & (np.abs(log_ms - centre[inverse]) > _CLIP_SIGMAS * sigma[inverse])
        w = np.where(outlier, _OUTLIER_WEIGHT, 1.0)
        n_eff = np.bincount(inverse, weights=w)
        batch_mean = np.bincount(inverse, weights=w * clipped) / n_eff
        reference = np.where(count > 0, centre, batch_mean)
        batch_spread = np.bincount(inverse, weights=w * np.abs(clipped - reference[inverse])) / n_eff
        # (outliers slow it down either way: n_eff / n is 0.2 for a batch of outliers only)
        elapsed = np.maximum(now - self._learnt_at[ops], 0) / 1e9
        halflife, min_spans = self.halflife_seconds, self.min_halflife_spans
        weight = learning_weight(count, n_eff, elapsed, halflife, min_spans, n_eff / n)
        self._centre[ops] = centre + weight * (batch_mean - centre)
        self._spread[ops] = spread + weight * (batch_spread - spread)
        # Errors are learnt five times more slowly than latency: a failing dependency should stay
        # news for longer than a slow one.
        batch_errors = np.bincount(inverse, weights=error.astype(np.float64)) / n
        error_weight = learning_weight(count, n, elapsed, halflife, min_spans, 0.2)
        self._errors[ops] += error_weight * (batch_errors - self._errors[ops])
        keep = (1.0 - 1.0 / self.error_window_spans) ** n
        self._recent_errors[ops] = self._recent_errors[ops] * keep + (1.0 - keep) * batch_errors
        recent = np.where(count > 0, self._recent_centre[ops], batch_mean)
        self._recent_centre[ops] = recent * keep + (1.0 - keep) * np.bincount(inverse, weights=clipped) / n
        self._learnt_at[ops] = now
        self._count[ops] = count + n

    def baseline_ms(self, key: Hashable) -> float | None:
        """The typical latency of an operation in ms, or None before warm-up (for reports)."""
        slot = self._slots.get(key)
        if slot is None or self._count[slot] < self.warmup_spans:
            return None
        return float(math.exp(self._centre[slot]))

    def _assign(self, key: Hashable) -> int:
        if not self._free:
            self._evict(max(1, self.max_operations // 10))
        slot = self._free.pop()
        self._slots[key] = slot
        self._keys[slot] = key
        self._count[slot] = 0
        self._centre[slot] = self._spread[slot] = self._errors[slot] = self._recent_errors[slot] = 0.0
        self._learnt_at[slot] = 0
        self._recent_centre[slot] = 0.0
        return slot

    def _evict(self, how_many: int) -> None:
        used = np.fromiter(self._slots.values(), dtype=np.intp, count=len(self._slots))
        coldest = used[np.argpartition(self._last_seen[used], how_many - 1)[:how_many]]
        for slot in coldest.tolist():
            del self._slots[self._keys[slot]]
            self._keys[slot] = None
            self._free.append(slot)

    def snapshot(self) -> dict[str, Any]:
        used = sorted(self._slots.values())
        return {
            "keys": [self._keys[s] for s in used],
            "count": self._count[used].copy(),
            "centre": self._centre[used].copy(),
            "spread": self._spread[used].copy(),
            "errors": self._errors[used].copy(),
            "recent_errors": self._recent_errors[used].copy(),
            "learnt_at": self._learnt_at[used].copy(),
            "recent_centre": self._recent_centre[used].copy(),
            "last_seen": self._last_seen[used].copy(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        keep = min(len(state["keys"]), self.max_operations)
        order = np.argsort(state["last_seen"])[::-1][:keep]  # the most recently seen, if fewer fit
        self._clear()
        for i in order.tolist():
            slot = self._assign(state["keys"][i])
            self._count[slot] = state["count"][i]
            self._centre[slot] = state["centre"][i]
            self._spread[slot] = state["spread"][i]
            self._errors[slot] = state["errors"][i]
            self._recent_errors[slot] = state["recent_errors"][i]
            self._learnt_at[slot] = state["learnt_at"][i]
            self._recent_centre[slot] = state["recent_centre"][i]
            self._last_seen[slot] = state["last_seen"][i]


def _log_ms(duration_ns: NDArray[np.int64]) -> NDArray[np.float64]:
    # Floor at 1 µs: a zero or negative duration (clock skew) must not give -inf.
    return np.log(np.maximum(duration_ns, 1_000) / 1e6)
