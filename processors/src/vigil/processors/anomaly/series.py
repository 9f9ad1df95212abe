"""Streaming baselines of metric series: a robust level and spread per series, learned point by
point, by hour of the day and of the week once a series has the history for it.

What each series learns
-----------------------
Three baselines, each a *level* (exponentially weighted mean of the values) and a *spread*
(exponentially weighted mean absolute deviation from the level):

plain
    Over all points. Used until a seasonal baseline is ready.
daily
    One level and spread per hour of the day (UTC). Used once the series is 2 days old (by event
    time, from its first point) **and** the point's hour has at least ``bucket_min_points`` points.
weekly
    One per hour of the week (UTC, Monday 00:00 = hour 0). Used once the series is 7 days old and
    the point's hour of the week has ``bucket_min_points`` points; it takes precedence over daily.

Hours and ages come from the points' own timestamps (event time), never the wall clock: replaying
a week of telemetry offline learns and scores exactly as live scoring would.

How far back they look: the plain baseline is the cumulative mean for the first
``window_points`` points, then an exponentially weighted mean with weight ``1/window_points``
(the last ~``window_points`` points count); each hour bucket likewise over its own points. Before
a series' ``warmup_points``-th point it has *no* score (:func:`SeriesBaselines.observe` returns
NaN).

How unusual a point is
----------------------
The deviation ``|value - level| / scale`` is in robust standard deviations, where
``scale = max(1.2533 * spread, relative_floor * |level|, 1e-9)``: the mean absolute deviation of
normal noise is ``0.798 sigma``; the relative floor (default 1 %) keeps a nearly constant series
(a memory gauge that moves by bytes) from turning every small step into thousands of sigmas. Past
warm-up, a point's pull on the baselines is clipped at 3 scales, so a single spike barely moves
them while a lasting change of level is learned within about ``window_points`` points.

The surprise is that deviation read against the series' own tail: each series tracks the 99th
percentile of its deviations (a stochastic quantile estimate, between 2.576, the normal one, and
ten times that)
and the surprise is ``deviation * 2.576 / tail``. For normal noise nothing changes; a bursty,
heavy-tailed series (queue depths, latencies) has a wider tail, so its usual bursts are not news.
Deviations beyond three tails (anomalies, or a weekly pattern not yet learned) leave the tail as
it is, so they cannot teach the series to ignore them.

On synthetic noise with ``at_half = 5``, points scored >= 0.5 per 10,000 once learned: normal 0.01,
Poisson(20) 0.04, log-normal (sigma 0.5) 6, Student t with 3 degrees of freedom 15.

Storage is a struct of arrays, one row per series (the caller assigns rows and recycles them with
:meth:`SeriesBaselines.reset`), so a request's points are scored and learned with a few numpy
operations whatever their number. Seasonal levels and spreads are float32 (7 significant digits,
far below the 1 % floor): about 2 KB per series, 20 MB for 10,000 series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

HOURS_PER_DAY = 24
HOURS_PER_WEEK = 168
DAILY_AFTER_SECONDS = 2 * 86400.0
"""A series this old (event time since its first point) may use its hour-of-day baseline."""
WEEKLY_AFTER_SECONDS = 7 * 86400.0
"""A series this old may use its hour-of-week baseline."""
SIGMA_PER_MEAN_DEVIATION = 1.2533  # sqrt(pi / 2): normal sigma from its mean absolute deviation
CLIP_SCALES = 3.0
ABSOLUTE_FLOOR = 1e-9
TAIL_QUANTILE = 0.99
NORMAL_TAIL = 2.5758  # the 99th percentile of |N(0, 1)|
MAX_TAIL = 10 * NORMAL_TAIL
TAIL_REACH = 3.0  # deviations beyond 3 tails (anomalies, a regime the baseline lacks) do not widen it
TAIL_STEP = 0.1  # converges within ~1,000 points; steady-state jitter well below one sigma
_EPOCH_HOUR_OF_WEEK = 72  # 1970-01-01 was a Thursday: hour 72 of a week starting on Monday

_ROW_FIELDS = ("count", "first", "level", "spread", "tail")
_BUCKET_FIELDS = ("day_level", "day_spread", "day_count", "week_level", "week_spread", "week_count")


@dataclass(frozen=True)
class BaselineSettings:
    """How series baselines learn (see the module docstring)."""

    warmup_points: int = 30
    """A series' points before this many have been seen get no score."""
    window_points: int = 200
    """The baselines' memory, in points (per hour bucket for the seasonal ones)."""
    bucket_min_points: int = 8
    """Points an hour bucket needs before it is trusted."""
    relative_floor: float = 0.01
    """The smallest scale, as a fraction of the level (1 %)."""

    def __post_init__(self) -> None:
        if self.warmup_points < 2:
            raise ValueError("warmup_points must be at least 2 (a spread needs two points)")
        if not 1 <= self.window_points <= 65535:
            raise ValueError("window_points must be in 1..65535")
        if not 2 <= self.bucket_min_points <= self.window_points:
            raise ValueError("bucket_min_points must be in 2..window_points")
        if self.relative_floor < 0:
            raise ValueError("relative_floor must not be negative")


