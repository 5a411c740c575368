"""Comparison table of the fitted algorithms, bootstrap stability, and the rule that picks one.

Stability: ``n_resamples`` refits of the algorithm with its chosen hyperparameters, each on a fresh
subsample (drawn without replacement: duplicated rows would inflate DBSCAN densities) of
``resample_size`` rows; every refit labels the same evaluation rows, and stability is the mean
adjusted Rand index over all pairs of refits. ARI is chance-corrected and could dip below 0 for
labellings worse than chance; such a mean is reported as 0, so the figure lies in [0, 1].

Baseline row: "value_quantile_baseline" (``baseline.BASELINE_RULE``) cuts one feature (monetary, or
the highest-variance column when no value column exists) into as many equal-frequency groups as the
chosen model has segments, the rule-of-thumb segmentation a clustering model has to beat. Its stability
is measured the same way (edges refitted on each subsample). It is never selectable.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from sklearn.metrics import adjusted_rand_score

from .baseline import QuantileBaseline, fit_quantile_baseline
from .metrics import PRIMARY_METRIC, clustering_quality
from .naming import row_value_score
from .repair import refit_same_procedure

TIE_TOLERANCE = 0.01
SELECTION_RULE = (
    "eligible = number of clusters inside k_range (a 2-way split is not a segmentation), "
    "smallest cluster share >= min_segment_share, noise share <= "
    "max_noise_share and stability ARI >= min_stability; choose the eligible algorithm with the highest "
    f"silhouette; silhouettes within {TIE_TOLERANCE} of the best are a tie, broken by the lower "
    "Davies-Bouldin. If none is eligible, the same ordering is applied to every algorithm with at least "
    "2 clusters and the report says selection_fallback = true."
)


def bootstrap_stability(
    model, points: np.ndarray, n_resamples: int, resample_size: int, seed: int, columns: list[str] | None = None
) -> dict:
    """Mean pairwise ARI of refits on subsamples; ``model`` may be a QuantileBaseline (then give ``columns``)."""
    rng = np.random.default_rng(seed)
    n_rows = len(points)
    resample_size = min(resample_size, n_rows)
    evaluation_rows = rng.choice(n_rows, size=min(resample_size, n_rows), replace=False)
    evaluation_points = points[evaluation_rows]
    labellings = []
    for resample in range(n_resamples):
        rows = rng.choice(n_rows, size=resample_size, replace=False)
        if isinstance(model, QuantileBaseline):
            refit = fit_quantile_baseline(points[rows], columns, model.n_groups)
        else:
            refit = refit_same_procedure(model, points[rows], seed + 1 + resample)
        labellings.append(refit.predict(evaluation_points))
    scores = [adjusted_rand_score(a, b) for a, b in itertools.combinations(labellings, 2)]
    mean_ari = float(np.mean(scores)) if scores else math.nan
    return {
        "stability_ari": max(0.0, mean_ari) if not math.isnan(mean_ari) else math.nan,
        "stability_ari_min": float(np.min(scores)) if scores else math.nan,
        "stability_resamples": int(n_resamples),
        "stability_resample_rows": int(resample_size),
    }


def value_quantile_labels(points: np.ndarray, columns: list[str], n_groups: int) -> np.ndarray:
    """The former baseline (quantiles of the mean of the value columns), kept for callers of the old API."""
    score = row_value_score(points, columns)
    edges = np.quantile(score, np.linspace(0, 1, n_groups + 1)[1:-1])
    return np.searchsorted(edges, score, side="right").astype(np.int64)


def comparison_row(
    name: str,
    points: np.ndarray,
    labels: np.ndarray,
    params: dict,
    silhouette_sample_size: int,
    seed: int,
    stability: dict | None,
) -> dict:
    row = {"algorithm": name, "params": params}
    row.update(clustering_quality(points, labels, silhouette_sample_size, seed))
    row.update(stability or {"stability_ari": math.nan, "stability_ari_min": math.nan})
    return row


def eligibility_problems(
    row: dict, k_range: tuple[int, int], min_segment_share: float, max_noise_share: float, min_stability: float
) -> list[str]:
    problems = []
    if not k_range[0] <= row["n_clusters"] <= k_range[1]:
        problems.append(f"{row['n_clusters']} cluster(s), outside k_range {list(k_range)}")
    if row["smallest_cluster_share"] < min_segment_share:
        problems.append(f"smallest cluster share {row['smallest_cluster_share']:.4f} < {min_segment_share}")
    if row["noise_share"] > max_noise_share:
        problems.append(f"noise share {row['noise_share']:.4f} > {max_noise_share}")
    stability = row["stability_ari"]
    if math.isnan(stability) or stability < min_stability:
        problems.append(f"stability ARI {stability:.3f} < {min_stability}")
    if math.isnan(row[PRIMARY_METRIC]):
        problems.append(f"{PRIMARY_METRIC} undefined")
    return problems


def _best(rows: list[dict]) -> dict:
    top = max(r[PRIMARY_METRIC] for r in rows)
    tied = [r for r in rows if r[PRIMARY_METRIC] >= top - TIE_TOLERANCE]
    return min(tied, key=lambda r: (r["davies_bouldin"], -r[PRIMARY_METRIC]))


def select_algorithm(
    rows: list[dict], k_range: tuple[int, int], min_segment_share: float, max_noise_share: float, min_stability: float
) -> tuple[str, bool]:
    """Apply ``SELECTION_RULE``; returns (algorithm name, whether the fallback was used). Marks rows."""
    for row in rows:
        row["ineligible_reasons"] = eligibility_problems(
            row, k_range, min_segment_share, max_noise_share, min_stability
        )
        row["eligible"] = not row["ineligible_reasons"]
    eligible = [r for r in rows if r["eligible"]]
    if eligible:
        return _best(eligible)["algorithm"], False
    fallback = [r for r in rows if r["n_clusters"] >= 2 and not math.isnan(r[PRIMARY_METRIC])]
    if not fallback:
        raise ValueError("no algorithm found at least two clusters; the features do not separate customers")
    return _best(fallback)["algorithm"], True
