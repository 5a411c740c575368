"""Small-segment repair: a cluster below ``min_share`` of the fit rows is merged into its nearest cluster.

Why merge rather than fail: a real export routinely has a handful of extreme customers (whales, bulk
buyers) that K-Means or Ward give their own cluster; refusing the whole partition for that helps nobody.
Why merge rather than refit a smaller k: a refit moves every boundary and can simply produce another tiny
cluster, while a merge keeps the other clusters exactly as fitted and always terminates.

Rule (``REPAIR_RULE``): repeatedly take the smallest cluster whose share of the fit rows is below
``min_share`` and merge it into the cluster whose centroid (mean of its fit rows in the model's
transformed space) is nearest; the merged centroid is the size-weighted mean. Stop when every cluster
reaches ``min_share`` or only two clusters are left (one cluster is not a segmentation; what remains small
is reported as ``unrepaired``). DBSCAN noise (-1) is not a segment and is never merged.

The repaired clusterer wraps the fitted one with a label map, so ``predict`` on new customers gives the
repaired labels (a row nearest a merged centroid joins the cluster it was merged into).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .algorithms import CentroidModel, CoreSampleModel, refit_same_hyperparameters
from .sample_assign import NOISE_LABEL

MIN_CLUSTERS_AFTER_REPAIR = 2
REPAIR_RULE = (
    "while a cluster holds less than min_segment_share of the fit rows and more than "
    f"{MIN_CLUSTERS_AFTER_REPAIR} clusters remain: merge the smallest such cluster into the cluster with the "
    "nearest centroid (Euclidean, transformed feature space; merged centroid = size-weighted mean); "
    "new customers get the label of the cluster their fitted cluster was merged into"
)


@dataclass
class RepairedClusterer:
    """A fitted clusterer plus the map from its labels to the repaired ones (noise stays -1)."""

    base: CentroidModel | CoreSampleModel
    label_map: np.ndarray
    min_share: float
    merges: list[dict] = field(default_factory=list)

    @property
    def algorithm(self) -> str:
        return self.base.algorithm

    @property
    def params(self) -> dict:
        return {
            **self.base.params,
            "clusters_before_repair": int(len(self.label_map)),
            "clusters_merged": len(self.merges),
        }

    @property
    def n_clusters(self) -> int:
        return int(len(np.unique(self.label_map)))

    def predict(self, points: np.ndarray) -> np.ndarray:
        raw = self.base.predict(points)
        return np.where(raw == NOISE_LABEL, NOISE_LABEL, self.label_map[np.maximum(raw, 0)])


def _base_label_count(model: CentroidModel | CoreSampleModel, labels: np.ndarray) -> int:
    if isinstance(model, CentroidModel):
        return len(model.centroids)
    known = labels[labels != NOISE_LABEL]
    core_max = int(model.core_labels.max()) if len(model.core_labels) else -1
    return max(core_max, int(known.max()) if len(known) else -1) + 1


def _initial_centroids(model, points: np.ndarray, labels: np.ndarray, n_base: int) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, centroids) per base label; a label with no fit row keeps the model's own centroid."""
    keep = labels != NOISE_LABEL
    sizes = np.bincount(labels[keep], minlength=n_base).astype(np.float64)
    sums = np.stack(
        [np.bincount(labels[keep], weights=points[keep, j], minlength=n_base) for j in range(points.shape[1])], axis=1
    )
    centroids = sums / np.maximum(sizes, 1.0)[:, None]
    empty = sizes == 0
    if empty.any():
        if isinstance(model, CentroidModel):
            centroids[empty] = model.centroids[empty]
        else:  # a DBSCAN label without rows cannot occur (core samples label themselves); keep it finite
            centroids[empty] = points[keep].mean(axis=0) if keep.any() else 0.0
    return sizes, centroids


def repair_small_clusters(
    model: CentroidModel | CoreSampleModel, points: np.ndarray, labels: np.ndarray, min_share: float
) -> tuple[RepairedClusterer, np.ndarray, dict]:
    """Apply ``REPAIR_RULE`` to a fitted model and its fit-row labels: (repaired model, labels, record)."""
    n_rows = len(labels)
    n_base = _base_label_count(model, labels)
    sizes, centroids = _initial_centroids(model, points, labels, n_base)
    group_of = np.arange(n_base)
    active = np.ones(n_base, dtype=bool)
    merges: list[dict] = []
    while active.sum() > MIN_CLUSTERS_AFTER_REPAIR:
        candidates = np.flatnonzero(active)
        smallest = candidates[np.argmin(sizes[candidates])]
        share = sizes[smallest] / n_rows
        if share >= min_share:
            break
        others = candidates[candidates != smallest]
        distances = np.sqrt(((centroids[others] - centroids[smallest]) ** 2).sum(axis=1))
        target = others[np.argmin(distances)]
        total = sizes[target] + sizes[smallest]
        if total > 0:
            centroids[target] = (sizes[target] * centroids[target] + sizes[smallest] * centroids[smallest]) / total
        merges.append(
            {
                "cluster_id": int(smallest),
                "merged_into_cluster_id": int(target),
                "size": int(sizes[smallest]),
                "share": float(share),
                "centroid_distance": float(distances.min()),
            }
        )
        sizes[target] = total
        sizes[smallest] = 0.0
        active[smallest] = False
        group_of[group_of == smallest] = target
    # Dense repaired labels 0..m-1 in the order of the surviving base labels.
    survivors = np.flatnonzero(active)
    dense = np.full(n_base, -1, dtype=np.int64)
    dense[survivors] = np.arange(len(survivors))
    label_map = dense[group_of]
    repaired_labels = np.where(labels == NOISE_LABEL, NOISE_LABEL, label_map[np.maximum(labels, 0)])
    unrepaired = [
        {"cluster_id": int(c), "size": int(sizes[c]), "share": float(sizes[c] / n_rows)}
        for c in survivors
        if sizes[c] / n_rows < min_share
    ]
    for merge in merges:
        merge["repaired_label"] = int(label_map[merge["merged_into_cluster_id"]])
    record = {
        "rule": REPAIR_RULE,
        "min_segment_share": float(min_share),
        "n_clusters_before": int(n_base),
        "n_clusters_after": int(len(survivors)),
        "merges": merges,
        "unrepaired": unrepaired,
    }
    return RepairedClusterer(model, label_map, float(min_share), merges), repaired_labels, record


def refit_same_procedure(model, points: np.ndarray, seed: int):
    """Refit with the same hyperparameters and, for a repaired model, the same repair rule (for stability)."""
    if isinstance(model, RepairedClusterer):
        base = refit_same_hyperparameters(model.base, points, seed)
        return repair_small_clusters(base, points, base.predict(points), model.min_share)[0]
    return refit_same_hyperparameters(model, points, seed)
