"""Benchmark: customer segmentation at scale (default 1,000,000 customers).

    .venv/bin/python benchmarks/bench_segmentation.py [--rows N] [--seed S] [--tsne-rows M]

Stages, each timed: synthetic realistic customers (lognormal spend/frequency, recency correlated with
engagement, NULLs for never-ordered customers), then ``segment_customers`` (transform + K-Means +
DBSCAN + Ward + comparison + naming, its own stage timings), ``assign`` on every row, PCA + t-SNE
embedding, the three PNGs, a raw-feature K-Means silhouette for contrast, and MovieLens users as
real customers when ../shared/data is present. Prints the figures and writes them as JSON to
``$CUSTOMER_ML_HOME/bench/segmentation.json`` (default ``.customer_ml`` in the repo root).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sklearn.cluster import KMeans  # noqa: E402

from customer_assets.ml.segmentation import (  # noqa: E402
    plot_profile_bars,
    plot_segment_scatter,
    plot_segment_sizes_over_time,
    segment_customers,
)
from customer_assets.ml.segmentation.metrics import sampled_silhouette  # noqa: E402
from customer_assets.ml.segmentation.synthetic import realistic_customers  # noqa: E402
from customer_assets.ml.segmentation.transform import to_float_matrix  # noqa: E402

SHARED_RATINGS = REPO_ROOT / ".." / "shared" / "data" / "movielens-small" / "ratings.csv"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def comparison_summary(report: dict) -> list[dict]:
    keys = ("algorithm", "n_clusters", "silhouette", "davies_bouldin", "calinski_harabasz", "inertia_per_customer",
            "noise_share", "smallest_cluster_share", "stability_ari", "eligible", "ineligible_reasons")
    return [{k: row.get(k) for k in keys} for row in report["comparison"]]


def raw_feature_silhouette(features, columns: list[str], k: int, seed: int) -> float:
    """K-Means on standardised raw (unlogged) features, for contrast with the log-scaled figure."""
    raw = to_float_matrix(features, columns)
    raw = np.where(np.isnan(raw), np.nanmedian(raw, axis=0), raw)
    rows = np.random.default_rng(seed).choice(len(raw), size=min(50_000, len(raw)), replace=False)
    sample = (raw[rows] - raw[rows].mean(axis=0)) / raw[rows].std(axis=0)
    labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(sample)
    return sampled_silhouette(sample, labels, 5_000, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tsne-rows", type=int, default=2_000)
    args = parser.parse_args()
    home = Path(os.environ.get("CUSTOMER_ML_HOME", REPO_ROOT / ".customer_ml"))
    out_dir = home / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    stages: dict[str, float] = {}

    clock = time.perf_counter()
    features = realistic_customers(args.rows, seed=args.seed)
    stages["generate_data"] = time.perf_counter() - clock

    clock = time.perf_counter()
    result = segment_customers(features, seed=args.seed)
    stages["segment_customers_total"] = time.perf_counter() - clock
    report = result.report

    clock = time.perf_counter()
    reassigned = result.assign(features)
    stages["assign_all_rows"] = time.perf_counter() - clock
    assign_agreement = float((reassigned["segment_id"] == result.labels["segment_id"]).mean())

    clock = time.perf_counter()
    embedding = result.embedding(tsne_sample_size=args.tsne_rows, seed=args.seed)
    stages["embedding_pca_all_tsne_sample"] = time.perf_counter() - clock

    clock = time.perf_counter()
    plot_segment_scatter(embedding, out_dir / "segmentation_scatter_pca.png")
    plot_segment_scatter(embedding, out_dir / "segmentation_scatter_tsne.png", x="tsne_x", y="tsne_y")
    plot_profile_bars(result.profiles(), out_dir / "segmentation_profiles.png")
    # Two synthetic partitions (the second a fresh population) stand in for a backfilled history.
    import polars as pl

    later = result.assign(realistic_customers(min(args.rows, 200_000), seed=args.seed + 1))
    history = pl.concat(
        [
            result.labels.with_columns(pl.lit("2026-01-01").str.to_date().alias("as_of_date")),
            later.with_columns(pl.lit("2026-01-02").str.to_date().alias("as_of_date")),
        ]
    )
    plot_segment_sizes_over_time(history, out_dir / "segmentation_sizes_over_time.png")
    stages["plots"] = time.perf_counter() - clock

    clock = time.perf_counter()
    raw_silhouette = raw_feature_silhouette(features, report["feature_columns"], report["metrics"]["n_clusters"], args.seed)
    stages["raw_feature_contrast"] = time.perf_counter() - clock

    real = None
    if SHARED_RATINGS.is_file():
        from customer_assets.ml.segmentation.real_data import movielens_customer_features

        clock = time.perf_counter()
        real_result = segment_customers(movielens_customer_features(SHARED_RATINGS), seed=args.seed)
        stages["real_movielens"] = time.perf_counter() - clock
        real = {
            "source": "MovieLens latest-small users as customers (stand-in mapping, see real_data.py)",
            "rows": real_result.report["n_rows"],
            "chosen_algorithm": real_result.report["chosen_algorithm"],
            "metrics": real_result.report["metrics"],
            "baseline": real_result.report["baseline"],
            "holdout": real_result.report["holdout"],
            "comparison": comparison_summary(real_result.report),
            "segments": real_result.report["segments"],
        }

    core_seconds = sum(v for k, v in report["timings_seconds"].items())
    figures = {
        "rows": args.rows,
        "seed": args.seed,
        "stages_seconds": stages,
        "segment_customers_stage_seconds": report["timings_seconds"],
        "transform_algorithms_comparison_seconds": core_seconds,
        "target_seconds": 180,
        "peak_rss_mb": peak_rss_mb(),
        "chosen_algorithm": report["chosen_algorithm"],
        "selection_fallback": report["selection_fallback"],
        "primary_metric": report["primary_metric"],
        "silhouette_log_scaled": report["metrics"]["silhouette"],
        "silhouette_raw_standardised_kmeans_same_k": raw_silhouette,
        "metrics": report["metrics"],
        "baseline": report["baseline"],
        "holdout": report["holdout"],
        "comparison": comparison_summary(report),
        "hyperparameter_selection": report["hyperparameter_selection"],
        "segments": report["segments"],
        "assign_agrees_with_fit_labels": assign_agreement,
        "real_data": real,
        "pngs": sorted(str(p) for p in out_dir.glob("segmentation_*.png")),
    }
    (out_dir / "segmentation.json").write_text(json.dumps(figures, indent=2, default=str))
    print(json.dumps({k: figures[k] for k in figures if k not in ("hyperparameter_selection",)}, indent=2, default=str))
    print(f"wrote {out_dir / 'segmentation.json'}")


if __name__ == "__main__":
    main()
