"""The segmentation training run's tables for people (pure, no Dagster): the algorithm comparison and the
challenger / champion holdout figures beside their baseline, every cell as text."""

import math

import polars as pl

COMPARISON_COLUMNS = (
    "algorithm",
    "n_clusters",
    "silhouette",
    "davies_bouldin",
    "calinski_harabasz",
    "inertia",
    "noise_share",
    "smallest_cluster_share",
    "stability_ari",
    "eligible",
)


def comparison_frame(report: dict) -> pl.DataFrame:
    """One row per candidate algorithm of the training report."""
    rows = [{c: rounded(row.get(c)) for c in COMPARISON_COLUMNS} for row in report["comparison"]]
    return pl.DataFrame(rows, schema={c: pl.String for c in COMPARISON_COLUMNS})


def holdout_frame(challenger_eval: dict, champion_eval: dict | None, champion_version: int | None) -> pl.DataFrame:
    """Challenger and champion on the holdout: clusters, silhouette, Davies-Bouldin, and the baseline's."""
    rows = []
    for label, evaluation in (("challenger", challenger_eval), (f"champion v{champion_version}", champion_eval)):
        if evaluation is None:
            continue
        metrics, baseline = evaluation["metrics"], evaluation["baseline"]
        rows.append(
            {
                "model": label,
                "algorithm": evaluation["algorithm"],
                "n_clusters": str(metrics["n_clusters"]),
                "silhouette": rounded(metrics["silhouette"]),
                "davies_bouldin": rounded(metrics["davies_bouldin"]),
                "baseline_silhouette": rounded(baseline["silhouette"]),
                "baseline_davies_bouldin": rounded(baseline["davies_bouldin"]),
            }
        )
    return pl.DataFrame(rows, schema={c: pl.String for c in rows[0]})


def rounded(value) -> str:
    """A figure as text with 4 significant digits ("nan", "" for None)."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)
