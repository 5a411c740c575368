"""Low-rank factors of rating residuals (what the biases leave), fitted by alternating least squares with
batched (vectorised) normal-equation solves and ALS-WR regularisation (reg x number of ratings per row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from customer_assets.ml.recommend.rating_data import RatingArrays


@dataclass(frozen=True)
class ResidualFactors:
    user: np.ndarray
    item: np.ndarray

    def correction(self, data: RatingArrays) -> np.ndarray:
        out = np.zeros(len(data))
        both = (data.users >= 0) & (data.items >= 0)
        out[both] = np.einsum("ij,ij->i", self.user[data.users[both]], self.item[data.items[both]])
        return out


def _solve_side(rows, cols, residual, other, n_rows, reg):
    """Ridge solution per row: (sum_j v_j v_j^T + reg*n_r*I) x_r = sum_j residual_rj v_j, all rows at once."""
    factors = other.shape[1]
    gram = np.zeros((n_rows, factors * factors))
    rhs = np.zeros((n_rows, factors))
    step = max(1, 2**24 // (factors * factors))  # bounds the (ratings x factors^2) outer-product block
    for start in range(0, len(rows), step):
        r, c = rows[start : start + step], cols[start : start + step]
        vectors = other[c]
        outer = (vectors[:, :, None] * vectors[:, None, :]).reshape(len(c), -1)
        by_row = sp.csr_matrix((np.ones(len(r)), (r, np.arange(len(r)))), shape=(n_rows, len(r)))
        gram += by_row @ outer
        rhs += by_row @ (residual[start : start + step, None] * vectors)
    gram = gram.reshape(n_rows, factors, factors)
    counts = np.bincount(rows, minlength=n_rows)
    gram += (reg * np.maximum(counts, 1))[:, None, None] * np.eye(factors)[None]
    return np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]


def fit_residual_factors(
    train: RatingArrays,
    residual: np.ndarray,
    n_users: int,
    n_items: int,
    factors: int,
    reg: float,
    iterations: int,
    seed: int,
) -> ResidualFactors:
    item_factors = np.random.default_rng(seed).normal(0, 0.1, (n_items, factors))
    user_factors = np.zeros((n_users, factors))
    for _ in range(iterations):
        user_factors = _solve_side(train.users, train.items, residual, item_factors, n_users, reg)
        item_factors = _solve_side(train.items, train.users, residual, user_factors, n_items, reg)
    return ResidualFactors(user_factors, item_factors)
