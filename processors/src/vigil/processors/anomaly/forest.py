"""The multivariate span model: an IsolationForest over a few span features, refitted in the background.

Per-operation baselines judge one feature at a time. Some anomalies are only unusual in
combination: a fast span with an extra event (an exception swallowed early), an operation of a
kind it never has, a span with far more attributes than spans of its latency usually carry. The
forest sees, per span:

===================  ==========================================================================
``slowness``         its latency's robust z against its operation (:mod:`.operations`), on a
                     log scale: ``round(2 log2(1 + z))``, 0..15
``error``            status ERROR or not
``kind``             span kind (internal, server, client, producer, consumer)
``attributes``       number of attributes (capped at 63)
``events``           number of span events (exceptions are events; capped at 15)
``links``            number of span links (capped at 7)
===================  ==========================================================================

Features are small integers, so real traffic shows few distinct rows: each distinct row is scored
by the forest once per model and cached (the rows of the training sample are scored when the model
is fitted), and a batch of 512 spans costs a ``numpy.unique`` and a few dictionary lookups instead
of 512 forest evaluations (scikit-learn's ``score_samples`` costs ~3.6 ms per call plus ~8 µs per
row on this class of machine). Only rows never seen in training reach the forest.

Training: a uniform reservoir of ``reservoir_size`` recent rows (Vitter's algorithm R); the first
model is fitted once ``min_train_rows`` rows are in, refitted once the reservoir is first full,
then every ``refit_spans`` spans (the reservoir is a uniform sample of all history: only a drift of
normal needs more refits), in a background thread: scoring goes on with the previous model and
never waits for a fit. A fit costs ~0.1 s of CPU (100 trees): refitting every 50k spans cost 2 µs
per span at full load; every 500k costs 0.2 µs, and a busy sidecar still refits every few seconds
to minutes.

Calibration: the forest's raw anomaly score ``s`` (0..1, ~0.5 for ordinary points) is compared with
the training rows' median ``m`` and maximum ``M``: surprise ``(s - m) / (M - m)``, so a span as
isolated as the most isolated training row has surprise 1, and ``1.25`` scores 0.5.

A forest cannot split on a feature that was constant in training (no span ever had an event, say),
so it cannot isolate a row that differs only there. Each feature value never seen in training
therefore adds ``1.25`` to the surprise: one novel value alone scores 0.5 (except slowness: an
unseen latency is what the per-operation baselines report, as ``latency``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import IsolationForest

from vigil.processors.anomaly.calibration import calibrate

_logger = logging.getLogger(__name__)

FEATURES = ("slowness", "error", "kind", "attributes", "events", "links")
_CAPS = np.array([15, 1, 7, 63, 15, 7], dtype=np.int64)
_SHIFTS = np.array([0, 4, 5, 8, 14, 18], dtype=np.int64)  # bit offsets of each feature in a code


class SpanForest:
    """IsolationForest scores for span feature rows, cached per distinct row."""

    def __init__(
        self,
        *,
        reservoir_size: int = 4096,
        min_train_rows: int = 1024,
        refit_spans: int = 500_000,
        trees: int = 100,
        surprise_at_half: float = 1.25,
        seed: int = 0,
        background: bool = True,
    ) -> None:
        self.reservoir_size = reservoir_size
        self.min_train_rows = min_train_rows
        self.refit_spans = refit_spans
        self.trees = trees
        self.surprise_at_half = surprise_at_half
        self.background = background
        self._rng = np.random.default_rng(seed)
        self._reservoir = np.zeros((reservoir_size, len(FEATURES)), dtype=np.int64)
        self._filled = 0
        self._seen = 0
        self._since_fit = 0
        # (forest, median and spread of its training scores, which value each feature took)
        self._model: tuple[IsolationForest, float, float, NDArray[np.bool_]] | None = None
        self._cache: dict[int, float] = {}
        self._fitting: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Whether a model has been fitted (before that, spans get no multivariate score)."""
        return self._model is not None

    def rows(
        self,
        shape: NDArray[np.int64],
        kinds: NDArray[np.int64],
        z: NDArray[np.float64],
        error: NDArray[np.bool_],
    ) -> NDArray[np.int64]:
        """Feature rows for a batch: the latency z and error flag from the baselines, the kinds,
        and ``shape``: each span's numbers of attributes, events and links (n x 3, read by the
        caller in its one pass over the spans)."""
        slowness = np.rint(2.0 * np.log2(1.0 + z)).astype(np.int64)
        rows = np.column_stack([slowness, error, kinds, shape.reshape(-1, 3)])
        return np.minimum(rows, _CAPS)

    def score(self, rows: NDArray[np.int64]) -> NDArray[np.float64] | None:
        """Calibrated scores of ``rows`` (None before the first model), then learn from them."""
        result = None
        model = self._model
        if model is not None:
            codes = (rows << _SHIFTS).sum(axis=1)
            distinct, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
            cache = self._cache
            values = [cache.get(code) for code in distinct.tolist()]
            missing = [i for i, v in enumerate(values) if v is None]
            if missing:
                forest, median, spread, seen = model
                novel = rows[first[missing]]
                raw = -forest.score_samples(novel)
                # slowness is left out: an unseen latency is the baselines' finding, not a novelty
                unseen = (~seen[np.arange(1, len(FEATURES)), novel[:, 1:]]).sum(axis=1)
                surprise = (raw - median) / spread + self.surprise_at_half * unseen
                fresh = calibrate(surprise, self.surprise_at_half)
                if len(cache) > 65_536:
                    cache.clear()
                for i, s in zip(missing, fresh.tolist(), strict=True):
                    values[i] = cache[int(distinct[i])] = s
            result = np.asarray(values)[inverse]
        self._learn(rows)
        return result

    def _learn(self, rows: NDArray[np.int64]) -> None:
        n = len(rows)
        room = min(n, self.reservoir_size - self._filled)
        if room:
            self._reservoir[self._filled : self._filled + room] = rows[:room]
            self._filled += room
        if n > room:
            # Algorithm R, vectorised: the i-th row overall replaces a random slot with
            # probability reservoir_size / i.
            index = np.arange(self._seen + room + 1, self._seen + n + 1)
            slot = (self._rng.random(n - room) * index).astype(np.int64)
            keep = slot < self.reservoir_size
            self._reservoir[slot[keep]] = rows[room:][keep]
        self._seen += n
        self._since_fit += n
        due = self._model is None and self._filled >= self.min_train_rows
        # (a first model fitted before the reservoir was full is refitted once it is)
        filled_now = self._seen - n < self.reservoir_size <= self._seen
        if due or (self._model is not None and (filled_now or self._since_fit >= self.refit_spans)):
            self._since_fit = 0
            self._start_fit()

    def _start_fit(self) -> None:
        if self._fitting is not None and self._fitting.is_alive():
            return
        sample = self._reservoir[: self._filled].copy()
        if not self.background:
            self._fit(sample)
            return
        self._fitting = threading.Thread(
            target=self._fit, args=(sample,), name="vigil-forest-fit", daemon=True
        )
        self._fitting.start()

    def _fit(self, sample: NDArray[np.int64]) -> None:
        try:
            forest = IsolationForest(
                n_estimators=self.trees,
                max_samples=min(256, len(sample)),
                random_state=int(self._rng.integers(1 << 31)),
            ).fit(sample)
            # Training rows repeat (small-integer features): score each distinct row once.
            codes, first, inverse = np.unique(
                (sample << _SHIFTS).sum(axis=1), return_index=True, return_inverse=True
            )
            distinct = -forest.score_samples(sample[first])
            raw = distinct[inverse]
            median, top = float(np.median(raw)), float(raw.max())
            spread = max(top - median, 1e-3)
            # Pre-score the rows seen in training: live traffic mostly repeats them, so the
            # new model starts with a warm cache instead of a burst of forest evaluations.
            scores = calibrate((distinct - median) / spread, self.surprise_at_half)
            cache = dict(zip(codes.tolist(), scores.tolist(), strict=True))
            seen = np.zeros((len(FEATURES), int(_CAPS.max()) + 1), dtype=bool)
            seen[np.arange(len(FEATURES))[None, :].repeat(len(sample), 0), sample] = True
            with self._lock:
                self._model = (forest, median, spread, seen)
                self._cache = cache
        except Exception:  # a failed refit keeps the previous model
            _logger.exception("refitting the span forest failed; keeping the previous model")

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background fit in progress (tests, shutdown)."""
        fitting = self._fitting
        if fitting is not None:
            fitting.join(timeout)

    def snapshot(self) -> dict[str, Any]:
        return {
            "reservoir": self._reservoir[: self._filled].copy(),
            "seen": self._seen,
            "model": self._model,
        }

    def restore(self, state: dict[str, Any]) -> None:
        reservoir = state["reservoir"][: self.reservoir_size]
        self._filled = len(reservoir)
        self._reservoir[: self._filled] = reservoir
        self._seen = state["seen"]
        self._since_fit = 0
        self._model = state["model"]
        self._cache = {}
