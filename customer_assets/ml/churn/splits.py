"""Group-aware, stratified splits: one customer never sits on both sides of a split.

sklearn's ``StratifiedGroupKFold`` assigns groups greedily in a Python loop (measured here: 144 s for
250,000 customers), so folds are assigned with a vectorised equivalent: customers are ordered by
their share of churned snapshots and their number of snapshots, cut into consecutive blocks of
``n_splits`` similar customers, and each block deals one customer to every fold in random order. Every
fold therefore receives about the same number of rows and of positives, and a customer's rows always
land in one fold.
"""

from __future__ import annotations

import numpy as np
import polars as pl

POSITIVE_SHARE_BINS = 10


def group_codes(ids: pl.Series | None, rows: int) -> np.ndarray:
    """Dense integer code per row for the group (customer) id; each row is its own group without ids."""
    if ids is None:
        return np.arange(rows, dtype=np.int64)
    return ids.rank("dense").to_numpy().astype(np.int64) - 1


def stratified_group_folds(labels: np.ndarray, groups: np.ndarray, n_splits: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number (0..n_splits-1) for every row; all rows of a group share one fold."""
    if n_splits < 2:
        raise ValueError("n_splits must be at least 2")
    group_count = int(groups.max()) + 1
    if group_count < n_splits:
        raise ValueError(f"only {group_count} distinct ids: cannot make {n_splits} group folds")
    rows_per_group = np.bincount(groups, minlength=group_count)
    positives_per_group = np.bincount(groups, weights=labels, minlength=group_count)
    positive_share_bin = np.rint(POSITIVE_SHARE_BINS * positives_per_group / np.maximum(rows_per_group, 1))
    rng = np.random.default_rng(seed)
    similar_order = np.lexsort((rng.random(group_count), rows_per_group, positive_share_bin))
    block = np.arange(group_count) // n_splits
    dealing_order = np.lexsort((rng.random(group_count), block))
    fold_of_group = np.empty(group_count, dtype=np.int64)
    fold_of_group[similar_order[dealing_order]] = np.arange(group_count) % n_splits
    return fold_of_group[groups]


def fold_index_pairs(folds: np.ndarray, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_rows, validation_rows) index pairs, one per fold."""
    return [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(n_splits)]


def stratified_group_holdout(
    labels: np.ndarray, groups: np.ndarray, holdout_share: float = 0.2, seed: int = 0
) -> np.ndarray:
    """Boolean mask of holdout rows: about ``holdout_share`` of customers, stratified by label."""
    n_splits = max(2, int(round(1 / holdout_share)))
    return stratified_group_folds(labels, groups, n_splits=n_splits, seed=seed + 7919) == 0


def latest_time_holdout(times: pl.Series) -> np.ndarray:
    """Boolean mask of rows at the latest value of the time (cutoff) column."""
    if times.null_count():
        raise ValueError(f"time column {times.name!r} has {times.null_count()} missing values")
    if times.n_unique() < 2:
        raise ValueError(f"time column {times.name!r} has a single value: a time-based holdout needs several cutoffs")
    return (times == times.max()).to_numpy()


def group_sample(groups: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray:
    """Row indices of a random sample of whole groups holding at most about ``max_rows`` rows."""
    rows = groups.size
    if max_rows is None or rows <= max_rows:
        return np.arange(rows)
    group_count = int(groups.max()) + 1
    keep_group = np.random.default_rng(seed).random(group_count) < max_rows / rows
    return np.flatnonzero(keep_group[groups])
