"""Segmentation library: recovery of planted groups, naming stability, sample-and-assign, bad input."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

from customer_assets.ml.segmentation import (
    BASELINE_NAME,
    SEGMENT_NAMES,
    beats_baseline,
    evaluate_on_holdout,
    serve_baseline_unless_beaten,
    plot_profile_bars,
    plot_segment_scatter,
    plot_segment_sizes_over_time,
    segment_customers,
    segment_share_shifts,
    segment_share_violations,
    stability_check,
)
from customer_assets.ml.segmentation.algorithms import fit_dbscan, fit_ward, knee_index
from customer_assets.ml.segmentation.metrics import exact_silhouette
from customer_assets.ml.segmentation.naming import name_clusters, value_name_index, VALUE_NAMES
from customer_assets.ml.segmentation.sample_assign import nearest_centroid_labels
from customer_assets.ml.segmentation.synthetic import planted_customers, realistic_customers
from customer_assets.ml.segmentation.transform import fit_transform, resolve_feature_columns, to_float_matrix

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
FAST = {"n_resamples": 3, "stability_sample_size": 400, "silhouette_sample_size": 800}


@pytest.fixture(scope="module")
def planted():
    return planted_customers(1_000, seed=7)


@pytest.fixture(scope="module")
def planted_result(planted):
    features, _ = planted
    return segment_customers(features, seed=0, **FAST)


def test_planted_groups_recovered_and_named(planted, planted_result):
    _, truth = planted
    found = planted_result.labels["segment_name"].to_numpy()
    assert planted_result.report["metrics"]["n_clusters"] == 5
    assert adjusted_rand_score(truth, found) > 0.95
    # Names come from profiles: the planted "Premium" group must be called Premium, and so on.
    assert np.mean(truth == found) > 0.97
    assert set(found) == set(SEGMENT_NAMES)


def test_report_is_json_safe_and_complete(planted_result):
    report = planted_result.report
    json.dumps(report, allow_nan=False)
    assert report["primary_metric"] == "silhouette"
    assert report["chosen_algorithm"] in {"kmeans", "dbscan", "agglomerative_ward"}
    algorithms = [row["algorithm"] for row in report["comparison"]]
    assert algorithms == ["kmeans", "dbscan", "agglomerative_ward", "value_quantile_baseline"]
    for row in report["comparison"][:3]:
        for key in ("silhouette", "davies_bouldin", "calinski_harabasz", "inertia", "n_clusters",
                    "noise_share", "smallest_cluster_share", "stability_ari"):
            assert key in row
        assert 0.0 <= row["stability_ari"] <= 1.0
    assert report["metrics"]["silhouette"] > report["baseline"]["silhouette"]
    assert report["holdout"]["n_rows"] == report["n_holdout_rows"] > 0
    assert report["n_fit_rows"] + report["n_holdout_rows"] == 1_000
    assert set(report["transform"]["columns"]) == set(report["feature_columns"])
    assert "country" not in report["feature_columns"]


def test_names_stable_across_seeds(planted, planted_result):
    features, _ = planted
    reference = planted_result.labels
    for seed in (1, 2):
        other = segment_customers(features, seed=seed, **FAST).labels
        joined = reference.join(other, on="customer_id", suffix="_other")
        assert (joined["segment_name"] == joined["segment_name_other"]).mean() > 0.99
        assert (joined["segment_id"] == joined["segment_id_other"]).mean() > 0.99


def test_assign_new_customers(planted_result):
    new_features, truth = planted_customers(300, seed=99)
    labels = planted_result.assign(new_features)
    assert labels.columns == ["customer_id", "segment_id", "segment_name"]
    assert labels.height == 300
    assert np.mean(labels["segment_name"].to_numpy() == truth) > 0.97


def test_assign_reproduces_fit_labels(planted, planted_result):
    features, _ = planted
    assert planted_result.assign(features).equals(planted_result.labels)


def test_model_pickles_and_assigns_identically(planted, planted_result):
    features, _ = planted
    restored = pickle.loads(pickle.dumps(planted_result))
    assert restored.assign(features).equals(planted_result.labels)
    with pytest.raises(ValueError, match="pass features"):
        restored.embedding()
    model = pickle.loads(pickle.dumps(planted_result.model))
    assert model.assign(features).equals(planted_result.labels)


def test_evaluate_on_holdout_compares_models_on_same_rows(planted, planted_result):
    holdout, _ = planted_customers(400, seed=123)
    champion = evaluate_on_holdout(planted_result, holdout)
    assert champion["primary_metric"] == "silhouette"
    assert champion["n_rows"] == 400
    assert champion["metrics"]["silhouette"] > champion["baseline"]["silhouette"]
    # A deliberately poor challenger (two clusters on planted five) must score lower on the same rows.
    features, _ = planted
    poor = segment_customers(features, seed=0, k_range=(2, 2), **FAST)
    challenger = evaluate_on_holdout(poor.model, holdout)
    assert challenger["metrics"]["silhouette"] < champion["metrics"]["silhouette"]


def test_profiles_cover_all_customers(planted_result):
    profiles = planted_result.profiles()
    assert profiles["size"].sum() == 1_000
    assert abs(profiles["share"].sum() - 1.0) < 1e-9
    premium = profiles.filter(pl.col("segment_name") == "Premium")
    low = profiles.filter(pl.col("segment_name") == "Low Value")
    assert premium["median_monetary"][0] > 10 * low["median_monetary"][0]


def test_sample_and_assign_close_to_full_fit():
    features, _ = planted_customers(2_000, seed=3, noise=0.3)
    columns, _ = resolve_feature_columns(features, None)
    raw = to_float_matrix(features, columns)
    points = fit_transform(raw, columns).apply(raw)
    everything = np.arange(len(points))
    sample = np.random.default_rng(0).choice(len(points), 500, replace=False)
    full_ward = fit_ward(points, everything, (5, 5), seed=0, silhouette_sample_size=500)
    sampled_ward = fit_ward(points, sample, (5, 5), seed=0, silhouette_sample_size=500)
    assert adjusted_rand_score(full_ward.labels, sampled_ward.labels) > 0.9
    full_dbscan = fit_dbscan(points, everything)
    sampled_dbscan = fit_dbscan(points, sample)
    assert full_dbscan.model.n_clusters >= 2
    assert adjusted_rand_score(full_dbscan.labels, sampled_dbscan.labels) > 0.8


def test_small_sample_pipeline_agrees_with_full_fit(planted):
    features, _ = planted
    full = segment_customers(features, seed=0, sample_size=10_000, **FAST).labels
    sampled = segment_customers(features, seed=0, sample_size=250, kmeans_selection_size=250, **FAST).labels
    assert adjusted_rand_score(full["segment_id"].to_numpy(), sampled["segment_id"].to_numpy()) > 0.95


def test_realistic_data_gives_honest_silhouette():
    result = segment_customers(realistic_customers(3_000, seed=1), seed=0, **FAST)
    silhouette = result.report["metrics"]["silhouette"]
    assert 0.2 < silhouette < 0.6
    assert result.report["metrics"]["silhouette"] > result.report["baseline"]["silhouette"]
    # Never-ordered customers (NULL recency) are the most lapsed, so they land in Inactive.
    never_ordered = realistic_customers(3_000, seed=1).filter(pl.col("recency_days").is_null())["customer_id"]
    names = result.labels.filter(pl.col("customer_id").is_in(never_ordered.implode()))["segment_name"]
    assert (names == "Inactive").mean() > 0.95


def _base_frame(n: int = 50) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "recency_days": rng.uniform(1, 300, n),
            "frequency": rng.integers(1, 20, n).astype(float),
            "monetary": rng.lognormal(5, 1, n),
        }
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.with_columns(pl.lit(3.0).alias("monetary")), "constant.*monetary"),
        (lambda f: f.with_columns(pl.lit(None, dtype=pl.Float64).alias("frequency")), "entirely null.*frequency"),
        (lambda f: f.with_columns(pl.lit(float("nan")).alias("frequency")), "entirely null.*frequency"),
        (
            lambda f: f.with_columns(
                pl.when(pl.int_range(pl.len()) == 0).then(float("inf")).otherwise(pl.col("monetary")).alias("monetary")
            ),
            "infinite.*monetary",
        ),
        (lambda f: f.head(5), "fewer than the 8 clusters"),
        (lambda f: f.drop("customer_id"), "id column 'customer_id'"),
        (lambda f: f.with_columns(pl.lit("c1").alias("customer_id")), "duplicate ids"),
        (lambda f: f.drop("recency_days", "frequency", "monetary"), "none of the default feature columns"),
    ],
)
def test_bad_input_raises_clear_error(mutate, message):
    with pytest.raises(ValueError, match=message):
        segment_customers(mutate(_base_frame()), seed=0, **FAST)


def test_bad_explicit_columns_and_assign_input(planted_result):
    frame = _base_frame().with_columns(pl.lit("x").alias("country"))
    with pytest.raises(ValueError, match="not numeric.*country"):
        segment_customers(frame, feature_columns=["monetary", "country"])
    with pytest.raises(ValueError, match="not in the frame.*nope"):
        segment_customers(frame, feature_columns=["monetary", "nope"])
    with pytest.raises(ValueError, match="k_range"):
        segment_customers(frame, k_range=(5, 3))
    with pytest.raises(ValueError, match="engagement_score"):
        planted_result.assign(_base_frame())


def test_missing_values_filled_by_meaning():
    raw = np.array([[10.0, 2.0, 0.5], [np.nan, np.nan, np.nan], [30.0, 5.0, 0.7], [20.0, 1.0, 0.9]])
    transform = fit_transform(raw, ["recency_days", "frequency", "engagement_score"])
    filled = transform.fill(raw)
    assert filled[1].tolist() == [30.0, 0.0, 0.7]  # max recency, zero orders, median score


def test_naming_rule_for_other_cluster_counts():
    assert [VALUE_NAMES[value_name_index(r, 4)] for r in range(4)] == list(VALUE_NAMES)
    assert [VALUE_NAMES[value_name_index(r, 2)] for r in range(2)] == ["Low Value", "High Value"]
    assert [VALUE_NAMES[value_name_index(r, 6)] for r in range(6)][0] == "Low Value"
    assert [VALUE_NAMES[value_name_index(r, 6)] for r in range(6)][-1] == "Premium"
    # Three clusters with arbitrary ids: the lapsed one is Inactive whatever its id is.
    columns = ["recency_days", "monetary"]
    points = np.array([[0.0, 3.0], [0.1, 3.1], [5.0, -1.0], [5.1, -1.1], [0.0, 0.0], [0.1, 0.1]])
    labels = np.array([7, 7, 2, 2, 4, 4])
    naming = name_clusters(points, labels, columns)
    assert naming.names_by_segment_id() == {0: "Inactive", 1: "Low Value", 2: "High Value"}
    segment_ids, names = naming.map(np.array([2, 4, 7, -1]))
    assert segment_ids.tolist() == [0, 1, 2, -1]
    assert names.tolist() == ["Inactive", "Low Value", "High Value", "Outlier"]


def test_exact_silhouette_matches_sklearn():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(700, 4))
    labels = rng.integers(0, 4, 700)
    labels[:5] = 9  # a small cluster; a singleton is covered below
    labels[10] = 11
    assert exact_silhouette(points, labels, chunk_rows=128) == pytest.approx(silhouette_score(points, labels), abs=1e-9)


def test_knee_and_nearest_centroid():
    curve = np.concatenate([np.linspace(0, 1, 90), np.linspace(2, 20, 10)])
    assert 85 <= knee_index(curve) <= 91
    centroids = np.array([[0.0, 0.0], [10.0, 10.0]])
    points = np.array([[1.0, 1.0], [9.0, 8.0], [6.0, 6.0]])
    assert nearest_centroid_labels(points, centroids, chunk_rows=2).tolist() == [0, 1, 1]


def test_checks():
    labels = pl.DataFrame(
        {"segment_id": [0] * 97 + [1] * 2 + [-1], "segment_name": ["Low Value"] * 97 + ["Premium"] * 2 + ["Outlier"]}
    )
    violations = segment_share_violations(labels, min_share=0.05)
    assert [v["segment_id"] for v in violations] == [1]
    assert segment_share_violations(labels, min_share=0.01) == []
    previous = pl.DataFrame({"segment_name": ["A"] * 50 + ["B"] * 50})
    current = pl.DataFrame({"segment_name": ["A"] * 70 + ["B"] * 25 + ["C"] * 5})
    shifts = segment_share_shifts(previous, current, max_shift=0.1)
    assert [s["segment_name"] for s in shifts] == ["A", "B"]
    assert stability_check({"metrics": {"stability_ari": 0.85}})["passed"]
    assert not stability_check({"metrics": {"stability_ari": 0.5}})["passed"]


def test_embedding_and_plots(planted_result, tmp_path):
    embedding = planted_result.embedding(tsne_sample_size=150, seed=0)
    assert embedding.height == 1_000
    assert embedding["pca_x"].null_count() == 0
    assert embedding["tsne_x"].null_count() == 1_000 - 150
    scatter = tmp_path / "scatter.png"
    bars = tmp_path / "profiles.png"
    history_png = tmp_path / "history.png"
    plot_segment_scatter(embedding, scatter)
    plot_profile_bars(planted_result.profiles(), bars)
    history = pl.concat(
        [planted_result.labels.with_columns(pl.lit(day).alias("as_of_date")) for day in ("2026-01-01", "2026-01-02")]
    ).with_columns(pl.col("as_of_date").str.to_date())
    plot_segment_sizes_over_time(history, history_png)
    for path in (scatter, bars, history_png):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 5_000


def test_real_movielens_users():
    ratings = SHARED_DATA / "movielens-small" / "ratings.csv"
    if not ratings.is_file():
        pytest.skip(f"shared MovieLens data not found at {ratings}")
    from customer_assets.ml.segmentation.real_data import movielens_customer_features

    features = movielens_customer_features(ratings)
    result = segment_customers(features, seed=0, **FAST)
    assert result.labels.height == features.height == 610
    assert result.report["metrics"]["silhouette"] > result.report["baseline"]["silhouette"]
    assert set(result.labels["segment_name"].unique()) <= set(SEGMENT_NAMES) | {"Outlier"}


def test_baseline_serves_when_the_clustering_does_not_beat_it(planted, planted_result):
    """serve_baseline_unless_beaten: the clustering serves when it wins on the holdout; otherwise the quantile
    baseline itself serves, through the same transform, with profile names, and passes the gate."""
    features, _ = planted
    model = planted_result.model
    holdout = features.sample(300, seed=3)
    honest = evaluate_on_holdout(model, holdout, 800, 0)
    assert honest["metrics"]["silhouette"] > honest["baseline"]["silhouette"]
    served, served_eval, reason = serve_baseline_unless_beaten(model, honest, features, holdout, 800, 0)
    assert served is model and served_eval is honest and "clustering serves" in reason

    losing = {**honest, "metrics": {**honest["metrics"], "silhouette": honest["baseline"]["silhouette"] - 0.01}}
    assert not beats_baseline(losing)
    served, served_eval, reason = serve_baseline_unless_beaten(model, losing, features, holdout, 800, 0)
    assert served.is_baseline and served.algorithm == BASELINE_NAME and "the baseline serves" in reason
    assert served_eval["algorithm"] == BASELINE_NAME and beats_baseline(served_eval)
    assert served_eval["metrics"]["silhouette"] == pytest.approx(honest["baseline"]["silhouette"])
    labels = served.assign(holdout)
    groups = model.baseline.predict(model.transform.transform(holdout))
    # one segment per quantile group, named by value: the higher the monetary group, the higher its segment id
    pairs = pl.DataFrame({"group": groups, "segment_id": labels["segment_id"],
                          "monetary": holdout["monetary"]}).unique(["group", "segment_id"])
    assert pairs.height == len(np.unique(groups))
    assert set(labels["segment_name"]) <= set(SEGMENT_NAMES)
    assert pickle.loads(pickle.dumps(served)).assign(holdout).equals(labels)
