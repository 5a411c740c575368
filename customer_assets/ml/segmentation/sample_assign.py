"""Fit-on-a-sample, assign-the-rest helpers: quadratic algorithms see a sample, every row gets a label.

All assignment is vectorised and chunked so 1,000,000 rows never build a matrix larger than
``chunk_rows x n_targets``.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

NOISE_LABEL = -1
DEFAULT_CHUNK_ROWS = 100_000


def draw_sample_indices(n_rows: int, sample_size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices of a uniform sample without replacement (all rows when the data is small)."""
    if sample_size >= n_rows:
        return np.arange(n_rows)
    return np.sort(rng.choice(n_rows, size=sample_size, replace=False))


def cluster_centroids(points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster ids in ascending order, their mean points); noise rows are ignored."""
    keep = labels != NOISE_LABEL
    cluster_ids, dense = np.unique(labels[keep], return_inverse=True)
    counts = np.bincount(dense, minlength=len(cluster_ids)).astype(np.float64)
    sums = np.stack(
        [np.bincount(dense, weights=points[keep, j], minlength=len(cluster_ids)) for j in range(points.shape[1])],
        axis=1,
    )
    return cluster_ids, sums / counts[:, None]


def nearest_centroid_labels(
    points: np.ndarray, centroids: np.ndarray, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> np.ndarray:
    """Index of the nearest centroid for each row (squared Euclidean distance)."""
    centroid_norms = (centroids**2).sum(axis=1)
    labels = np.empty(points.shape[0], dtype=np.int64)
    for start in range(0, points.shape[0], chunk_rows):
        block = points[start : start + chunk_rows]
        # ||x||^2 is the same for every centroid of a row, so it cannot change the argmin.
        distances = centroid_norms[None, :] - 2.0 * block @ centroids.T
        labels[start : start + chunk_rows] = distances.argmin(axis=1)
    return labels


def nearest_core_labels(
    points: np.ndarray,
    core_points: np.ndarray,
    core_labels: np.ndarray,
    eps: float,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> np.ndarray:
    """DBSCAN-style prediction: the label of the nearest core sample if it lies within ``eps``, else noise."""
    labels = np.full(points.shape[0], NOISE_LABEL, dtype=np.int64)
    if len(core_points) == 0:
        return labels
    index = NearestNeighbors(n_neighbors=1).fit(core_points)
    for start in range(0, points.shape[0], chunk_rows):
        distances, nearest = index.kneighbors(points[start : start + chunk_rows], return_distance=True)
        within = distances[:, 0] <= eps
        labels[start : start + chunk_rows] = np.where(within, core_labels[nearest[:, 0]], NOISE_LABEL)
    return labels
