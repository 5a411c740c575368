"""Time-aware biases (Koren 2009, "Collaborative filtering with temporal dynamics"), fitted by exact block ridge:

    r_ui(t) ~ mu + b_u + alpha_u dev_u(t) + b_{u,day(t)} + b_i + b_{i,bin(t)}

b_{u,day} absorbs a customer's mood on one day (on MovieLens most customers rate many films in one session, and
their scale drifts between sessions), b_{i,bin} a product's drift over time, alpha_u dev_u(t) a customer's slow
drift. Each block has a closed-form ridge solution given the others (bincounts over ratings), so a few sweeps
of block coordinate descent fit it exactly; no loop over ratings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from customer_assets.ml.recommend.rating_baseline import Biases
from customer_assets.ml.recommend.rating_data import N_TIME_BINS, RatingArrays, TimeFeatures


@dataclass(frozen=True)
class TimeBiases:
    biases: Biases
    time: TimeFeatures
    user_day: np.ndarray
    user_drift: np.ndarray
    item_bin: np.ndarray  # (n_items, N_TIME_BINS)

    def predict(self, data: RatingArrays) -> np.ndarray:
        out = self.biases.predict(data)
        encoded = self.time.encode(data)
        seen_day = encoded["user_day"] >= 0
        out[seen_day] += self.user_day[encoded["user_day"][seen_day]]
        known_user, known_item = data.users >= 0, data.items >= 0
        out[known_user] += self.user_drift[data.users[known_user]] * encoded["deviation"][known_user]
        out[known_item] += self.item_bin[data.items[known_item], encoded["time_bin"][known_item]]
        return out


def fit_time_biases(
    data: RatingArrays,
    n_users: int,
    n_items: int,
    reg_user: float,
    reg_item: float,
    reg_day: float,
    reg_bin: float,
    sweeps: int = 12,
) -> TimeBiases | None:
    """None without timestamps. reg_user/reg_item as in the baseline; reg_day on the customer-day and drift
    terms, reg_bin on the product time bins."""
    time = TimeFeatures.fit(data, n_users)
    if time is None:
        return None
    encoded = time.encode(data)
    users, items = data.users, data.items
    day, deviation = encoded["user_day"], encoded["deviation"]
    item_bin = items * N_TIME_BINS + encoded["time_bin"]
    mean = float(data.values.mean())
    blocks = {  # name -> (index per rating, size, per-rating feature or None for an indicator, regularisation)
        "item": (items, n_items, None, reg_item),
        "user": (users, n_users, None, reg_user),
        "user_day": (day, time.n_user_days, None, reg_day),
        "item_bin": (item_bin, n_items * N_TIME_BINS, None, reg_bin),
        "user_drift": (users, n_users, deviation, reg_day),
    }
    weights = {name: np.zeros(size) for name, (_, size, _, _) in blocks.items()}
    contribution = {name: np.zeros(len(data)) for name in blocks}
    denominators = {
        name: np.bincount(index, None if feature is None else feature * feature, size) + reg
        for name, (index, size, feature, reg) in blocks.items()
    }
    residual = data.values - mean
    for _ in range(sweeps):
        for name, (index, size, feature, _) in blocks.items():
            partial = residual + contribution[name]  # the residual without this block
            signal = partial if feature is None else partial * feature
            weights[name] = np.bincount(index, signal, size) / denominators[name]
            contribution[name] = weights[name][index] if feature is None else weights[name][index] * feature
            residual = partial - contribution[name]
    return TimeBiases(
        Biases(mean, weights["user"], weights["item"]),
        time,
        weights["user_day"],
        weights["user_drift"],
        weights["item_bin"].reshape(n_items, N_TIME_BINS),
    )
