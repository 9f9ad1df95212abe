"""Distribution drift of chosen metrics: PSI and KL divergence between a reference window and the
current one. The model-monitoring case: a model's inputs or outputs, exported as metrics, start
to look different from what they were.

Which metrics and what is compared
----------------------------------
Metrics are chosen by name (``drift_metrics`` of :class:`~vigil.processors.anomaly.metrics.MetricAnomalies`);
all series of a metric within one ``service.name`` are pooled: it is the metric's distribution
that drifts, not one series'.

* Gauges and sums: the stream of their values as scored (:mod:`.readings`: a gauge's value, a
  counter's rate). The reference window is cut into ``bins`` (default 10) quantile bins of its own
  values (deciles; fewer when values repeat), and the current window's values are counted in them.
* Histograms (explicit buckets): their own buckets, counts of the interval (cumulative points
  differenced) summed over the window. A change of bucket boundaries starts the metric afresh.
* Exponential histograms and summaries are not measured.

Windows
-------
Event time is cut into windows of ``window_seconds`` (default one hour) aligned on the epoch.
With ``reference="previous"`` (the default) each completed window becomes the reference of the
next one: drift is a change from one hour to the next, and a lasting shift is reported in the
window it happens, then becomes the new normal. With ``reference="fixed"`` the first completed
window stays the reference for good: the "training distribution" of model monitoring (restart
with a fresh state to re-baseline). A window with fewer than ``min_samples`` values (or histogram
observations) does not become a reference, and a current window is measured only once it holds
``min_samples``. Points in a window older than the current one are ignored.

At most ``RESERVOIR`` values of a window are kept (uniform reservoir sample, seeded, so replays
are repeatable) to place the next reference's bins; the current window's bin counts are exact.

Measures
--------
With reference and current bin proportions ``p`` and ``q``, each smoothed with ``SMOOTHING``
(0.5) pseudo-observations per bin so an empty bin gives a large but finite term:

``PSI = sum((q - p) * ln(q / p))`` (population stability index, the symmetric KL divergence)
``KL = sum(q * ln(q / p))``          (KL divergence of the current window from the reference)

Common practice reads PSI < 0.1 as stable, 0.1-0.25 as a moderate shift and >= 0.25 as a
significant one: the drift score is ``calibrate(PSI, at_half=0.25)``, so PSI 0.25 scores 0.5.
Sampling noise alone gives two samples of one distribution a PSI of about
``(bins - 1) * (1/n_reference + 1/n_current)``: 0.06 for 300 values each in 10 bins, hence the
default ``min_samples`` of 300 (with 50 it would be 0.36, a false alarm).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vigil.processors.anomaly.calibration import calibrate_one

PSI_AT_HALF = 0.25
"""PSI that scores 0.5: a significant shift by common practice."""
SMOOTHING = 0.5
RESERVOIR = 4096
MAX_METRICS = 1000
"""Metric x service pairs followed at once; the least recently seen is dropped beyond."""

_VALUES, _BUCKETS = "values", "buckets"


def _proportions(counts: ArrayLike, smoothing: float) -> NDArray[np.float64]:
    counts = np.asarray(counts, dtype=np.float64) + smoothing
    return counts / counts.sum()


def psi(reference: ArrayLike, current: ArrayLike, smoothing: float = SMOOTHING) -> float:
    """Population stability index of ``current`` bin counts against ``reference`` ones."""
    p, q = _proportions(reference, smoothing), _proportions(current, smoothing)
    return float(np.sum((q - p) * np.log(q / p)))


def kl_divergence(current: ArrayLike, reference: ArrayLike, smoothing: float = SMOOTHING) -> float:
    """KL divergence of ``current`` bin counts from ``reference`` ones, KL(current || reference)."""
    p, q = _proportions(reference, smoothing), _proportions(current, smoothing)
    return float(np.sum(np.where(q > 0, q * np.log(q / p), 0.0)))


def quantile_edges(values: ArrayLike, bins: int) -> NDArray[np.float64]:
    """The inner edges of ``bins`` quantile bins of ``values`` (repeated edges merged); a value
    ``v`` falls in bin ``searchsorted(edges, v, side="left")``, bins closed on the right."""
    inner = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return np.unique(np.quantile(np.asarray(values, dtype=np.float64), inner))


def bin_counts(edges: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1).astype(
        np.float64
    )


@dataclass(frozen=True)
class DriftSettings:
    """Windows and bins of the drift measure (see the module docstring)."""

    window_seconds: float = 3600.0
    min_samples: int = 300
    bins: int = 10
    reference: Literal["previous", "fixed"] = "previous"

    def __post_init__(self) -> None:
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if self.bins < 2:
            raise ValueError("bins must be at least 2")
        if self.min_samples < 1:
            raise ValueError("min_samples must be at least 1")
        if self.reference not in ("previous", "fixed"):
            raise ValueError("reference must be 'previous' or 'fixed'")


@dataclass(frozen=True)
class Drift:
    """One measure of a metric's current window against its reference."""

    psi: float
    kl: float
    score: float
    """``calibrate(psi, 0.25)``."""
    reference_samples: int
    current_samples: int
    time_unix_nano: int
    """Event time of the latest point measured."""
    new_alarm: bool
    """The score reached 0.5 for the first time in this window (one event per window)."""


