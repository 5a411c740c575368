"""Champion/challenger comparison on the same holdout rows.

``evaluate_on_holdout(model, holdout_features)`` transforms the rows with the model's own fitted
transform, labels them with its chosen clusterer, and returns the quality figures beside those of the
single-feature quantile baseline in the same space (its edges learnt on the model's fit rows). The primary metric is
silhouette (higher is better),
under ``metrics``. Each model is scored in its own transformed space, so compare models built with the
same feature columns and transform recipe.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .baseline import BASELINE_NAME, fit_quantile_baseline
from .metrics import PRIMARY_METRIC, PRIMARY_METRIC_HIGHER_IS_BETTER, clustering_quality
from .model import SegmentModel
from .sample_assign import NOISE_LABEL


def evaluate_on_holdout(
    model, holdout_features: pl.DataFrame, silhouette_sample_size: int = 5_000, seed: int = 0
) -> dict:
    """Quality of ``model`` (a SegmentModel or SegmentationResult) on rows it never saw, with a baseline."""
    segment_model: SegmentModel = getattr(model, "model", model)
    if holdout_features.height < 2:
        raise ValueError(f"holdout needs at least 2 rows, got {holdout_features.height}")
    points = segment_model.transform.transform(holdout_features)
    clusters = segment_model.cluster_points(points)
    metrics = clustering_quality(points, clusters, silhouette_sample_size, seed)
    quantile_baseline = getattr(segment_model, "baseline", None) or fit_quantile_baseline(
        points, segment_model.feature_columns, max(2, metrics["n_clusters"])
    )
    baseline = clustering_quality(points, quantile_baseline.predict(points), silhouette_sample_size, seed)
    segment_ids, segment_names = segment_model.naming.map(clusters)
    names, counts = np.unique(segment_names.astype(str), return_counts=True)
    return {
        "algorithm": segment_model.algorithm,
        "n_rows": int(holdout_features.height),
        "primary_metric": PRIMARY_METRIC,
        "primary_metric_higher_is_better": PRIMARY_METRIC_HIGHER_IS_BETTER,
        "metrics": metrics,
        "baseline_name": BASELINE_NAME,
        "baseline": baseline,
        "baseline_rule": quantile_baseline.describe(),
        "segment_shares": {n: float(c / len(clusters)) for n, c in zip(names, counts)},
        "noise_rows": int((clusters == NOISE_LABEL).sum()),
    }


def beats_baseline(evaluation: dict) -> bool:
    """The evaluated model's primary metric beats its quantile baseline's (the baseline itself passes)."""
    if evaluation["algorithm"] == BASELINE_NAME:
        return True
    metric = evaluation["primary_metric"]
    model, baseline = evaluation["metrics"].get(metric), evaluation["baseline"].get(metric)
    if model is None or (isinstance(model, float) and np.isnan(model)):
        return False
    return baseline is None or (isinstance(baseline, float) and np.isnan(baseline)) or model > baseline


def serve_baseline_unless_beaten(
    model: SegmentModel,
    holdout_eval: dict,
    fit_features: pl.DataFrame,
    holdout_features: pl.DataFrame,
    silhouette_sample_size: int = 5_000,
    seed: int = 0,
) -> tuple[SegmentModel, dict, str]:
    """(model that serves, its holdout evaluation, why): the clustering when it beats the single-feature
    quantile baseline on the holdout, else the baseline itself (same transform, groups named by the same
    rule on the fit rows)."""
    metric = holdout_eval["primary_metric"]
    model_score, baseline_score = holdout_eval["metrics"].get(metric), holdout_eval["baseline"].get(metric)
    if beats_baseline(holdout_eval) or model.baseline is None:
        return (
            model,
            holdout_eval,
            (
                f"{model.algorithm} {metric} {model_score:.4f} beats the quantile baseline "
                f"{baseline_score if baseline_score is None else round(baseline_score, 4)} "
                "on the holdout: the clustering serves"
            ),
        )
    served = model.as_baseline(fit_features)
    reason = (
        f"{model.algorithm} {metric} "
        f"{'n/a' if model_score is None else round(model_score, 4)} does not beat the quantile baseline "
        f"({served.baseline.column}, {served.baseline.n_groups_realised} groups) {baseline_score:.4f} on the "
        "holdout: the baseline serves"
    )
    return served, evaluate_on_holdout(served, holdout_features, silhouette_sample_size, seed), reason