class SeriesBaselines:
    """The baselines of up to ``capacity`` series, one row each (rows grow on demand)."""

    def __init__(
        self, settings: BaselineSettings | None = None, capacity: int = 64, max_capacity: int | None = None
    ) -> None:
        self.settings = settings or BaselineSettings()
        self.max_capacity = max_capacity
        """Rows never grow beyond this many (the caller's series limit), None for no limit."""
        self._allocate(max(1, capacity))

    def _allocate(self, capacity: int) -> None:
        self.count = np.zeros(capacity, dtype=np.int64)
        self.first = np.zeros(capacity, dtype=np.float64)
        self.level = np.zeros(capacity, dtype=np.float64)
        self.spread = np.zeros(capacity, dtype=np.float64)
        self.tail = np.full(capacity, NORMAL_TAIL)
        self.day_level = np.zeros((capacity, HOURS_PER_DAY), dtype=np.float32)
        self.day_spread = np.zeros((capacity, HOURS_PER_DAY), dtype=np.float32)
        self.day_count = np.zeros((capacity, HOURS_PER_DAY), dtype=np.uint16)
        self.week_level = np.zeros((capacity, HOURS_PER_WEEK), dtype=np.float32)
        self.week_spread = np.zeros((capacity, HOURS_PER_WEEK), dtype=np.float32)
        self.week_count = np.zeros((capacity, HOURS_PER_WEEK), dtype=np.uint16)

    @property
    def capacity(self) -> int:
        return len(self.count)

    def ensure(self, rows: int) -> None:
        """Make room for rows ``0 .. rows - 1`` (doubling up to ``max_capacity``, so growth costs
        O(1) per row)."""
        if rows <= self.capacity:
            return
        new = max(rows, 2 * self.capacity)
        if self.max_capacity is not None:
            new = max(rows, min(new, self.max_capacity))
        for name in _ROW_FIELDS + _BUCKET_FIELDS:
            old = getattr(self, name)
            grown = np.zeros((new, *old.shape[1:]), dtype=old.dtype)
            grown[: len(old)] = old
            setattr(self, name, grown)

    def reset(self, rows: NDArray[np.intp] | list[int]) -> None:
        """Forget what ``rows`` learned, for reuse by other series. A zero count is enough: the
        first point then overwrites level and spread."""
        self.count[rows] = 0
        self.day_count[rows] = 0
        self.week_count[rows] = 0

    def points(self, row: int) -> int:
        """How many points the series in ``row`` has learned from."""
        return int(self.count[row])

    def observe(
        self, rows: NDArray[np.intp], seconds: NDArray[np.float64], values: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Score then learn the points ``values`` (at event times ``seconds`` since the epoch) of
        the series in ``rows``; return their surprise in robust sigmas, NaN during warm-up.

        A series' points must come in time order. Several points of one series are taken in
        turns: each turn handles at most one point per series, all series at once."""
        rows = np.asarray(rows, dtype=np.intp)
        seconds = np.asarray(seconds, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        surprise = np.empty(len(rows), dtype=np.float64)
        if len(rows) == 0:
            return surprise
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        if len(starts) == len(rows):  # the usual case: one point per series
            surprise[:] = self._observe_once(rows, seconds, values)
            return surprise
        lengths = np.diff(np.r_[starts, len(rows)])
        turn = np.arange(len(rows)) - np.repeat(starts, lengths)
        turns = np.empty(len(rows), dtype=np.intp)
        turns[order] = turn
        for k in range(int(turn.max()) + 1):
            chosen = np.flatnonzero(turns == k)
            surprise[chosen] = self._observe_once(rows[chosen], seconds[chosen], values[chosen])
        return surprise

    def _observe_once(
        self, rows: NDArray[np.intp], seconds: NDArray[np.float64], values: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        settings = self.settings
        count = self.count[rows]
        first = np.where(count == 0, seconds, self.first[rows])
        age = seconds - first
        hours = np.floor(seconds / 3600.0).astype(np.int64)
        hour_of_week = (hours + _EPOCH_HOUR_OF_WEEK) % HOURS_PER_WEEK
        hour_of_day = hours % HOURS_PER_DAY

        level, spread = self.level[rows], self.spread[rows]
        day_level = self.day_level[rows, hour_of_day].astype(np.float64)
        day_spread = self.day_spread[rows, hour_of_day].astype(np.float64)
        day_count = self.day_count[rows, hour_of_day].astype(np.int64)
        week_level = self.week_level[rows, hour_of_week].astype(np.float64)
        week_spread = self.week_spread[rows, hour_of_week].astype(np.float64)
        week_count = self.week_count[rows, hour_of_week].astype(np.int64)
        day_ready = day_count >= settings.bucket_min_points
        week_ready = week_count >= settings.bucket_min_points

        # Score against the most specific baseline the series has earned.
        use_week = week_ready & (age >= WEEKLY_AFTER_SECONDS)
        use_day = ~use_week & day_ready & (age >= DAILY_AFTER_SECONDS)
        expected = np.where(use_week, week_level, np.where(use_day, day_level, level))
        expected_spread = np.where(use_week, week_spread, np.where(use_day, day_spread, spread))
        sigmas = np.abs(values - expected) / self._scale(expected, expected_spread)
        # Heavy-tailed series: deviations are read against the series' own 99th percentile of
        # them, so its usual bursts are not news (never more sensitive than for normal noise).
        tail = np.where(count == 0, NORMAL_TAIL, self.tail[rows])
        surprise = sigmas * (NORMAL_TAIL / tail)
        warm = count >= settings.warmup_points
        surprise[~warm] = np.nan
        # far beyond the tail is an anomaly or a change of regime, not the series' usual noise
        usual = sigmas <= TAIL_REACH * tail
        exceeded = ((sigmas > tail) & usual).astype(np.float64)
        warm_usual = warm & usual
        learned_tail = np.clip(tail + TAIL_STEP * (exceeded - (1.0 - TAIL_QUANTILE)), NORMAL_TAIL, MAX_TAIL)
        self.tail[rows] = np.where(warm_usual, learned_tail, tail)

        # Learn: every baseline takes the point, clipped once that baseline is past warm-up.
        self.level[rows], self.spread[rows] = self._learn(
            level, spread, count, values, count >= settings.warmup_points
        )
        self.day_level[rows, hour_of_day], self.day_spread[rows, hour_of_day] = self._learn(
            day_level, day_spread, day_count, values, day_ready
        )
        self.week_level[rows, hour_of_week], self.week_spread[rows, hour_of_week] = self._learn(
            week_level, week_spread, week_count, values, week_ready
        )
        window = settings.window_points
        self.count[rows] = count + 1
        self.first[rows] = first
        self.day_count[rows, hour_of_day] = np.minimum(day_count + 1, window)
        self.week_count[rows, hour_of_week] = np.minimum(week_count + 1, window)
        return surprise

    def _scale(self, level: NDArray[np.float64], spread: NDArray[np.float64]) -> NDArray[np.float64]:
        floor = np.maximum(self.settings.relative_floor * np.abs(level), ABSOLUTE_FLOOR)
        return np.maximum(SIGMA_PER_MEAN_DEVIATION * spread, floor)

    def _learn(
        self,
        level: NDArray[np.float64],
        spread: NDArray[np.float64],
        count: NDArray[np.int64],
        values: NDArray[np.float64],
        clip: NDArray[np.bool_],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """One step of the level and spread: the cumulative mean while ``count`` is below the
        window, the exponentially weighted one after; the first point sets the level."""
        window = self.settings.window_points
        deviation = values - level
        limit = CLIP_SCALES * self._scale(level, spread)
        deviation = np.where(clip, np.clip(deviation, -limit, limit), deviation)
        new_level = level + deviation / np.minimum(count + 1, window)
        new_spread = spread + (np.abs(deviation) - spread) / np.clip(count, 1, window)
        new_spread = np.where(count == 0, 0.0, new_spread)
        return new_level, new_spread

    def snapshot(self, rows: NDArray[np.intp] | list[int]) -> dict[str, Any]:
        """The learned state of ``rows``, in that order, as plain arrays."""
        rows = np.asarray(rows, dtype=np.intp)
        return {name: getattr(self, name)[rows].copy() for name in _ROW_FIELDS + _BUCKET_FIELDS}

    def restore(self, state: dict[str, Any]) -> int:
        """Load a :meth:`snapshot` into rows ``0 .. n - 1`` (the rest are reset); return ``n``."""
        n = len(state["count"])
        self.ensure(n)
        self.reset(np.arange(self.capacity))
        for name in _ROW_FIELDS + _BUCKET_FIELDS:
            target = getattr(self, name)
            target[:n] = np.asarray(state[name], dtype=target.dtype)
        return n
