"""Series baselines: warm-up, level shifts, daily and weekly seasonality, row reuse and state."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processors.anomaly.metric_requests import MONDAY, T0
from vigil.processors.anomaly.calibration import calibrate
from vigil.processors.anomaly.metrics import LEVEL_AT_HALF
from vigil.processors.anomaly.series import BaselineSettings, SeriesBaselines

FIVE_MINUTES = 300.0


def feed(baselines: SeriesBaselines, seconds: np.ndarray, values: np.ndarray, row: int = 0) -> np.ndarray:
    """Scores of one series' points (all at once: the baselines take them in turn)."""
    rows = np.full(len(values), row, dtype=np.intp)
    return calibrate(baselines.observe(rows, seconds, values), LEVEL_AT_HALF)


def test_warmup_points_have_no_score():
    baselines = SeriesBaselines(BaselineSettings(warmup_points=10))
    surprise = baselines.observe(
        np.zeros(12, dtype=np.intp), T0 / 1e9 + 60.0 * np.arange(12), np.full(12, 5.0)
    )
    assert np.isnan(surprise[:10]).all()
    assert np.isfinite(surprise[10:]).all()
    assert baselines.points(0) == 12


def test_noisy_steady_series_scores_low_and_a_tenfold_jump_high():
    rng = np.random.default_rng(7)
    baselines = SeriesBaselines()
    seconds = T0 / 1e9 + 60.0 * np.arange(300)
    scores = feed(baselines, seconds, 100.0 + rng.normal(0.0, 3.0, 300))
    assert np.nanmax(scores[30:]) < 0.5
    assert np.nanmedian(scores[30:]) < 0.05
    jump = feed(baselines, np.array([seconds[-1] + 60.0]), np.array([1000.0]))
    assert jump[0] >= 0.5


def test_a_spike_barely_moves_the_baseline_but_a_lasting_shift_is_learned():
    rng = np.random.default_rng(8)
    baselines = SeriesBaselines()
    seconds = T0 / 1e9 + 60.0 * np.arange(800)
    values = 50.0 + rng.normal(0.0, 1.0, 800)
    values[200] = 500.0
    values[400:] += 20.0
    scores = feed(baselines, seconds, values)
    assert scores[200] > 0.9
    assert scores[201:210].max() < 0.5  # the spike did not wreck the baseline
    assert scores[400] > 0.5
    assert scores[700:].max() < 0.5  # the new level is the norm now


def test_each_series_learns_alone_in_one_call():
    baselines = SeriesBaselines(BaselineSettings(warmup_points=5))
    rows = np.repeat(np.arange(3, dtype=np.intp), 20)
    seconds = np.tile(T0 / 1e9 + 60.0 * np.arange(20), 3)
    values = np.repeat([1.0, 100.0, 10000.0], 20)
    baselines.observe(rows, seconds, values)
    assert baselines.level[:3] == pytest.approx([1.0, 100.0, 10000.0])
    # interleaved series, several points each, in one call
    rows = np.tile(np.arange(3, dtype=np.intp), 5)
    surprise = baselines.observe(
        rows, np.repeat(T0 / 1e9 + 1300.0 + 60.0 * np.arange(5), 3), np.tile([1.0, 100.0, 10000.0], 5)
    )
    assert surprise.max() < 1.0


def test_usual_bursts_of_a_heavy_tailed_series_are_learned_but_a_real_jump_is_not():
    rng = np.random.default_rng(16)
    baselines = SeriesBaselines()
    seconds = T0 / 1e9 + 60.0 * np.arange(3000)
    values = 100.0 + rng.normal(0.0, 1.0, 3000)
    values[::20] += 12.0  # a burst every 20 points
    scores = feed(baselines, seconds, values)
    early, late = scores[40:500:20], scores[2000::20]
    assert (early >= 0.5).mean() > 0.5  # bursts are news at first ...
    assert (late >= 0.5).mean() < 0.1  # ... and the series' norm once learned
    assert feed(baselines, np.array([seconds[-1] + 60.0]), np.array([160.0]))[0] >= 0.5


def daily_pattern(seconds: np.ndarray) -> np.ndarray:
    """Busy at 15:00 UTC (180), quiet at 03:00 (20)."""
    hour = (seconds / 3600.0) % 24
    return 100.0 + 80.0 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)


