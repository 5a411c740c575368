"""``segment_customers``: transform, fit the three algorithms, repair small clusters, compare, choose, name.

Columns: explicit, else the default RFM names, else every usable numeric column (``report["feature_selection"]``).
Small clusters: every candidate is repaired (``repair.REPAIR_RULE``) before the comparison, so the table
compares what would be deployed; the chosen model's merges are in ``report["repair"]`` and its
``assign``/``predict`` give the repaired labels.

Leakage guard: a random ``holdout_fraction`` of customers is set aside before anything is learnt (the
transform statistics included); the chosen model labels them afterwards through ``assign`` and
``report["holdout"]`` scores the model on them beside the baseline.
"""

from __future__ import annotations

import math
import time

import numpy as np
import polars as pl
from threadpoolctl import threadpool_info, threadpool_limits

from .algorithms import ALGORITHMS, DBSCAN_NAME, KMEANS, WARD, AlgorithmFit, fit_dbscan, fit_kmeans, fit_ward
from .baseline import BASELINE_NAME, fit_quantile_baseline
from .compare import SELECTION_RULE, bootstrap_stability, comparison_row, select_algorithm
from .evaluate import evaluate_on_holdout
from .metrics import PRIMARY_METRIC, PRIMARY_METRIC_HIGHER_IS_BETTER
from .model import SegmentModel, labels_frame
from .naming import NAMING_RULE, name_clusters
from .profiles import segment_profiles
from .repair import repair_small_clusters
from .result import SegmentationResult
from .sample_assign import draw_sample_indices
from .transform import fit_transform, select_feature_columns, to_float_matrix

MIN_HOLDOUT_ROWS = 20


def _validate(features: pl.DataFrame, id_column: str, k_range: tuple[int, int]) -> None:
    if not isinstance(features, pl.DataFrame):
        raise ValueError(f"features must be a polars DataFrame, got {type(features).__name__}")
    if id_column not in features.columns:
        raise ValueError(f"id column {id_column!r} not in the frame (columns: {features.columns})")
    ids = features.get_column(id_column)
    if ids.null_count():
        raise ValueError(f"id column {id_column!r} has {ids.null_count()} null value(s)")
    if ids.n_unique() != features.height:
        raise ValueError(f"id column {id_column!r} has duplicate ids: one row per customer expected")
    low, high = k_range
    if not (2 <= low <= high):
        raise ValueError(f"k_range must satisfy 2 <= low <= high, got {k_range}")
    if features.height < high:
        raise ValueError(f"only {features.height} rows: fewer than the {high} clusters at the top of k_range {k_range}")


def threadpool_info_threads() -> int | None:
    counts = [pool["num_threads"] for pool in threadpool_info()]
    return max(counts) if counts else None


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    return value


def _named_repair(repair: dict, naming) -> dict:
    """The chosen model's repair record, each merge also naming the segment the small cluster joined."""
    merges = []
    for merge in repair["merges"]:
        segment_id, segment_name = naming.map(np.asarray([merge["repaired_label"]]))
        merges.append(
            {**merge, "merged_into_segment_id": int(segment_id[0]), "merged_into_segment_name": str(segment_name[0])}
        )
    return {**repair, "merges": merges, "repaired": bool(merges)}


def segment_customers(
    features: pl.DataFrame,
    id_column: str = "customer_id",
    seed: int = 0,
    feature_columns: list[str] | None = None,
    k_range: tuple[int, int] = (3, 8),
    sample_size: int = 10_000,
    kmeans_selection_size: int = 50_000,
    silhouette_sample_size: int = 5_000,
    n_resamples: int = 5,
    stability_sample_size: int = 5_000,
    holdout_fraction: float = 0.1,
    min_segment_share: float = 0.02,
    max_noise_share: float = 0.05,
    min_stability: float = 0.8,
    clip_at: float = 5.0,
    n_threads: int | None = 1,
) -> SegmentationResult:
    """Segment customers; see the package docstring for the rules. Returns a SegmentationResult.

    ``n_threads`` caps BLAS/OpenMP threads (None = library defaults). The default of 1 is deliberate:
    on a shared 2-core machine the spin-waits of 2-thread OpenMP/BLAS made a 20,000-row fit take
    66 s against 41 s single-threaded.
    """
    with threadpool_limits(limits=n_threads):
        return _segment_customers(
            features,
            id_column,
            seed,
            feature_columns,
            k_range,
            sample_size,
            kmeans_selection_size,
            silhouette_sample_size,
            n_resamples,
            stability_sample_size,
            holdout_fraction,
            min_segment_share,
            max_noise_share,
            min_stability,
            clip_at,
        )


