"""Explicit rating prediction: global mean + regularised customer/product biases + low-rank factors of the
residuals, fitted by alternating least squares with batched (vectorised) normal-equation solves.

`fit_rating_model(ratings, seed=0)` -> RatingModel; `.predict(pairs)` returns ratings clipped to the range
seen in training; unknown customers/products fall back to the biases that are known. `.report` holds the
validation RMSE beside the global-mean and bias-only baselines (primary_metric "rmse", lower is better).
"""
from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from customer_assets.ml.recommend.interactions import IdIndex, validate_ratings


def _fit_biases(users, items, ratings, n_users, n_items, reg: float, iterations: int = 10):
    mean = float(ratings.mean())
    user_bias, item_bias = np.zeros(n_users), np.zeros(n_items)
    user_counts = np.bincount(users, minlength=n_users)
    item_counts = np.bincount(items, minlength=n_items)
    for _ in range(iterations):
        item_bias = np.bincount(items, ratings - mean - user_bias[users], n_items) / (item_counts + reg)
        user_bias = np.bincount(users, ratings - mean - item_bias[items], n_users) / (user_counts + reg)
    return mean, user_bias, item_bias


def _solve_side(rows, cols, residual, other, n_rows, reg):
    """Ridge solution per row: (sum_j v_j v_j^T + reg*n_r*I) x_r = sum_j residual_rj v_j, all rows at once."""
    factors = other.shape[1]
    gram = np.zeros((n_rows, factors * factors))
    rhs = np.zeros((n_rows, factors))
    step = max(1, 2**24 // (factors * factors))  # bounds the (ratings x factors^2) outer-product block
    for start in range(0, len(rows), step):
        r, c = rows[start:start + step], cols[start:start + step]
        vectors = other[c]
        outer = (vectors[:, :, None] * vectors[:, None, :]).reshape(len(c), -1)
        by_row = sp.csr_matrix((np.ones(len(r)), (r, np.arange(len(r)))), shape=(n_rows, len(r)))
        gram += by_row @ outer
        rhs += by_row @ (residual[start:start + step, None] * vectors)
    gram = gram.reshape(n_rows, factors, factors)
    counts = np.bincount(rows, minlength=n_rows)
    gram += (reg * np.maximum(counts, 1))[:, None, None] * np.eye(factors)[None]
    return np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]


class RatingModel:
    def __init__(self, customers, items, mean, user_bias, item_bias, user_factors, item_factors, low, high, report):
        self.customers, self.items = customers, items
        self.mean, self.user_bias, self.item_bias = mean, user_bias, item_bias
        self.user_factors, self.item_factors = user_factors, item_factors
        self.low, self.high = low, high
        self.report = report

    def predict(self, pairs: pl.DataFrame) -> np.ndarray:
        """Predicted rating per row of pairs (customer_id, product_id), clipped to the training range."""
        if not isinstance(pairs, pl.DataFrame):
            raise ValueError("pairs must be a polars DataFrame with customer_id, product_id")
        missing = [c for c in ("customer_id", "product_id") if c not in pairs.columns]
        if missing:
            raise ValueError(f"pairs is missing column(s) {missing}")
        users = self.customers.lookup(pairs["customer_id"])
        items = self.items.lookup(pairs["product_id"])
        return self._predict_positions(users, items)

    def _predict_positions(self, users, items) -> np.ndarray:
        known_user, known_item = users >= 0, items >= 0
        out = np.full(len(users), self.mean)
        out[known_user] += self.user_bias[users[known_user]]
        out[known_item] += self.item_bias[items[known_item]]
        both = known_user & known_item
        if self.user_factors is not None:
            out[both] += np.einsum("ij,ij->i", self.user_factors[users[both]], self.item_factors[items[both]])
        return np.clip(out, self.low, self.high)


def _fit(users, items, ratings, n_users, n_items, factors, reg_bias, reg_factors, iterations, seed):
    mean, user_bias, item_bias = _fit_biases(users, items, ratings, n_users, n_items, reg_bias)
    if factors == 0:
        return mean, user_bias, item_bias, None, None
    residual = ratings - mean - user_bias[users] - item_bias[items]
    rng = np.random.default_rng(seed)
    item_factors = rng.normal(0, 0.1, (n_items, factors))
    user_factors = np.zeros((n_users, factors))
    for _ in range(iterations):
        user_factors = _solve_side(users, items, residual, item_factors, n_users, reg_factors)
        item_factors = _solve_side(items, users, residual, user_factors, n_items, reg_factors)
    return mean, user_bias, item_bias, user_factors, item_factors


def _rmse(predicted, actual) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def fit_rating_model(ratings: pl.DataFrame, seed: int = 0, factors: int = 16, reg_bias: float = 5.0,
                     reg_factors: float = 0.1, iterations: int = 5, validation_fraction: float = 0.1) -> RatingModel:
    """Fit on ratings (customer_id, product_id, rating[, ts]); see the module docstring."""
    frame = validate_ratings(ratings)
    customers = IdIndex.from_values(frame["customer_id"])
    items = IdIndex.from_values(frame["product_id"])
    users = customers.lookup(frame["customer_id"])
    products = items.lookup(frame["product_id"])
    values = frame["rating"].to_numpy()
    low, high = float(values.min()), float(values.max())
    n_users, n_items = len(customers), len(items)

    # Validation: latest ratings if timestamped, else a seeded random share.
    if "ts" in frame.columns:
        rank = frame["ts"].rank("ordinal").to_numpy()
        held = rank > (1 - validation_fraction) * frame.height
        method = "time"
    else:
        held = np.random.default_rng(seed).random(frame.height) < validation_fraction
        method = "random"
    train = ~held
    report = {"primary_metric": "rmse", "validation": {"method": method, "n_ratings": int(held.sum())}}
    if held.sum() and train.sum():
        args = (users[train], products[train], values[train], n_users, n_items)
        mean_only = _rmse(np.full(held.sum(), values[train].mean()), values[held])
        biases = RatingModel(customers, items, *_fit(*args, 0, reg_bias, reg_factors, 0, seed)[:5], low, high, {})
        full = RatingModel(customers, items, *_fit(*args, factors, reg_bias, reg_factors, iterations, seed), low,
                           high, {})
        # Customers/products absent from the training part fall back to the mean/biases in both models.
        mask_users = np.where(np.bincount(users[train], minlength=n_users)[users[held]] > 0, users[held], -1)
        mask_items = np.where(np.bincount(products[train], minlength=n_items)[products[held]] > 0,
                              products[held], -1)
        report["metrics"] = {
            "rmse": _rmse(full._predict_positions(mask_users, mask_items), values[held]),
            "rmse_biases_only": _rmse(biases._predict_positions(mask_users, mask_items), values[held]),
        }
        report["baseline"] = {"global_mean": {"rmse": mean_only}}
    fitted = _fit(users, products, values, n_users, n_items, factors, reg_bias, reg_factors, iterations, seed)
    report["params"] = {"factors": factors, "reg_bias": reg_bias, "reg_factors": reg_factors,
                        "iterations": iterations, "seed": seed}
    report["data"] = {"n_ratings": frame.height, "n_customers": n_users, "n_products": n_items,
                      "rating_range": [low, high]}
    return RatingModel(customers, items, *fitted, low, high, report)