class _Windows:
    """One metric's reference and current window."""

    __slots__ = (
        "alarmed",
        "bounds",
        "counts",
        "edges",
        "kind",
        "last_time",
        "reference",
        "sample",
        "seen",
        "window",
    )

    def __init__(self, kind: str, bounds: tuple[float, ...] = ()) -> None:
        self.kind = kind
        self.bounds = bounds
        self.window = -1
        self.last_time = 0
        self.seen = 0  # values or observations in the current window
        self.sample = np.empty(0, dtype=np.float64)  # values mode: reservoir of the current window
        self.edges: NDArray[np.float64] | None = None  # values mode: the reference's bin edges
        self.reference: NDArray[np.float64] | None = None  # the reference's bin counts
        self.counts: NDArray[np.float64] | None = (
            np.zeros(len(bounds) + 1) if kind == _BUCKETS else None
        )  # the current window's bin counts
        self.alarmed = False

    def state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _Windows:
        windows = cls(state["kind"])
        for name in cls.__slots__:
            setattr(windows, name, state[name])
        return windows


class DriftMonitor:
    """Reference and current windows of the chosen metrics, keyed by any hashable (the scorer
    uses ``(service.name, metric name)``)."""

    def __init__(
        self, settings: DriftSettings | None = None, max_metrics: int = MAX_METRICS, seed: int = 0
    ) -> None:
        self.settings = settings or DriftSettings()
        self.max_metrics = max_metrics
        self._windows: OrderedDict[Hashable, _Windows] = OrderedDict()
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self._windows)

    def add_values(self, key: Hashable, times_unix_nano: ArrayLike, values: ArrayLike) -> None:
        """Add a gauge's or sum's values, at their event times."""
        times = np.asarray(times_unix_nano, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(values)
        times, values = times[finite], values[finite]
        if len(values) == 0:
            return
        windows = self._get(key, _VALUES, ())
        indexes = times // int(self.settings.window_seconds * 1e9)
        for index in np.unique(indexes):
            if not self._enter(windows, int(index)):
                continue
            chosen = indexes == index
            self._add_to_window(windows, values[chosen])
            windows.last_time = max(windows.last_time, int(times[chosen].max()))

    def add_buckets(
        self, key: Hashable, time_unix_nano: int, bounds: tuple[float, ...], counts: Sequence[int]
    ) -> None:
        """Add a histogram interval's bucket counts (``len(bounds) + 1`` of them)."""
        windows = self._get(key, _BUCKETS, bounds)
        if not self._enter(windows, time_unix_nano // int(self.settings.window_seconds * 1e9)):
            return
        added = np.asarray(counts, dtype=np.float64)
        windows.counts += added
        windows.seen += int(added.sum())
        windows.last_time = max(windows.last_time, time_unix_nano)

    def measure(self, key: Hashable) -> Drift | None:
        """PSI and KL of the metric's current window, once it and the reference are big enough."""
        windows = self._windows.get(key)
        if windows is None or windows.reference is None or windows.counts is None:
            return None
        reference_samples = round(float(windows.reference.sum()))
        if windows.seen < self.settings.min_samples:
            return None
        value = psi(windows.reference, windows.counts)
        score = calibrate_one(value, PSI_AT_HALF)
        new_alarm = score >= 0.5 and not windows.alarmed
        windows.alarmed = windows.alarmed or new_alarm
        return Drift(
            psi=value,
            kl=kl_divergence(windows.counts, windows.reference),
            score=score,
            reference_samples=reference_samples,
            current_samples=windows.seen,
            time_unix_nano=windows.last_time,
            new_alarm=new_alarm,
        )

    def _get(self, key: Hashable, kind: str, bounds: tuple[float, ...]) -> _Windows:
        windows = self._windows.get(key)
        if windows is None or windows.kind != kind or windows.bounds != bounds:
            # new metric, or its type or buckets changed: start afresh
            windows = self._windows[key] = _Windows(kind, bounds)
            while len(self._windows) > self.max_metrics:
                self._windows.popitem(last=False)
        self._windows.move_to_end(key)
        return windows

    def _enter(self, windows: _Windows, index: int) -> bool:
        """Make window ``index`` current (completing the one before); False for a late point."""
        if index < windows.window:
            return False
        if index > windows.window:
            if windows.window >= 0:
                self._complete(windows)
            windows.window = index
        return True

    def _complete(self, windows: _Windows) -> None:
        settings = self.settings
        enough = windows.seen >= settings.min_samples
        replace = enough and (settings.reference == "previous" or windows.reference is None)
        if windows.kind == _BUCKETS:
            if replace:
                windows.reference = windows.counts
            windows.counts = np.zeros(len(windows.bounds) + 1)
        else:
            if replace:
                windows.edges = quantile_edges(windows.sample, settings.bins)
                # the reservoir's bin counts, scaled to the window's size (smoothing depends on it)
                counts = bin_counts(windows.edges, windows.sample)
                windows.reference = counts * (windows.seen / len(windows.sample))
            windows.sample = np.empty(0, dtype=np.float64)
            windows.counts = None if windows.edges is None else np.zeros(len(windows.edges) + 1)
        windows.seen = 0
        windows.alarmed = False

    def _add_to_window(self, windows: _Windows, values: NDArray[np.float64]) -> None:
        if windows.edges is not None and windows.counts is not None:
            windows.counts += bin_counts(windows.edges, values)
        # reservoir sampling (algorithm R), vectorised: value j of the window is kept with
        # probability RESERVOIR / (j + 1), in a uniformly chosen slot
        room = max(0, RESERVOIR - len(windows.sample))
        if room:
            windows.sample = np.concatenate([windows.sample, values[:room]])
        rest = values[room:]
        if len(rest):
            seen_before = windows.seen + room
            positions = seen_before + np.arange(len(rest))
            kept = self._rng.random(len(rest)) * (positions + 1) < RESERVOIR
            slots = self._rng.integers(0, RESERVOIR, size=int(kept.sum()))
            windows.sample[slots] = rest[kept]
        windows.seen += len(values)

    def snapshot(self) -> dict[str, Any]:
        return {
            "windows": [(key, windows.state()) for key, windows in self._windows.items()],
            "rng": self._rng.bit_generator.state,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._windows = OrderedDict((key, _Windows.from_state(saved)) for key, saved in state["windows"])
        while len(self._windows) > self.max_metrics:
            self._windows.popitem(last=False)
        self._rng.bit_generator.state = state["rng"]
