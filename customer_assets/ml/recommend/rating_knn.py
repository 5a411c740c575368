"""Item-kNN on baseline residuals (Koren's "KNNBaseline"): what the biases miss for (u, i) is predicted from
what they missed on the k products most similar to i that u also rated.

    z_uj = r_uj - baseline_uj
    s_ij = shrunk Pearson of residuals over common raters = sum z_ui z_uj / sqrt(sum z_ui^2 sum z_uj^2)
           * n_ij / (n_ij + shrinkage)
    correction_ui = sum_{j in top-k(i; u)} s_ij z_uj / sum |s_ij|   (0 without positive neighbours)

Similarities are a dense float32 matrix over the products with at least `min_ratings` training ratings (so the
matrix stays small; rarer products get no correction), computed with three BLAS products. Predictions expand each
(customer, product) pair over the customer's rated products in chunks, rank them per pair with one lexsort and keep
the top k: no loop over ratings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from customer_assets.ml.recommend.rating_data import RatingArrays

CHUNK_ROWS = 2_000_000  # expanded (pair, neighbour) rows per prediction chunk: bounds memory (~50 MB)


@dataclass(frozen=True)
class KnnParams:
    neighbours: int = 40
    shrinkage: float = 100.0
    min_ratings: int = 5


@dataclass
class ResidualItemKnn:
    params: KnnParams
    dense_of_item: np.ndarray  # item position -> row in `similarity` (-1 = too rare)
    similarity: np.ndarray  # float32 (n_dense, n_dense), zero diagonal
    user_rows: sp.csr_matrix  # customers x dense items, residual values (explicit zeros kept via `rated`)
    rated: sp.csr_matrix  # same pattern, ones

    def correction(self, data: RatingArrays) -> tuple[np.ndarray, np.ndarray]:
        """(residual correction, neighbour support = sum of |s| over the used neighbours) per pair."""
        out, support = np.zeros(len(data)), np.zeros(len(data))
        target = np.where(data.items >= 0, self.dense_of_item[np.maximum(data.items, 0)], -1)
        usable = np.flatnonzero((data.users >= 0) & (data.users < self.rated.shape[0]) & (target >= 0))
        if not len(usable):
            return out, support
        lengths = np.diff(self.rated.indptr)[data.users[usable]]
        ends = np.cumsum(lengths)
        for chunk in _chunks(ends, CHUNK_ROWS):
            pairs = usable[chunk]
            counts = lengths[chunk]
            pair_of_row = np.repeat(np.arange(len(pairs)), counts)
            starts = self.rated.indptr[data.users[pairs]]
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            positions = np.repeat(starts, counts) + offsets
            neighbour = self.rated.indices[positions]
            residual = self.user_rows.data[positions]
            sims = self.similarity[target[pairs][pair_of_row], neighbour].astype(np.float64)
            # Rows are grouped by pair already; one float sort key orders by pair, then by falling similarity
            # (|s| <= 1, so (1 - s) / 2.5 stays inside [0, 1)). Cheaper than a two-key lexsort.
            order = np.argsort(pair_of_row + (1.0 - sims) / 2.5, kind="stable")
            group_start = np.repeat(np.cumsum(counts) - counts, counts)
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order)) - group_start
            keep = (rank < self.params.neighbours) & (sims > 0)
            numerator = np.bincount(pair_of_row[keep], sims[keep] * residual[keep], len(pairs))
            denominator = np.bincount(pair_of_row[keep], sims[keep], len(pairs))
            out[pairs] = np.where(denominator > 0, numerator / np.maximum(denominator, 1e-12), 0.0)
            support[pairs] = denominator
        return out, support


def _chunks(ends: np.ndarray, limit: int):
    """Consecutive index ranges whose expanded sizes stay under limit (at least one pair each)."""
    start, n = 0, len(ends)
    while start < n:
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + limit, side="right")), start + 1)
        yield slice(start, min(stop, n))
        start = stop


def fit_residual_knn(
    train: RatingArrays, residual: np.ndarray, n_users: int, n_items: int, params: KnnParams
) -> ResidualItemKnn:
    return next(
        residual_knn_candidates(
            train, residual, n_users, n_items, params.min_ratings, [(params.neighbours, params.shrinkage)]
        )
    )[1]


def residual_knn_candidates(
    train: RatingArrays, residual: np.ndarray, n_users: int, n_items: int, min_ratings: int, grid
):
    """(params, model) for each (neighbours, shrinkage) in grid; the three BLAS products are shared by all."""
    counts = np.bincount(train.items, minlength=n_items)
    dense_items = np.flatnonzero(counts >= min_ratings)
    dense_of_item = np.full(n_items, -1, dtype=np.int64)
    dense_of_item[dense_items] = np.arange(len(dense_items))
    keep = dense_of_item[train.items] >= 0
    rows, cols, z = train.users[keep], dense_of_item[train.items[keep]], residual[keep]
    user_rows = sp.csr_matrix((z, (rows, cols)), shape=(n_users, len(dense_items)))
    user_rows.sort_indices()
    rated = user_rows.copy()  # the same pattern (a residual of exactly 0 stays stored) with ones
    rated.data[:] = 1.0
    values = user_rows.toarray().astype(np.float32)
    present = rated.toarray().astype(np.float32)
    squares = (values * values).T @ present  # [i, j] = sum over common raters of z_ui^2
    pearson = (values.T @ values) / np.sqrt(np.maximum(squares * squares.T, 1e-12))
    del squares
    np.fill_diagonal(pearson, 0.0)
    common = present.T @ present
    for neighbours, shrinkage in grid:
        similarity = pearson * (common / (common + np.float32(shrinkage)))
        params = KnnParams(neighbours, shrinkage, min_ratings)
        yield params, ResidualItemKnn(params, dense_of_item, similarity, user_rows, rated)
