"""The plain baseline for explicit ratings: global mean + regularised customer and product biases.

r_ui ~ mu + b_u + b_i, fitted by alternating closed-form ridge steps (b_i = sum(r - mu - b_u) / (n_i + reg_item),
then the same for b_u). The two regularisation strengths are chosen on a validation split by `tune_biases`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from customer_assets.ml.recommend.rating_data import RatingArrays, rmse

REG_GRID = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 35.0)


@dataclass(frozen=True)
class Biases:
    mean: float
    user: np.ndarray
    item: np.ndarray

    def predict(self, data: RatingArrays) -> np.ndarray:
        """mu + b_u + b_i; an unknown customer or product contributes no bias."""
        out = np.full(len(data), self.mean)
        known_user, known_item = data.users >= 0, data.items >= 0
        out[known_user] += self.user[data.users[known_user]]
        out[known_item] += self.item[data.items[known_item]]
        return out


def fit_biases(
    data: RatingArrays, n_users: int, n_items: int, reg_user: float, reg_item: float, iterations: int = 12
) -> Biases:
    mean = float(data.values.mean())
    user_bias = np.zeros(n_users)
    item_bias = np.zeros(n_items)
    user_counts = np.bincount(data.users, minlength=n_users)
    item_counts = np.bincount(data.items, minlength=n_items)
    centred = data.values - mean
    for _ in range(iterations):
        item_bias = np.bincount(data.items, centred - user_bias[data.users], n_items) / (item_counts + reg_item)
        user_bias = np.bincount(data.users, centred - item_bias[data.items], n_users) / (user_counts + reg_user)
    return Biases(mean, user_bias, item_bias)


def tune_biases(
    train: RatingArrays, held: RatingArrays, n_users: int, n_items: int, grid: tuple[float, ...] = REG_GRID
) -> tuple[dict, float, list[dict]]:
    """The (reg_user, reg_item) pair with the lowest validation RMSE; held must use train's positions (-1 = unseen)."""
    trials = []
    for reg_user in grid:
        for reg_item in grid:
            biases = fit_biases(train, n_users, n_items, reg_user, reg_item)
            trials.append({"reg_user": reg_user, "reg_item": reg_item, "rmse": rmse(biases.predict(held), held.values)})
    best = min(trials, key=lambda t: t["rmse"])
    return {"reg_user": best["reg_user"], "reg_item": best["reg_item"]}, best["rmse"], trials
