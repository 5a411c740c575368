"""Ratings as integer arrays (customer, product, value, day) and the time features the rating models share.

Every rating model works on contiguous positions; `RatingArrays` bundles them with the optional day number
(days since the Unix epoch) so that time-aware biases can be built. `TimeFeatures` is fitted on training
ratings only: the (customer, day) pairs seen in training, each customer's mean day, and the product time bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_TIME_BINS = 30
DEVIATION_POWER = 0.4  # Koren (2009), timeSVD++: dev_u(t) = sign(t - t_u) |t - t_u|^0.4


@dataclass(frozen=True)
class RatingArrays:
    users: np.ndarray  # int64 positions (-1 = unknown customer)
    items: np.ndarray  # int64 positions (-1 = unknown product)
    values: np.ndarray | None  # float64 ratings (None when only predicting)
    days: np.ndarray | None  # float64 days since epoch (None without timestamps)

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, mask: np.ndarray) -> RatingArrays:
        return RatingArrays(
            self.users[mask],
            self.items[mask],
            None if self.values is None else self.values[mask],
            None if self.days is None else self.days[mask],
        )


@dataclass(frozen=True)
class TimeFeatures:
    """Time features fitted on training ratings; `encode` maps any ratings onto them."""

    user_day_keys: np.ndarray  # sorted int64 keys user * 2^32 + day of (customer, day) pairs seen in training
    user_mean_day: np.ndarray  # per customer (0 for customers never seen)
    deviation_scale: float  # mean |dev| on training, so the drift coefficient has unit scale
    first_day: float
    bin_width: float

    @classmethod
    def fit(cls, data: RatingArrays, n_users: int) -> TimeFeatures | None:
        if data.days is None or len(data) == 0:
            return None
        keys = np.unique(_user_day_key(data.users, data.days))
        counts = np.bincount(data.users, minlength=n_users)
        mean_day = np.bincount(data.users, data.days, minlength=n_users) / np.maximum(counts, 1)
        raw = _raw_deviation(data.days - mean_day[data.users])
        first, last = float(data.days.min()), float(data.days.max())
        return cls(keys, mean_day, float(np.mean(np.abs(raw))) or 1.0, first, max((last - first) / N_TIME_BINS, 1.0))

    @property
    def n_user_days(self) -> int:
        return len(self.user_day_keys)

    def encode(self, data: RatingArrays) -> dict[str, np.ndarray]:
        """user_day (index or -1 if the pair was not in training), deviation, item time bin per rating."""
        if data.days is None:
            n = len(data)
            # Undated pairs are taken as "now": the latest product bin, no session or drift term.
            return {
                "user_day": np.full(n, -1),
                "deviation": np.zeros(n),
                "time_bin": np.full(n, N_TIME_BINS - 1, dtype=np.int64),
            }
        keys = _user_day_key(np.maximum(data.users, 0), data.days)
        position = np.minimum(np.searchsorted(self.user_day_keys, keys), max(self.n_user_days - 1, 0))
        found = (self.user_day_keys[position] == keys) & (data.users >= 0) if self.n_user_days else keys < 0
        known = data.users >= 0
        deviation = np.zeros(len(data))
        deviation[known] = _raw_deviation(data.days[known] - self.user_mean_day[data.users[known]])
        time_bin = np.clip(((data.days - self.first_day) // self.bin_width).astype(np.int64), 0, N_TIME_BINS - 1)
        return {
            "user_day": np.where(found, position, -1),
            "deviation": deviation / self.deviation_scale,
            "time_bin": time_bin,
        }


def _user_day_key(users: np.ndarray, days: np.ndarray) -> np.ndarray:
    return users.astype(np.int64) * (1 << 32) + np.floor(days).astype(np.int64)


def _raw_deviation(delta_days: np.ndarray) -> np.ndarray:
    return np.sign(delta_days) * np.abs(delta_days) ** DEVIATION_POWER


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))