def _segment_customers(
    features,
    id_column,
    seed,
    feature_columns,
    k_range,
    sample_size,
    kmeans_selection_size,
    silhouette_sample_size,
    n_resamples,
    stability_sample_size,
    holdout_fraction,
    min_segment_share,
    max_noise_share,
    min_stability,
    clip_at,
) -> SegmentationResult:
    _validate(features, id_column, k_range)
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    rng = np.random.default_rng(seed)
    selection = select_feature_columns(features, feature_columns, id_column)
    columns = selection.columns
    ignored = [c for c in selection.skipped if selection.mode == "default_columns"]
    raw = to_float_matrix(features, columns)

    n_rows = features.height
    n_holdout = int(n_rows * holdout_fraction)
    if n_holdout < MIN_HOLDOUT_ROWS or n_rows - n_holdout < k_range[1]:
        n_holdout = 0
    order = rng.permutation(n_rows)
    holdout_rows, fit_rows = np.sort(order[:n_holdout]), np.sort(order[n_holdout:])

    transform = fit_transform(raw[fit_rows], columns, clip_at=clip_at)
    points_all = transform.apply(raw)
    points = points_all[fit_rows]
    timings["transform"] = time.perf_counter() - clock

    selection_rows = draw_sample_indices(len(points), kmeans_selection_size, rng)
    quadratic_rows = draw_sample_indices(len(points), sample_size, rng)
    fits = {}
    for name, fit in (
        (KMEANS, lambda: fit_kmeans(points, selection_rows, k_range, seed, silhouette_sample_size)),
        (DBSCAN_NAME, lambda: fit_dbscan(points, quadratic_rows)),
        (WARD, lambda: fit_ward(points, quadratic_rows, k_range, seed, silhouette_sample_size)),
    ):
        clock = time.perf_counter()
        fitted = fit()
        repaired, repaired_labels, repair = repair_small_clusters(
            fitted.model, points, fitted.labels, min_segment_share
        )
        fits[name] = AlgorithmFit(repaired, repaired_labels, {**fitted.selection, "repair": repair})
        timings[f"fit_{name}"] = time.perf_counter() - clock

    clock = time.perf_counter()
    rows = []
    for name in ALGORITHMS:
        stability = bootstrap_stability(fits[name].model, points, n_resamples, stability_sample_size, seed)
        row = comparison_row(
            name, points, fits[name].labels, fits[name].model.params, silhouette_sample_size, seed, stability
        )
        repair = fits[name].selection["repair"]
        row.update({"n_clusters_before_repair": repair["n_clusters_before"], "clusters_merged": len(repair["merges"])})
        rows.append(row)
    chosen, fallback = select_algorithm(rows, k_range, min_segment_share, max_noise_share, min_stability)
    chosen_fit = fits[chosen]
    chosen_row = next(r for r in rows if r["algorithm"] == chosen)
    quantile_baseline = fit_quantile_baseline(points, columns, max(2, chosen_row["n_clusters"]))
    baseline_row = comparison_row(
        BASELINE_NAME,
        points,
        quantile_baseline.predict(points),
        quantile_baseline.describe(),
        silhouette_sample_size,
        seed,
        bootstrap_stability(quantile_baseline, points, n_resamples, stability_sample_size, seed, columns),
    )
    baseline_row.update({"eligible": False, "ineligible_reasons": ["baseline, not a candidate"]})
    timings["compare"] = time.perf_counter() - clock

    clock = time.perf_counter()
    naming = name_clusters(points, chosen_fit.labels, columns)
    model = SegmentModel(transform, chosen_fit.model, naming, id_column, quantile_baseline)
    clusters_all = np.empty(n_rows, dtype=np.int64)
    clusters_all[fit_rows] = chosen_fit.labels
    if n_holdout:
        clusters_all[holdout_rows] = model.cluster_points(points_all[holdout_rows])
    segment_ids, segment_names = naming.map(clusters_all)
    labels = labels_frame(features.get_column(id_column), segment_ids, segment_names)
    profile_table = segment_profiles(features, labels, columns, id_column)
    holdout = evaluate_on_holdout(model, features[holdout_rows], silhouette_sample_size, seed) if n_holdout else None
    timings["name_and_label"] = time.perf_counter() - clock

    shares = dict(zip(profile_table["segment_id"].to_list(), profile_table["share"].to_list()))
    segments = [dict(entry, share=shares.get(entry["segment_id"], 0.0)) for entry in naming.profile_table]
    repair = _named_repair(chosen_fit.selection["repair"], naming)
    report = {
        "primary_metric": PRIMARY_METRIC,
        "primary_metric_higher_is_better": PRIMARY_METRIC_HIGHER_IS_BETTER,
        "chosen_algorithm": chosen,
        "metrics": {k: v for k, v in chosen_row.items() if k not in ("algorithm", "params")},
        "baseline_name": BASELINE_NAME,
        "baseline": {k: v for k, v in baseline_row.items() if k not in ("algorithm", "params")},
        "baseline_rule": quantile_baseline.describe(),
        "repair": repair,
        "holdout": holdout,
        "selection_rule": SELECTION_RULE,
        "selection_fallback": fallback,
        "thresholds": {
            "min_segment_share": min_segment_share,
            "max_noise_share": max_noise_share,
            "min_stability": min_stability,
        },
        "comparison": rows + [baseline_row],
        "hyperparameter_selection": {name: fits[name].selection for name in ALGORITHMS},
        "transform": transform.describe(),
        "feature_columns": columns,
        "ignored_columns": ignored,
        "feature_selection": selection.describe(),
        "naming_rule": NAMING_RULE,
        "segments": segments,
        "n_rows": n_rows,
        "n_fit_rows": int(len(fit_rows)),
        "n_holdout_rows": int(n_holdout),
        "seed": seed,
        "k_range": list(k_range),
        "sample_sizes": {
            "quadratic_fit": int(len(quadratic_rows)),
            "kmeans_selection": int(len(selection_rows)),
            "silhouette": silhouette_sample_size,
            "stability_resample": stability_sample_size,
        },
        "timings_seconds": timings,
        "n_threads": threadpool_info_threads(),
    }
    return SegmentationResult(labels, _json_safe(report), model, profile_table, points_all)
