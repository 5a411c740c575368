"""The three clustering algorithms, each fitted so that 1,000,000 rows fit in memory and time.

- K-Means: k is chosen over ``k_range`` on a selection sample (rule ``K_SELECTION_RULE``); the chosen
  k is then refitted on every row, started from the sample centroids. Prediction: nearest centroid.
- Agglomerative (Ward): one linkage tree on a sample, cut at every k in ``k_range``; k chosen by the
  same rule. Prediction (all rows, sample rows included, so ``assign`` agrees with the labels):
  nearest Ward-cluster centroid.
- DBSCAN: ``min_samples = 2 * n_features`` (Sander et al. 1998); ``eps`` is the knee of the sorted
  ``min_samples``-distance curve of the sample (the point farthest below the chord of the normalised
  curve, as in Kneedle). Prediction: label of the nearest core sample within ``eps``, else noise (-1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import DBSCAN, KMeans
from sklearn.metrics import davies_bouldin_score
from sklearn.neighbors import NearestNeighbors

from .metrics import sampled_silhouette
from .sample_assign import cluster_centroids, nearest_centroid_labels, nearest_core_labels

KMEANS = "kmeans"
DBSCAN_NAME = "dbscan"
WARD = "agglomerative_ward"
ALGORITHMS = (KMEANS, DBSCAN_NAME, WARD)

# The sample centroids are already close; capping the full-data refinement bounds time at 1M rows.
FULL_FIT_MAX_ITER = 50

K_SELECTION_RULE = (
    "for each k in k_range: silhouette (higher is better) and Davies-Bouldin (lower is better) on the "
    "sample; rank k on each; choose the smallest sum of the two ranks; ties go to the higher silhouette"
)


@dataclass
class CentroidModel:
    """K-Means or Ward: rows belong to their nearest centroid."""

    algorithm: str
    centroids: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return len(self.centroids)

    def predict(self, points: np.ndarray) -> np.ndarray:
        return nearest_centroid_labels(points, self.centroids)


@dataclass
class CoreSampleModel:
    """DBSCAN fitted on a sample: rows take the label of the nearest core sample within eps."""

    core_points: np.ndarray
    core_labels: np.ndarray
    eps: float
    min_samples: int
    algorithm: str = DBSCAN_NAME
    params: dict = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return len(np.unique(self.core_labels))

    def predict(self, points: np.ndarray) -> np.ndarray:
        return nearest_core_labels(points, self.core_points, self.core_labels, self.eps)


@dataclass
class AlgorithmFit:
    model: CentroidModel | CoreSampleModel
    labels: np.ndarray
    selection: dict


def choose_k(candidates: list[dict]) -> int:
    """Apply ``K_SELECTION_RULE`` to rows holding k, silhouette and davies_bouldin."""
    usable = [c for c in candidates if not math.isnan(c["silhouette"]) and not math.isnan(c["davies_bouldin"])]
    if not usable:
        raise ValueError("no k in k_range produced at least two clusters; check the features")
    silhouette_rank = _ranks([-c["silhouette"] for c in usable])
    db_rank = _ranks([c["davies_bouldin"] for c in usable])
    best = min(
        range(len(usable)),
        key=lambda i: (silhouette_rank[i] + db_rank[i], -usable[i]["silhouette"], usable[i]["k"]),
    )
    return int(usable[best]["k"])


def _ranks(values: list[float]) -> np.ndarray:
    return np.argsort(np.argsort(np.asarray(values), kind="stable"), kind="stable")


def _k_candidate(points: np.ndarray, labels: np.ndarray, k: int, silhouette_sample_size: int, seed: int) -> dict:
    n_found = len(np.unique(labels))
    davies_bouldin = float(davies_bouldin_score(points, labels)) if 2 <= n_found < len(labels) else math.nan
    return {
        "k": int(k),
        "clusters_found": int(n_found),
        "silhouette": sampled_silhouette(points, labels, silhouette_sample_size, seed),
        "davies_bouldin": davies_bouldin,
    }


def kmeans_model(points: np.ndarray, k: int, seed: int, n_init: int = 3) -> CentroidModel:
    fitted = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(points)
    return CentroidModel(KMEANS, fitted.cluster_centers_, {"k": int(k)})


def fit_kmeans(
    points: np.ndarray,
    selection_rows: np.ndarray,
    k_range: tuple[int, int],
    seed: int,
    silhouette_sample_size: int,
) -> AlgorithmFit:
    selection_points = points[selection_rows]
    candidates, centres_by_k = [], {}
    for k in range(k_range[0], k_range[1] + 1):
        fitted = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(selection_points)
        centres_by_k[k] = fitted.cluster_centers_
        candidates.append(_k_candidate(selection_points, fitted.labels_, k, silhouette_sample_size, seed))
    k = choose_k(candidates)
    # Lloyd iterations are linear in rows, so the chosen k is refined on every row from the sample start.
    final = KMeans(n_clusters=k, init=centres_by_k[k], n_init=1, max_iter=FULL_FIT_MAX_ITER, random_state=seed).fit(
        points
    )
    model = CentroidModel(KMEANS, final.cluster_centers_, {"k": int(k)})
    return AlgorithmFit(
        model,
        model.predict(points),
        {
            "rule": K_SELECTION_RULE,
            "selection_rows": int(len(selection_rows)),
            "candidates": candidates,
            "chosen_k": k,
            "full_fit_iterations": int(final.n_iter_),
        },
    )


def ward_model(points: np.ndarray, k: int) -> CentroidModel:
    tree = linkage(points, method="ward")
    labels = fcluster(tree, k, criterion="maxclust") - 1
    _, centroids = cluster_centroids(points, labels)
    return CentroidModel(WARD, centroids, {"k": int(k)})


def fit_ward(
    points: np.ndarray,
    sample_rows: np.ndarray,
    k_range: tuple[int, int],
    seed: int,
    silhouette_sample_size: int,
) -> AlgorithmFit:
    sample_points = points[sample_rows]
    tree = linkage(sample_points, method="ward")
    candidates, centroids_by_k = [], {}
    for k in range(k_range[0], k_range[1] + 1):
        labels = fcluster(tree, k, criterion="maxclust") - 1
        _, centroids_by_k[k] = cluster_centroids(sample_points, labels)
        candidates.append(_k_candidate(sample_points, labels, k, silhouette_sample_size, seed))
    k = choose_k(candidates)
    model = CentroidModel(WARD, centroids_by_k[k], {"k": int(k), "fit_rows": int(len(sample_rows))})
    return AlgorithmFit(
        model,
        model.predict(points),
        {"rule": K_SELECTION_RULE, "fit_rows": int(len(sample_rows)), "candidates": candidates, "chosen_k": k},
    )


def knee_index(sorted_values: np.ndarray) -> int:
    """Index of the knee of an ascending curve: the point farthest below the chord of the normalised curve."""
    n = len(sorted_values)
    if n < 3:
        return n - 1
    x = np.linspace(0.0, 1.0, n)
    span = sorted_values[-1] - sorted_values[0]
    if span <= 0:
        return n - 1
    y = (sorted_values - sorted_values[0]) / span
    return int(np.argmax(x - y))


def dbscan_eps_from_k_distance(points: np.ndarray, min_samples: int) -> tuple[float, dict]:
    # The point itself is the first neighbour, matching DBSCAN's core test (min_samples counts the point).
    distances, _ = NearestNeighbors(n_neighbors=min_samples).fit(points).kneighbors(points)
    k_distance = np.sort(distances[:, -1])
    knee = knee_index(k_distance)
    eps = float(k_distance[knee])
    if eps <= 0:
        # Many exact duplicates put the knee at 0; the smallest positive distance keeps DBSCAN meaningful.
        positive = k_distance[k_distance > 0]
        eps = float(positive[0]) if len(positive) else 1e-9
    return eps, {
        "min_samples": int(min_samples),
        "eps": eps,
        "knee_quantile": float(knee / max(len(k_distance) - 1, 1)),
        "k_distance_quantiles": {f"p{q}": float(np.percentile(k_distance, q)) for q in (10, 25, 50, 75, 90, 95, 99)},
    }


def dbscan_model(points: np.ndarray, eps: float, min_samples: int) -> CoreSampleModel:
    fitted = DBSCAN(eps=eps, min_samples=min_samples).fit(points)
    core = fitted.core_sample_indices_
    return CoreSampleModel(
        core_points=points[core],
        core_labels=fitted.labels_[core].astype(np.int64),
        eps=float(eps),
        min_samples=int(min_samples),
        params={"eps": float(eps), "min_samples": int(min_samples), "fit_rows": int(len(points))},
    )


def fit_dbscan(points: np.ndarray, sample_rows: np.ndarray, min_samples: int | None = None) -> AlgorithmFit:
    sample_points = points[sample_rows]
    min_samples = int(min_samples or 2 * points.shape[1])
    eps, selection = dbscan_eps_from_k_distance(sample_points, min_samples)
    model = dbscan_model(sample_points, eps, min_samples)
    selection.update({"rule": "eps = knee of the sorted min_samples-distance curve", "fit_rows": int(len(sample_rows))})
    return AlgorithmFit(model, model.predict(points), selection)


def refit_same_hyperparameters(
    model: CentroidModel | CoreSampleModel, points: np.ndarray, seed: int
) -> CentroidModel | CoreSampleModel:
    """Refit ``model``'s algorithm with its chosen hyperparameters on other rows (for stability)."""
    if model.algorithm == KMEANS:
        return kmeans_model(points, model.n_clusters, seed)
    if model.algorithm == WARD:
        return ward_model(points, model.n_clusters)
    if model.algorithm == DBSCAN_NAME:
        return dbscan_model(points, model.eps, model.min_samples)
    raise ValueError(f"unknown algorithm {model.algorithm!r}")
