"""Distribution drift: PSI and KL on known distributions, windows, references and state."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from tests.processors.anomaly.metric_requests import HOUR, MINUTE, T0
from vigil.processors.anomaly.drift import (
    DriftMonitor,
    DriftSettings,
    kl_divergence,
    psi,
    quantile_edges,
)

KEY = ("shop", "model.score")


def test_psi_and_kl_on_hand_computed_distributions():
    # p = (0.5, 0.5), q = (0.9, 0.1)
    assert psi([50, 50], [90, 10], smoothing=0) == pytest.approx(0.4 * math.log(1.8) - 0.4 * math.log(0.2))
    assert psi([50, 50], [90, 10], smoothing=0) == pytest.approx(0.878890, abs=1e-6)
    assert kl_divergence([90, 10], [50, 50], smoothing=0) == pytest.approx(
        0.9 * math.log(1.8) + 0.1 * math.log(0.2)
    )
    assert kl_divergence([90, 10], [50, 50], smoothing=0) == pytest.approx(0.368064, abs=1e-6)
    # p uniform over four bins, q = (0.4, 0.3, 0.2, 0.1)
    expected = sum((q - 0.25) * math.log(q / 0.25) for q in (0.4, 0.3, 0.2, 0.1))
    assert psi([25, 25, 25, 25], [40, 30, 20, 10], smoothing=0) == pytest.approx(expected)
    assert expected == pytest.approx(0.228217, abs=1e-6)
    # PSI is the symmetric KL divergence
    assert psi([25, 25, 25, 25], [40, 30, 20, 10]) == pytest.approx(
        kl_divergence([40, 30, 20, 10], [25, 25, 25, 25]) + kl_divergence([25, 25, 25, 25], [40, 30, 20, 10])
    )
    assert psi([10, 20, 30], [10, 20, 30]) == 0.0
    assert kl_divergence([10, 20, 30], [20, 40, 60], smoothing=0) == pytest.approx(0.0)  # proportions count


def test_smoothing_keeps_empty_bins_finite():
    value = psi([100, 0], [50, 50])
    assert math.isfinite(value) and value > 1.0
    assert math.isfinite(kl_divergence([50, 50], [100, 0]))
    # with a pseudo-count of 0.5: p = (100.5, 0.5) / 101, q = (50.5, 50.5) / 101
    p, q = np.array([100.5, 0.5]) / 101, np.array([50.5, 50.5]) / 101
    assert value == pytest.approx(float(np.sum((q - p) * np.log(q / p))))


def test_quantile_edges_are_deciles_and_merge_repeats():
    edges = quantile_edges(np.arange(1, 1001, dtype=float), 10)
    assert len(edges) == 9
    assert edges[0] == pytest.approx(100.9) and edges[-1] == pytest.approx(900.1)
    assert list(quantile_edges([3.0] * 50 + [7.0] * 50, 10)) == [3.0, 5.0, 7.0]


def hour_of_values(monitor: DriftMonitor, hour: int, values: np.ndarray, key=KEY) -> None:
    """``values`` spread over one hour of event time, a minute's worth per call."""
    times = T0 + hour * HOUR + (np.arange(len(values)) * (HOUR // len(values)))
    for chunk in np.array_split(np.arange(len(values)), 60):
        monitor.add_values(key, times[chunk], values[chunk])


def test_a_shifted_normal_crosses_the_threshold_and_the_same_distribution_does_not():
    rng = np.random.default_rng(11)
    monitor = DriftMonitor(DriftSettings(window_seconds=3600, min_samples=300))
    hour_of_values(monitor, 0, rng.normal(0.0, 1.0, 2000))
    assert monitor.measure(KEY) is None  # no reference before the first window completes
    hour_of_values(monitor, 1, rng.normal(0.0, 1.0, 2000))
    same = monitor.measure(KEY)
    assert same is not None and same.psi < 0.05 and same.score < 0.1 and not same.new_alarm
    assert same.reference_samples == 2000 and same.current_samples == 2000
    hour_of_values(monitor, 2, rng.normal(1.0, 1.0, 2000))
    shifted = monitor.measure(KEY)
    assert shifted.psi >= 0.25 and shifted.score >= 0.5 and shifted.new_alarm
    assert shifted.kl > 0.1
    assert shifted.time_unix_nano >= T0 + 2 * HOUR
    assert not monitor.measure(KEY).new_alarm  # one alarm per window


def test_previous_reference_adapts_but_a_fixed_one_does_not():
    rng = np.random.default_rng(12)
    measured = {}
    for reference in ("previous", "fixed"):
        monitor = DriftMonitor(DriftSettings(min_samples=300, reference=reference))
        for hour, mean in enumerate([0.0, 2.0, 2.0]):
            hour_of_values(monitor, hour, rng.normal(mean, 1.0, 1000))
        measured[reference] = monitor.measure(KEY).psi
    assert measured["previous"] < 0.1  # the shift of hour 1 is the norm in hour 2
    assert measured["fixed"] > 1.0  # still far from the first hour


def test_too_few_samples_give_no_measure_and_no_reference():
    monitor = DriftMonitor(DriftSettings(min_samples=300))
    hour_of_values(monitor, 0, np.zeros(100))  # too few to be a reference
    hour_of_values(monitor, 1, np.zeros(500))
    assert monitor.measure(KEY) is None
    hour_of_values(monitor, 2, np.zeros(100))
    assert monitor.measure(KEY) is None  # a reference now, but the current window is thin


def test_late_points_are_ignored():
    rng = np.random.default_rng(13)
    monitor = DriftMonitor(DriftSettings(min_samples=300))
    hour_of_values(monitor, 0, rng.normal(0.0, 1.0, 1000))
    hour_of_values(monitor, 1, rng.normal(0.0, 1.0, 1000))
    before = monitor.measure(KEY)
    monitor.add_values(KEY, np.full(500, T0 + 30 * MINUTE), np.full(500, 50.0))  # back in hour 0
    after = monitor.measure(KEY)
    assert after.psi == before.psi and after.current_samples == before.current_samples


def test_histogram_buckets_are_compared_directly():
    monitor = DriftMonitor(DriftSettings(min_samples=300))
    bounds = (1.0, 2.0, 3.0)
    for minute in range(0, 60, 10):
        monitor.add_buckets(KEY, T0 + minute * MINUTE, bounds, [25, 25, 25, 25])
    monitor.add_buckets(KEY, T0 + HOUR, bounds, [40, 30, 20, 10])
    assert monitor.measure(KEY) is None  # 100 observations so far
    monitor.add_buckets(KEY, T0 + HOUR + MINUTE, bounds, [360, 270, 180, 90])
    drift = monitor.measure(KEY)
    assert drift.reference_samples == 600 and drift.current_samples == 1000
    assert drift.psi == pytest.approx(psi([150, 150, 150, 150], [400, 300, 200, 100]))
    assert drift.psi < 0.25 and not drift.new_alarm
    # new bucket boundaries start the metric afresh
    monitor.add_buckets(KEY, T0 + HOUR + 2 * MINUTE, (5.0,), [1000, 0])
    assert monitor.measure(KEY) is None


def test_state_round_trips_through_pickle_and_metrics_are_bounded():
    rng = np.random.default_rng(14)
    monitor = DriftMonitor(DriftSettings(min_samples=300), max_metrics=3)
    for hour in range(2):
        hour_of_values(monitor, hour, rng.normal(0.0, 1.0, 1000))
    restored = DriftMonitor(DriftSettings(min_samples=300), max_metrics=3)
    restored.restore(pickle.loads(pickle.dumps(monitor.snapshot())))
    assert restored.measure(KEY) == monitor.measure(KEY)
    for i in range(5):
        restored.add_values(("shop", f"other.{i}"), [T0], [1.0])
    assert len(restored) == 3


def test_reservoir_keeps_a_bounded_sample_of_a_large_window():
    monitor = DriftMonitor(DriftSettings(min_samples=300))
    values = np.random.default_rng(15).uniform(0.0, 1.0, 50_000)
    hour_of_values(monitor, 0, values)
    hour_of_values(monitor, 1, values)
    drift = monitor.measure(KEY)
    assert drift.reference_samples == 50_000 and drift.current_samples == 50_000
    assert drift.psi < 0.01  # the sampled reference deciles fit the full window


def test_settings_are_checked():
    with pytest.raises(ValueError):
        DriftSettings(window_seconds=0)
    with pytest.raises(ValueError):
        DriftSettings(bins=1)
    with pytest.raises(ValueError):
        DriftSettings(reference="first")  # type: ignore[arg-type]
