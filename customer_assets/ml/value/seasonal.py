"""Seasonal purchase rate: a month-of-year intensity index and the "operational clock" it defines.

A customer's purchase rate is lambda * s(month), with s averaging 1 over a year. A Poisson process with that
rate is a plain Poisson process on the operational clock tau(d) = sum of s over the days up to d, so BG/NBD is
fitted and applied unchanged on warped times: T = tau(as_of) - tau(first purchase), t_x = tau(last) -
tau(first), and a horizon of h days after the as-of date is tau(as_of + h) - tau(as_of) operational days.
December with s = 1.4 simply holds 1.4 "ordinary days" of buying.

Learning s (``learn``) needs at least a year of history so every month is seen. The aggregate repeat purchases
per calendar month are compared with what the fitted BG/NBD expects for the same customers (cohorts by first
purchase day, using the unconditional E[X(t)]), which takes out the trend that acquisition and dropout create;
the ratio per month of the year, shrunk towards 1 by a pseudo-count, updates s, the model is refitted on the new
clock, and this repeats a few rounds. Whether it helps is decided on a validation window (model.py), not
assumed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

# Days per month of a non-leap year: the index averages 1 over a year weighted by these.
MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.float64)
MIN_HISTORY_DAYS = 365
PSEUDO_COUNT = 20.0  # repeat purchases of "no seasonal effect" added to each month's actual and expected
ROUNDS = 3


def normalized(monthly: np.ndarray) -> np.ndarray:
    monthly = np.asarray(monthly, dtype=np.float64)
    return monthly / (monthly @ MONTH_DAYS / MONTH_DAYS.sum())


@dataclass(frozen=True)
class SeasonalIndex:
    monthly: tuple[float, ...]  # s for January .. December

    @staticmethod
    def flat() -> "SeasonalIndex":
        return SeasonalIndex(tuple([1.0] * 12))

    def clock(self, start: dt.date, end: dt.date) -> "Clock":
        return Clock.build(np.asarray(self.monthly), start, end)

    def as_dict(self) -> dict[str, float]:
        names = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
        return {name: round(float(v), 4) for name, v in zip(names, self.monthly)}


@dataclass(frozen=True)
class Clock:
    """tau over the days [start, end]: ``cumulative[i]`` is the operational time at the end of day start + i."""

    start: dt.date
    cumulative: np.ndarray

    @staticmethod
    def build(monthly: np.ndarray, start: dt.date, end: dt.date) -> "Clock":
        days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
        months = days.astype("datetime64[M]").astype(np.int64) % 12
        return Clock(start, np.cumsum(np.asarray(monthly, dtype=np.float64)[months]))

    def at(self, days_from_start: np.ndarray) -> np.ndarray:
        """tau at the end of the given days (offsets from ``start``; -1 means the end of the day before)."""
        index = np.asarray(days_from_start, dtype=np.int64)
        if index.size and (index.min() < -1 or index.max() >= self.cumulative.size):
            raise ValueError("day outside the seasonal clock's range")
        padded = np.concatenate([[0.0], self.cumulative])
        return padded[index + 1]


def _offsets(dates: np.ndarray, start: dt.date) -> np.ndarray:
    return (dates.astype("datetime64[D]") - np.datetime64(start, "D")).astype(np.int64)


def warped_inputs(
    clock: Clock, as_of: dt.date, days_since_first: np.ndarray, days_since_last: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(t_x, T) on the operational clock for customers summarized at ``as_of``."""
    end = (as_of - clock.start).days
    first = end - np.asarray(days_since_first, dtype=np.int64)
    last = end - np.asarray(days_since_last, dtype=np.int64)
    tau_first, tau_last, tau_end = clock.at(first), clock.at(last), clock.at(np.array([end]))[0]
    return tau_last - tau_first, tau_end - tau_first


def warped_horizon(clock: Clock, as_of: dt.date, horizon_days) -> np.ndarray:
    end = (as_of - clock.start).days
    horizon = np.asarray(horizon_days, dtype=np.int64)
    return clock.at(end + horizon) - clock.at(np.array([end]))[0]


def monthly_windows(first: dt.date, as_of: dt.date) -> list[tuple[dt.date, dt.date, int]]:
    """Calendar months (clipped to [first, as_of]) as (first day, last day, month index 0-11)."""
    windows = []
    cursor = first
    while cursor <= as_of:
        next_month = (cursor.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        windows.append((cursor, min(next_month - dt.timedelta(days=1), as_of), cursor.month - 1))
        cursor = next_month
    return windows


def learn(
    days: pl.DataFrame, as_of: dt.date, fit_on_clock, rounds: int = ROUNDS, pseudo_count: float = PSEUDO_COUNT
) -> tuple[SeasonalIndex, object, list[dict]]:
    """Seasonal index from purchase days (id, day) up to ``as_of``; ``fit_on_clock(clock)`` fits and returns the
    BG/NBD on that clock. Returns (index, the model fitted on its clock, per-round diagnostics)."""
    before = days.filter(pl.col("day") <= as_of)
    firsts = before.group_by("id").agg(pl.col("day").min().alias("first_day"))
    start = firsts["first_day"].min()
    if (as_of - start).days + 1 < MIN_HISTORY_DAYS:
        raise ValueError(
            f"a seasonal index needs at least {MIN_HISTORY_DAYS} days of history, got {(as_of - start).days + 1}"
        )
    repeats = before.join(firsts, on="id").filter(pl.col("day") > pl.col("first_day"))
    windows = monthly_windows(start, as_of)
    edges: np.ndarray = np.array(
        [(w[0] - start).days for w in windows] + [(as_of - start).days + 1]
    )  # window i: [e_i, e_i+1)
    offsets = _offsets(repeats["day"].to_numpy(), start)
    actual = np.histogram(offsets, bins=edges)[0].astype(np.float64)
    month_of_window = np.array([w[2] for w in windows])
    cohorts = firsts.group_by("first_day").len().sort("first_day")
    cohort_offsets = _offsets(cohorts["first_day"].to_numpy(), start)
    cohort_sizes = cohorts["len"].to_numpy().astype(np.float64)

    monthly = np.ones(12)
    model = None
    diagnostics = []
    for round_ in range(rounds):
        clock = Clock.build(monthly, start, as_of)
        model = fit_on_clock(clock)
        # Expected repeat purchases of each cohort by the end of each window edge, on the current clock.
        tau_edges = clock.at(edges - 1)  # operational time at the end of the day before each edge
        tau_cohort = clock.at(cohort_offsets)  # end of the first-purchase day
        ages = np.clip(tau_edges[None, :] - tau_cohort[:, None], 0.0, None)
        cumulative = model.unconditional_expected(ages)  # operational days
        expected = cohort_sizes @ np.diff(cumulative, axis=1)
        ratio = np.ones(12)
        for month in range(12):
            in_month = month_of_window == month
            ratio[month] = (actual[in_month].sum() + pseudo_count) / (expected[in_month].sum() + pseudo_count)
        diagnostics.append(
            {
                "round": round_,
                "index": [round(float(v), 4) for v in monthly],
                "actual_vs_expected": [round(float(v), 4) for v in ratio],
            }
        )
        if np.max(np.abs(ratio - 1.0)) < 1e-3:
            break
        monthly = normalized(monthly * ratio)
    clock = Clock.build(monthly, start, as_of)
    return SeasonalIndex(tuple(float(v) for v in monthly)), fit_on_clock(clock), diagnostics
