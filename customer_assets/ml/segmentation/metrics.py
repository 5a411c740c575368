"""Cluster-quality figures shared by k selection, the comparison table and holdout evaluation.

Noise rows (label -1, DBSCAN only) are left out of silhouette, Davies-Bouldin, Calinski-Harabasz and
inertia, and reported separately as ``noise_share``. Silhouette is quadratic, so it is computed on a
sample of rows; the others are linear and use every row given.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

from .sample_assign import NOISE_LABEL, cluster_centroids

PRIMARY_METRIC = "silhouette"
PRIMARY_METRIC_HIGHER_IS_BETTER = True


def exact_silhouette(points: np.ndarray, labels: np.ndarray, chunk_rows: int = 2_048) -> float:
    """Mean silhouette, exact, via chunked distance blocks times a one-hot cluster matrix.

    Same value as sklearn's silhouette_score, but BLAS-bound: in-place chunks keep memory at chunk_rows x rows.
    """
    _, dense = np.unique(labels, return_inverse=True)
    n_clusters = int(dense.max()) + 1
    one_hot = np.zeros((len(dense), n_clusters))
    one_hot[np.arange(len(dense)), dense] = 1.0
    sizes = one_hot.sum(axis=0)
    squared_norms = (points**2).sum(axis=1)
    scores = np.empty(len(dense))
    for start in range(0, len(dense), chunk_rows):
        block = slice(start, start + chunk_rows)
        distances = points[block] @ points.T
        distances *= -2.0
        distances += squared_norms[None, :]
        distances += squared_norms[block, None]
        np.maximum(distances, 0.0, out=distances)
        np.sqrt(distances, out=distances)
        distance_sums = distances @ one_hot
        own = dense[block]
        rows = np.arange(len(own))
        own_size = sizes[own]
        # Distance to self is ~0 (clamped), so dividing by size - 1 gives the mean over the other members.
        within = np.where(own_size > 1, distance_sums[rows, own] / np.maximum(own_size - 1, 1), 0.0)
        other = distance_sums / sizes[None, :]
        other[rows, own] = np.inf
        nearest_other = other.min(axis=1)
        denominator = np.maximum(within, nearest_other)
        silhouette = np.where(
            denominator > 0, (nearest_other - within) / np.where(denominator > 0, denominator, 1.0), 0.0
        )
        scores[block] = np.where(own_size > 1, silhouette, 0.0)
    return float(scores.mean())


def sampled_silhouette(points: np.ndarray, labels: np.ndarray, sample_size: int, seed: int) -> float:
    """Silhouette on at most ``sample_size`` non-noise rows; NaN when fewer than two clusters remain."""
    keep = labels != NOISE_LABEL
    points, labels = points[keep], labels[keep]
    if len(np.unique(labels)) < 2 or len(labels) < 3:
        return math.nan
    if len(labels) > sample_size:
        rows = np.random.default_rng(seed).choice(len(labels), size=sample_size, replace=False)
        points, labels = points[rows], labels[rows]
        if len(np.unique(labels)) < 2:
            return math.nan
    return exact_silhouette(points, labels)


def clustering_quality(points: np.ndarray, labels: np.ndarray, silhouette_sample_size: int, seed: int) -> dict:
    """Flat dict of quality figures for one labelling of ``points``."""
    n_rows = len(labels)
    keep = labels != NOISE_LABEL
    clustered_points, clustered_labels = points[keep], labels[keep]
    cluster_ids, sizes = np.unique(clustered_labels, return_counts=True)
    n_clusters = len(cluster_ids)
    figures = {
        "n_clusters": int(n_clusters),
        "noise_share": float(1.0 - keep.mean()) if n_rows else math.nan,
        "smallest_cluster_share": float(sizes.min() / n_rows) if n_clusters else 0.0,
        "largest_cluster_share": float(sizes.max() / n_rows) if n_clusters else 0.0,
        "silhouette": sampled_silhouette(points, labels, silhouette_sample_size, seed),
        "davies_bouldin": math.nan,
        "calinski_harabasz": math.nan,
        "inertia": math.nan,
        "inertia_per_customer": math.nan,
    }
    if n_clusters >= 1 and len(clustered_labels):
        ids, centroids = cluster_centroids(clustered_points, clustered_labels)
        position = np.searchsorted(ids, clustered_labels)
        inertia = float(((clustered_points - centroids[position]) ** 2).sum())
        figures["inertia"] = inertia
        figures["inertia_per_customer"] = inertia / len(clustered_labels)
    if 2 <= n_clusters < len(clustered_labels):
        figures["davies_bouldin"] = float(davies_bouldin_score(clustered_points, clustered_labels))
        figures["calinski_harabasz"] = float(calinski_harabasz_score(clustered_points, clustered_labels))
    return figures


def outcome_variance_explained(labels: np.ndarray, outcome: np.ndarray) -> float:
    """eta^2: share of the variance of a later outcome explained by the segments (between-segment SS / total SS).

    A behavioural check: segments that separate customers in the feature space but not in what they do
    next are of little use. Noise rows (-1) count as one more group, as they would be treated downstream.
    """
    keep = ~np.isnan(outcome)
    labels, outcome = labels[keep], outcome[keep]
    total = float(((outcome - outcome.mean()) ** 2).sum())
    if len(outcome) < 2 or total == 0:
        return math.nan
    _, dense = np.unique(labels, return_inverse=True)
    sizes = np.bincount(dense).astype(np.float64)
    means = np.bincount(dense, weights=outcome) / sizes
    between = float((sizes * (means - outcome.mean()) ** 2).sum())
    return between / total
