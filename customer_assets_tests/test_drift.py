"""Population stability index on planted drift and on samples from one distribution; realized metrics."""

import numpy as np
import polars as pl
import pytest

from customer_assets.ml import drift
from customer_assets.ml.realized import realized_metric


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def test_same_distribution_is_stable_and_shifted_one_is_significant(rng):
    reference = rng.normal(0, 1, 20_000)
    assert drift.psi(reference, rng.normal(0, 1, 5_000)) < 0.1
    shifted = drift.psi(reference, rng.normal(0.8, 1, 5_000))
    assert shifted > 0.2
    # Larger shifts give larger PSI: the index is monotone in the size of the move.
    assert drift.psi(reference, rng.normal(1.6, 1, 5_000)) > shifted


def test_psi_matches_the_formula_on_hand_computed_bins():
    reference = np.arange(100, dtype=float)  # quartile edges 24.75, 49.5, 74.25 -> 25 values per bin
    current = np.r_[np.full(50, 10.0), np.full(50, 90.0)]  # half in the first bin, half in the last
    expected_shares = np.array([0.5, 0.0, 0.0, 0.5])
    ref_shares = np.full(4, 0.25)
    cur = np.maximum(expected_shares, drift.EPSILON)
    expected = float(np.sum((cur - ref_shares) * np.log(cur / ref_shares)))
    assert drift.psi(reference, current, bins=4) == pytest.approx(expected)


def test_empty_bins_stay_finite_and_ties_collapse_edges(rng):
    reference = rng.integers(0, 3, 5_000).astype(float)  # three distinct values: most deciles coincide
    assert drift.quantile_edges(reference, 10).size <= 3  # 9 inner deciles collapse onto 3 values
    far_away = np.full(1_000, 50.0)
    value = drift.psi(reference, far_away)
    assert np.isfinite(value) and value > 1.0


def test_nan_values_are_ignored_and_no_values_is_an_error(rng):
    reference = rng.normal(size=2_000)
    current = np.r_[rng.normal(size=2_000), np.full(100, np.nan)]
    assert drift.psi(reference, current) < 0.1
    with pytest.raises(ValueError, match="finite values"):
        drift.psi(reference, np.full(10, np.nan))


def test_categorical_psi_sees_segment_share_changes():
    before = ["a"] * 500 + ["b"] * 300 + ["c"] * 200
    assert drift.categorical_psi(before, before) == pytest.approx(0.0)
    after = ["a"] * 200 + ["b"] * 300 + ["c"] * 400 + ["d"] * 100  # a new segment appears
    assert drift.categorical_psi(before, after) > 0.2


def test_report_flags_the_planted_feature_only(rng):
    n = 4_000
    reference = pl.DataFrame({"recency_days": rng.exponential(30, n), "frequency": rng.poisson(4, n),
                              "monetary": rng.lognormal(4, 1, n), "segment": rng.choice(["x", "y"], n)})
    current = pl.DataFrame({"recency_days": rng.exponential(60, n),  # planted: customers come back later
                            "frequency": rng.poisson(4, n), "monetary": rng.lognormal(4, 1, n),
                            "segment": rng.choice(["x", "y"], n)})
    report = drift.drift_report(reference, current, categorical=["segment"])
    by_feature = {row["feature"]: row for row in report.iter_rows(named=True)}
    assert set(by_feature) == {"recency_days", "frequency", "monetary", "segment"}
    assert by_feature["recency_days"]["psi"] > 0.2 and by_feature["recency_days"]["status"] == "significant"
    for feature in ("frequency", "monetary", "segment"):
        assert by_feature[feature]["psi"] < 0.1 and by_feature[feature]["status"] == "stable"
    assert report.schema["psi"] == pl.Float64 and report["current_rows"].to_list() == [n] * 4


def test_report_names_missing_columns_and_marks_empty_features_unknown(rng):
    reference = pl.DataFrame({"a": rng.normal(size=100), "b": [None] * 100}, schema={"a": pl.Float64, "b": pl.Float64})
    with pytest.raises(ValueError, match="'c'"):
        drift.drift_report(reference, reference, ["a", "c"])
    report = drift.drift_report(reference, reference, ["a", "b"])
    assert report.filter(pl.col("feature") == "b")["status"].item() == "unknown"
    assert report.filter(pl.col("feature") == "b")["psi"].item() is None


def test_psi_is_vectorised_at_a_million_rows(rng):
    reference = rng.normal(size=1_000_000)
    assert drift.psi(reference, rng.normal(size=1_000_000)) < 0.01


def test_realized_auc_matches_a_hand_count():
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4])
    positives, negatives = scores[labels == 1], scores[labels == 0]
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    assert realized_metric("roc_auc", labels, scores) == pytest.approx(wins / (3 * 3))
    assert realized_metric("roc_auc", [1, 1], [0.2, 0.3]) is None
    assert realized_metric("accuracy", labels, scores) == pytest.approx(np.mean((scores >= 0.5) == labels))
    with pytest.raises(ValueError, match="unknown realized metric"):
        realized_metric("f2", labels, scores)