def test_daily_cycle_peak_is_normal_but_the_same_value_at_the_trough_is_not():
    rng = np.random.default_rng(9)
    baselines = SeriesBaselines()
    seconds = T0 / 1e9 + FIVE_MINUTES * np.arange(int(3 * 86400 / FIVE_MINUTES))  # three days
    values = daily_pattern(seconds) * (1.0 + rng.normal(0.0, 0.02, len(seconds)))
    scores = feed(baselines, seconds, values)
    assert np.nanmax(scores[-288:]) < 0.5  # the third day, seasonal, raises no false alarm
    day4 = seconds[-1] - (seconds[-1] % 86400) + 86400
    peak_value = float(daily_pattern(np.array([day4 + 15 * 3600.0]))[0])
    at_peak = feed(baselines, np.array([day4 + 15 * 3600.0]), np.array([peak_value]))[0]
    at_trough = feed(baselines, np.array([day4 + 86400 + 3 * 3600.0]), np.array([peak_value]))[0]
    assert at_peak < 0.2
    assert at_trough >= 0.5


def test_without_two_days_of_history_the_plain_baseline_is_used():
    baselines = SeriesBaselines()
    seconds = T0 / 1e9 + FIVE_MINUTES * np.arange(int(1.5 * 86400 / FIVE_MINUTES))  # to day 2, 12:00
    feed(baselines, seconds, daily_pattern(seconds))
    peak = T0 / 1e9 + 86400 + 15 * 3600.0  # day 2, 15:00: the series is 1.625 days old
    bucket = int((peak // 3600) % 24)
    plain_level = float(baselines.level[0])
    # the 15:00 bucket is learned (from day 1) and far from the plain level ...
    assert baselines.day_count[0, bucket] >= baselines.settings.bucket_min_points
    assert abs(baselines.day_level[0, bucket] - plain_level) > 30
    # ... but too young to be used: the plain level is what counts
    assert feed(baselines, np.array([peak]), np.array([plain_level]))[0] < 0.5


def test_weekly_cycle_weekend_is_learned_once_a_week_of_history_exists():
    rng = np.random.default_rng(10)
    baselines = SeriesBaselines()
    seconds = MONDAY / 1e9 + FIVE_MINUTES * np.arange(int(19 * 86400 / FIVE_MINUTES))  # to the third Saturday
    weekday = ((seconds // 86400).astype(int) + 3) % 7  # Monday = 0
    values = np.where(weekday >= 5, 20.0, 100.0) + rng.normal(0.0, 2.0, len(seconds))
    scores = feed(baselines, seconds, values)
    assert np.nanmax(scores[-3 * 288 :]) < 0.5  # the third week's weekdays
    saturday_noon = MONDAY / 1e9 + 19 * 86400 + 12 * 3600.0
    assert feed(baselines, np.array([saturday_noon]), np.array([21.0]))[0] < 0.2
    assert feed(baselines, np.array([saturday_noon + 300.0]), np.array([100.0]))[0] >= 0.5


def test_reset_rows_warm_up_again_and_growth_keeps_learning():
    baselines = SeriesBaselines(BaselineSettings(warmup_points=3), capacity=1)
    baselines.observe(np.zeros(5, dtype=np.intp), T0 / 1e9 + np.arange(5.0), np.ones(5))
    baselines.ensure(100)
    assert baselines.capacity >= 100
    assert baselines.points(0) == 5
    baselines.reset([0])
    assert np.isnan(baselines.observe(np.zeros(1, dtype=np.intp), np.array([T0 / 1e9 + 10]), np.ones(1))[0])


def test_snapshot_and_restore_keep_the_chosen_rows():
    baselines = SeriesBaselines(BaselineSettings(warmup_points=3))
    rows = np.repeat(np.arange(3, dtype=np.intp), 10)
    baselines.observe(rows, np.tile(T0 / 1e9 + 60.0 * np.arange(10), 3), np.repeat([1.0, 2.0, 3.0], 10))
    restored = SeriesBaselines(BaselineSettings(warmup_points=3))
    assert restored.restore(baselines.snapshot([2, 0])) == 2
    assert restored.level[:2] == pytest.approx([3.0, 1.0])
    assert restored.points(0) == 10
    assert restored.day_count[0].sum() == 10


def test_settings_are_checked():
    with pytest.raises(ValueError):
        BaselineSettings(warmup_points=1)
    with pytest.raises(ValueError):
        BaselineSettings(window_points=10, bucket_min_points=20)
