"""Segmentation on real tables beats a single-feature quantile split; other column names and tiny clusters work.

The real-data tests run the reduced evaluation (customer_assets.evaluation.segmentation); the unit tests
below them need no data: a frame with its own column names, and a planted tiny cluster that must be
merged (and reported), never raised.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from customer_assets.evaluation.segmentation import SILHOUETTE_MARGIN, evaluate
from customer_assets.ml.segmentation import segment_customers, segment_share_violations
from customer_assets.ml.segmentation.algorithms import CentroidModel
from customer_assets.ml.segmentation.baseline import fit_quantile_baseline
from customer_assets.ml.segmentation.repair import repair_small_clusters
from customer_assets.ml.segmentation.synthetic import planted_customers

FAST = {"n_resamples": 3, "stability_sample_size": 400, "silhouette_sample_size": 800}


@functools.lru_cache(maxsize=1)
def reduced_rows(shared: Path):
    return {(row.dataset, row.metric.split(" ")[0]): row for row in evaluate(shared, reduced=True)}


@pytest.mark.parametrize("dataset", ["bank_churn", "cdnow_rfm", "movielens_users"])
def test_model_separates_holdout_customers_better_than_quantile_split(shared_data, dataset):
    rows = reduced_rows(shared_data)
    silhouette = rows[(dataset, "silhouette")]
    assert silhouette.model >= silhouette.baseline + SILHOUETTE_MARGIN, silhouette
    calinski = rows[(dataset, "calinski_harabasz")]
    assert calinski.model > calinski.baseline, calinski


def test_cdnow_segments_explain_later_spend_better_than_monetary_split(shared_data):
    eta = reduced_rows(shared_data)[("cdnow_rfm", "outcome")]
    assert eta.model > eta.baseline, eta


def test_bank_export_is_segmented_on_its_own_numeric_columns(shared_data):
    notes = reduced_rows(shared_data)[("bank_churn", "silhouette")].notes
    assert "all_numeric_columns" in notes
    for column in ("CreditScore", "Age", "Balance", "EstimatedSalary"):
        assert column in notes
    assert "RowNumber" not in notes and "Exited" not in notes and "CustomerId'" not in notes


def test_frame_with_other_column_names_uses_every_usable_numeric_column():
    rng = np.random.default_rng(0)
    n = 600
    group = rng.integers(0, 3, n)
    frame = pl.DataFrame({
        "row_no": np.arange(1, n + 1),
        "acct": [f"a{i}" for i in range(n)],
        "balance": np.exp(rng.normal(2.0 + 2.0 * group, 0.3)),
        "age": rng.normal(30.0 + 15.0 * group, 3.0),
        "products": (1 + group + rng.integers(0, 2, n)).astype(np.int64),
        "is_active": group > 0,
        "region": rng.choice(["N", "S"], n),
        "constant_flag": np.ones(n, dtype=np.int64),
        "never_filled": pl.Series([None] * n, dtype=pl.Float64),
    })
    result = segment_customers(frame, id_column="acct", seed=0, **FAST)
    report = result.report
    assert report["feature_columns"] == ["balance", "age", "products", "is_active"]
    selection = report["feature_selection"]
    assert selection["mode"] == "all_numeric_columns"
    assert set(selection["skipped"]) == {"row_no", "region", "constant_flag", "never_filled"}
    assert "row number" in selection["skipped"]["row_no"]
    assert result.labels.height == n and result.labels.columns == ["acct", "segment_id", "segment_name"]
    assert result.assign(frame).equals(result.labels)
    # monetary is absent: the baseline is the highest-variance transformed column, named in the report
    assert report["baseline_rule"]["column"] in report["feature_columns"]
    assert report["metrics"]["silhouette"] > report["baseline"]["silhouette"]


def _frame_with_tiny_cluster(n_tiny: int = 15, seed: int = 7) -> pl.DataFrame:
    """Planted five groups (1,000 rows) plus ``n_tiny`` dense whales (1.5%): one-order, huge-basket buyers."""
    planted, _ = planted_customers(1_000, seed=seed)
    rng = np.random.default_rng(seed)
    tiny = pl.DataFrame({
        "customer_id": [f"w{seed}_{i}" for i in range(n_tiny)],
        "recency_days": rng.uniform(1, 2, n_tiny), "frequency": np.ones(n_tiny),
        "monetary": rng.uniform(4e5, 5e5, n_tiny), "avg_order_value": rng.uniform(4e5, 5e5, n_tiny),
        "login_frequency": rng.uniform(0.05, 0.1, n_tiny), "engagement_score": rng.uniform(0.0, 0.02, n_tiny),
        "country": ["DE"] * n_tiny,
    })
    return pl.concat([planted, tiny])


@pytest.fixture(scope="module")
def tiny_frame() -> pl.DataFrame:
    return _frame_with_tiny_cluster()


def test_planted_tiny_cluster_is_its_own_segment_without_repair(tiny_frame):
    # The control: with repair switched off the whales form a segment below the 2% floor, so the test
    # below exercises the repair rather than a data set where no cluster was small.
    result = segment_customers(tiny_frame, seed=0, k_range=(5, 6), min_segment_share=0.0, **FAST)
    whales = result.labels.filter(pl.col("customer_id").str.starts_with("w"))
    assert whales["segment_id"].n_unique() == 1
    share = (result.labels["segment_id"] == whales["segment_id"][0]).mean()
    assert share < 0.02 and whales["segment_name"][0] != "Outlier"
    assert result.report["repair"]["merges"] == []


def test_planted_tiny_cluster_is_merged_and_reported_not_raised(tiny_frame):
    result = segment_customers(tiny_frame, seed=0, k_range=(5, 6), min_segment_share=0.02, **FAST)
    repair = result.report["repair"]
    assert repair["repaired"] and len(repair["merges"]) == 1
    merge = repair["merges"][0]
    assert 10 <= merge["size"] <= 15 and merge["share"] < 0.02
    assert merge["merged_into_segment_name"] == "Premium"  # nearest in the transformed space: the top spenders
    for row in result.report["comparison"][:3]:
        assert row["clusters_merged"] >= 1 and row["smallest_cluster_share"] >= 0.02, row
    assert segment_share_violations(result.labels, 0.02) == []
    whales = result.labels.filter(pl.col("customer_id").str.starts_with("w"))
    assert set(whales["segment_name"]) == {"Premium"}
    # Deployment follows the repair: assign reproduces the labels, and unseen whales join Premium too.
    assert result.assign(tiny_frame).equals(result.labels)
    new_whales = _frame_with_tiny_cluster(seed=8).filter(pl.col("customer_id").str.starts_with("w"))
    assert set(result.model.assign(new_whales)["segment_name"]) == {"Premium"}
    profiles = result.profiles()
    assert profiles["size"].sum() == tiny_frame.height
    assert profiles.filter(pl.col("segment_id") >= 0)["share"].min() >= 0.02
    assert set(profiles["segment_id"]) == set(result.labels["segment_id"])


def test_repair_merges_into_nearest_centroid_and_predict_follows():
    centroids = np.array([[0.0, 0.0], [10.0, 0.0], [9.0, 3.0]])
    rng = np.random.default_rng(0)
    sizes = (500, 490, 10)
    points = np.concatenate([c + rng.normal(0, 0.3, (s, 2)) for c, s in zip(centroids, sizes)])
    model = CentroidModel("kmeans", centroids, {"k": 3})
    repaired, labels, record = repair_small_clusters(model, points, model.predict(points), min_share=0.02)
    assert record["n_clusters_before"] == 3 and record["n_clusters_after"] == 2
    assert [(m["cluster_id"], m["merged_into_cluster_id"], m["size"]) for m in record["merges"]] == [(2, 1, 10)]
    assert np.array_equal(repaired.predict(points), labels)
    assert repaired.predict(np.array([[9.0, 3.0]]))[0] == repaired.predict(np.array([[10.0, 0.0]]))[0]
    assert np.bincount(labels).tolist() == [500, 500]
    untouched, same, nothing = repair_small_clusters(model, points, model.predict(points), min_share=0.01)
    assert nothing["merges"] == [] and np.array_equal(same, model.predict(points))


def test_quantile_baseline_uses_monetary_else_highest_variance_column():
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.normal(0, 1, 300), rng.normal(0, 3, 300), rng.normal(0, 0.5, 300)])
    with_monetary = fit_quantile_baseline(points, ["recency_days", "tenure_days", "monetary"], 4)
    assert with_monetary.column == "monetary"
    assert np.bincount(with_monetary.predict(points)).tolist() == [75, 75, 75, 75]
    without = fit_quantile_baseline(points, ["a", "b", "c"], 3)
    assert without.column == "b"
