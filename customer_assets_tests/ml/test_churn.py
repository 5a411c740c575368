"""Churn library: training on synthetic snapshots with a known hazard and on a Telco-shaped export,
input guards, reasons vs contributions, the promotion gate, group splits and SMOTE placement."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import polars as pl
import pytest
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin

from customer_assets.ml.churn import (
    RISK_LEVEL_CUT_POINTS,
    evaluate_on_holdout,
    risk_levels,
    should_promote,
    stratified_group_folds,
    train_churn_model,
    write_plots,
)
from customer_assets.ml.churn.explain import source_contributions
from customer_assets.ml.churn.search import Candidate, out_of_fold_scores
from customer_assets.ml.churn.splits import fold_index_pairs
from customer_assets.ml.churn.synthetic import make_churn_snapshots

FAST = dict(search_budget_seconds=0.0, max_trials_per_family=1)


@pytest.fixture(scope="module")
def snapshots() -> pl.DataFrame:
    return make_churn_snapshots(n_customers=800, n_cutoffs=3, seed=3)


@pytest.fixture(scope="module")
def snapshot_model(snapshots):
    return train_churn_model(
        snapshots, time_column="cutoff_date", families=("logistic", "lightgbm"),
        imbalance=("class_weight", "smote"), search_budget_seconds=0.0, max_trials_per_family=2,
        label_window_days=90,
    )


def telco_like(rows: int = 1500, seed: int = 0) -> pl.DataFrame:
    """Shaped like the public Telco churn export: string categoricals, TotalCharges as text with blanks."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, rows)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], rows, p=[0.55, 0.25, 0.2])
    internet = rng.choice(["DSL", "Fiber optic", "No"], rows, p=[0.35, 0.45, 0.2])
    monthly = np.round(rng.uniform(18, 118, rows), 2)
    logit = -0.8 - 0.05 * tenure + 1.3 * (contract == "Month-to-month") + 0.7 * (internet == "Fiber optic")
    churn = rng.random(rows) < 1 / (1 + np.exp(-logit))
    total = np.char.mod("%.2f", monthly * np.maximum(tenure, 1)).astype(object)
    total[tenure == 0] = " "
    return pl.DataFrame({
        "customerID": [f"{i:04d}-{chr(65 + i % 26)}XYZ" for i in range(rows)],
        "gender": rng.choice(["Female", "Male"], rows),
        "SeniorCitizen": rng.integers(0, 2, rows),
        "Partner": rng.choice(["Yes", "No"], rows),
        "tenure": tenure,
        "PhoneService": np.full(rows, "Yes"),
        "Contract": contract,
        "InternetService": internet,
        "PaymentMethod": rng.choice(["Electronic check", "Mailed check", "Bank transfer (automatic)"], rows),
        "MonthlyCharges": monthly,
        "TotalCharges": pl.Series(total, dtype=pl.String),
        "Churn": np.where(churn, "Yes", "No"),
    })


@pytest.fixture(scope="module")
def telco_model():
    return train_churn_model(
        telco_like(), label="Churn", id_column="customerID", families=("logistic", "lightgbm"),
        imbalance=("class_weight",), **FAST,
    )


def test_known_hazard_beats_base_rate_and_recency_in_a_plausible_band(snapshot_model):
    report = snapshot_model.report
    metrics, baselines = report["metrics"], report["baselines"]
    assert 0.75 <= metrics["roc_auc"] <= 0.95, metrics
    assert metrics["pr_auc"] > baselines["base_rate"]["pr_auc"] + 0.15
    assert metrics["brier"] < baselines["base_rate"]["brier"]
    assert metrics["roc_auc"] > baselines["recency_only"]["roc_auc"]
    assert report["chosen_family"] in ("logistic", "lightgbm")
    top_features = set(snapshot_model.global_importance()["feature"].head(5).to_list())
    assert {"recency_days", "support_tickets_90d"} & top_features


def test_time_holdout_is_the_latest_cutoff_and_evaluate_on_holdout_matches_report(snapshots, snapshot_model):
    latest = snapshots.filter(pl.col("cutoff_date") == pl.col("cutoff_date").max())
    report = snapshot_model.report
    assert report["split"]["holdout_rows"] == latest.height
    # 90-day window, cutoffs 90 days apart: the previous cutoff's window ends exactly at the holdout cutoff.
    assert report["split"]["purged_training_rows"] == 0
    assert report["split"]["training_rows"] == snapshots.height - latest.height
    metrics = evaluate_on_holdout(snapshot_model, latest)
    for key in ("roc_auc", "pr_auc", "f1", "brier", "rows"):
        assert metrics[key] == pytest.approx(report["metrics"][key])
    assert metrics["baseline_recency_only"]["roc_auc"] == pytest.approx(report["baselines"]["recency_only"]["roc_auc"])


def test_label_window_purges_snapshots_whose_label_sees_past_the_holdout_cutoff():
    frame = make_churn_snapshots(n_customers=300, n_cutoffs=4, seed=5, cutoff_spacing_days=30)
    model = train_churn_model(
        frame, time_column="cutoff_date", families=("logistic",), imbalance=("class_weight",),
        label_window_days=90, **FAST,
    )
    # Cutoffs at 0, 30, 60, 90 days: the 30- and 60-day snapshots' windows pass the 90-day holdout cutoff.
    assert model.report["split"]["purged_training_rows"] == 600
    assert model.report["split"]["training_rows"] == 300


def test_report_is_json_ready_and_names_primary_metric_with_baselines(snapshot_model):
    report = json.loads(json.dumps(snapshot_model.report))
    assert report["primary_metric"] == "roc_auc"
    assert report["metrics"]["roc_auc"] == snapshot_model.report["metrics"]["roc_auc"]
    models = [row["model"] for row in report["comparison_table"]]
    assert models == ["logistic", "lightgbm", "base_rate", "logistic_onehot", "frequency_only", "recency_only"]
    assert [row["model"] for row in report["comparison_table"] if row["served"]] == [report["served"]]
    strategies = {(row["family"], row["imbalance"]) for row in report["imbalance_comparison"]}
    assert strategies == {(f, s) for f in ("logistic", "lightgbm") for s in ("class_weight", "smote")}
    assert 0 < report["threshold"] < 1


def test_pickle_round_trip_predicts_the_same(snapshots, snapshot_model):
    restored = pickle.loads(pickle.dumps(snapshot_model))
    sample = snapshots.head(200)
    np.testing.assert_allclose(restored.predict_proba(sample), snapshot_model.predict_proba(sample))


def test_risk_levels_follow_documented_cut_points():
    low, high = RISK_LEVEL_CUT_POINTS
    levels = risk_levels(np.array([0.0, low - 1e-9, low, high - 1e-9, high, 1.0]))
    assert levels.tolist() == ["Low", "Low", "Medium", "Medium", "High", "High"]


def test_reasons_match_contributions(snapshots, snapshot_model):
    sample = snapshots.head(300)
    reasons = snapshot_model.explain(sample, top_k=3)
    contributions = source_contributions(snapshot_model, snapshot_model.preparer.transform(sample))
    names = np.asarray(snapshot_model.feature_names)
    largest = contributions.max(axis=1)
    pushes_up = largest > 0
    assert pushes_up.sum() > 200
    assert reasons["reason_feature_1"].to_numpy()[pushes_up].tolist() == names[contributions[pushes_up].argmax(axis=1)].tolist()
    np.testing.assert_allclose(reasons["contribution_1"].to_numpy()[pushes_up], largest[pushes_up])
    assert reasons["reason_1"].null_count() == (~pushes_up).sum()
    second = reasons["contribution_2"].to_numpy()
    filled = ~np.isnan(second)
    assert (second[filled] > 0).all() and (second[filled] <= reasons["contribution_1"].to_numpy()[filled]).all()
    assert reasons["top_reasons"].list.len().to_list() == (
        reasons.select(pl.sum_horizontal(pl.col(f"reason_{k}").is_not_null() for k in (1, 2, 3)))
        .to_series().to_list()
    )
    assert reasons["customer_id"].to_list() == sample["customer_id"].to_list()
    np.testing.assert_allclose(reasons["churn_probability"].to_numpy(), snapshot_model.predict_proba(sample))


def test_reason_text_is_readable_and_uses_the_row_values(snapshots, snapshot_model):
    sample = snapshots.head(300).with_row_index("row")
    reasons = snapshot_model.explain(sample.drop("row"), top_k=3).with_row_index("row").join(sample, on="row")
    recency_rows = reasons.filter(pl.col("reason_feature_1") == "recency_days", pl.col("recency_days").is_not_null())
    assert recency_rows.height > 0
    for text, days in zip(recency_rows["reason_1"], recency_rows["recency_days"]):
        assert text == f"no order for {int(round(days))} day{'s' if round(days) != 1 else ''}"
    tickets = reasons.filter(pl.col("reason_feature_1") == "support_tickets_90d")
    for text in tickets["reason_1"]:
        assert re.fullmatch(r"\d+ support tickets? in the last 90 days", text)
    trend = reasons.filter(pl.col("reason_feature_2") == "order_trend", pl.col("order_trend") < 0)
    for text in trend["reason_2"]:
        assert re.fullmatch(r"orders fell from \d+ to \d+ in the last 90 days", text)


def test_telco_like_export_trains_and_scores(telco_model):
    frame = telco_like(rows=200, seed=9)
    report = telco_model.report
    assert report["data"]["numeric_from_text"] == ["TotalCharges"]
    assert "customerID" not in telco_model.feature_names
    assert report["data"]["dropped_columns"]["PhoneService"] == "constant column"
    assert report["baselines"]["recency_only"]["available"] is False
    assert report["metrics"]["roc_auc"] > 0.7
    unseen = frame.with_columns(
        pl.lit("Five year").alias("Contract"), pl.lit("  ").alias("TotalCharges"), pl.lit(None, pl.Float64).alias("MonthlyCharges")
    )
    probabilities = telco_model.predict_proba(unseen)
    assert probabilities.shape == (200,) and np.all((probabilities >= 0) & (probabilities <= 1))
    reasons = telco_model.explain(unseen)
    assert reasons["customerID"].to_list() == frame["customerID"].to_list()
    for k in (1, 2, 3):
        contract_rows = reasons.filter(pl.col(f"reason_feature_{k}") == "Contract")
        assert set(contract_rows[f"reason_{k}"].to_list()) <= {"Contract is Five year (rare or new value)"}
        total_rows = reasons.filter(pl.col(f"reason_feature_{k}") == "TotalCharges")
        assert set(total_rows[f"reason_{k}"].to_list()) <= {"TotalCharges is missing"}
    metrics = evaluate_on_holdout(telco_model, frame, label="Churn")
    assert "baseline_recency_only" not in metrics and 0 <= metrics["roc_auc"] <= 1


def test_reason_templates_for_known_generic_and_missing_values():
    from customer_assets.ml.churn.reason_text import reason_texts

    raw = pl.DataFrame({
        "recency_days": [140.0, None, 1.0], "support_tickets_90d": [3.0, 1.0, 0.0],
        "orders_90d": [1.0, 2.0, 2.0], "orders_prev_90d": [4.0, 1.0, 2.0], "order_trend": [-3.0, 1.0, 0.0],
        "return_rate": [0.25, 0.0, None], "mystery_score": [2.5, 3.0, None], "plan": ["gold", "__missing__", "tin"],
    })
    numeric = ["recency_days", "support_tickets_90d", "orders_90d", "orders_prev_90d", "order_trend", "return_rate", "mystery_score"]
    texts = reason_texts(raw, numeric, {"plan": ["gold"]}).to_dicts()
    assert texts[0]["recency_days"] == "no order for 140 days"
    assert texts[1]["recency_days"] == "no completed order yet"
    assert texts[2]["recency_days"] == "no order for 1 day"
    assert [t["support_tickets_90d"] for t in texts] == [
        "3 support tickets in the last 90 days", "1 support ticket in the last 90 days", "0 support tickets in the last 90 days"]
    assert [t["order_trend"] for t in texts] == [
        "orders fell from 4 to 1 in the last 90 days", "orders rose from 1 to 2 in the last 90 days",
        "orders stayed at 2 in the last 90 days"]
    assert [t["return_rate"] for t in texts] == ["25% of orders returned", "0% of orders returned", "return_rate is missing"]
    assert [t["mystery_score"] for t in texts] == ["mystery_score is 2.5", "mystery_score is 3", "mystery_score is missing"]
    assert [t["plan"] for t in texts] == ["plan is gold", "plan is missing", "plan is tin (rare or new value)"]


def test_missing_feature_at_predict_time_is_named(telco_model):
    with pytest.raises(ValueError, match="Contract"):
        telco_model.predict_proba(telco_like(rows=20).drop("Contract"))


@pytest.mark.parametrize(
    "leak",
    [
        pl.col("Churn").alias("churn_copy"),
        (pl.col("Churn") == "Yes").cast(pl.Int8).mul(30).add(pl.col("tenure") % 3).alias("days_flag"),
        pl.when(pl.col("Churn") == "Yes").then(pl.col("tenure")).alias("churn_date_days"),
    ],
    ids=["identical", "perfect-separator", "missing-exactly-for-non-churners"],
)
def test_leakage_guard_raises(leak):
    frame = telco_like(rows=400).with_columns(leak)
    with pytest.raises(ValueError, match="leakage"):
        train_churn_model(frame, label="Churn", id_column="customerID", families=("logistic",), **FAST)


def test_bad_inputs_raise_clear_errors():
    frame = telco_like(rows=300)
    with pytest.raises(ValueError, match="only one class"):
        train_churn_model(frame.with_columns(pl.lit("No").alias("Churn")), label="Churn", id_column="customerID")
    with pytest.raises(ValueError, match="label column 'churned' is missing"):
        train_churn_model(frame, id_column="customerID")
    with pytest.raises(ValueError, match="empty"):
        train_churn_model(frame.head(0), label="Churn", id_column="customerID")
    with pytest.raises(ValueError, match="Yes/No"):
        train_churn_model(frame.with_columns(pl.lit("maybe").alias("Churn")), label="Churn", id_column="customerID")
    with pytest.raises(ValueError, match="id column 'customer_id' is missing"):
        train_churn_model(frame, label="Churn")


def test_label_forms_are_equivalent():
    frame = telco_like(rows=400, seed=4)
    as_bool = frame.with_columns(pl.col("Churn") == "Yes")
    as_int = frame.with_columns((pl.col("Churn") == "Yes").cast(pl.Int64))
    options = dict(label="Churn", id_column="customerID", families=("logistic",), imbalance=("class_weight",), **FAST)
    figures = [train_churn_model(f, **options).report["metrics"]["roc_auc"] for f in (frame, as_bool, as_int)]
    assert figures[0] == pytest.approx(figures[1]) == pytest.approx(figures[2])


def test_should_promote_both_ways():
    champion = {"roc_auc": 0.80, "brier": 0.15, "rows": 1000}
    promote, reason = should_promote({"roc_auc": 0.81, "rows": 1000}, champion)
    assert promote and "promote" in reason
    promote, reason = should_promote({"roc_auc": 0.803, "rows": 1000}, champion)
    assert not promote and "below the margin" in reason
    promote, _ = should_promote({"roc_auc": 0.79, "rows": 1000}, champion)
    assert not promote
    assert should_promote({"brier": 0.14, "rows": 1000}, champion, metric="brier")[0]
    assert not should_promote({"brier": 0.16, "rows": 1000}, champion, metric="brier")[0]
    promote, reason = should_promote({"roc_auc": 0.9, "rows": 999}, champion)
    assert not promote and "same holdout" in reason


def test_stratified_group_folds_keep_each_customer_on_one_side():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(3000), rng.integers(1, 6, 3000))
    labels = (rng.random(groups.size) < np.repeat(rng.beta(1, 3, 3000), np.bincount(groups))).astype(np.int8)
    folds = stratified_group_folds(labels, groups, n_splits=5, seed=1)
    folds_per_group = pl.DataFrame({"g": groups, "f": folds}).group_by("g").agg(pl.col("f").n_unique())
    assert folds_per_group["f"].max() == 1
    for train_rows, validation_rows in fold_index_pairs(folds, 5):
        assert not set(groups[train_rows]) & set(groups[validation_rows])
        assert abs(labels[validation_rows].mean() - labels.mean()) < 0.02
        assert abs(validation_rows.size - groups.size / 5) < 0.03 * groups.size


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Records the rows it is fitted on and asked to score."""

    def __init__(self, log: list | None = None):
        self.log = log

    def fit(self, matrix, labels):
        self.log.append(("fit", len(labels), int(np.sum(labels))))
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, matrix):
        self.log.append(("score", len(matrix), None))
        return np.column_stack([np.full(len(matrix), 0.5), np.full(len(matrix), 0.5)])


def test_smote_resamples_training_folds_only():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(1000, 4)).astype(np.float32)
    labels = (rng.random(1000) < 0.2).astype(np.int8)
    groups = np.repeat(np.arange(250), 4)
    folds = stratified_group_folds(labels, groups, n_splits=5, seed=0)
    pairs = fold_index_pairs(folds, 5)
    log: list = []
    factory = lambda candidate, train_labels, seed: Pipeline(  # noqa: E731
        [("smote", SMOTE(random_state=seed)), ("model", RecordingClassifier(log))]
    )
    scores, _ = out_of_fold_scores(Candidate("logistic", "smote", {}), matrix, labels, pairs, 0, factory)
    fits = [entry for entry in log if entry[0] == "fit"]
    scored = [entry[1] for entry in log if entry[0] == "score"]
    for (train_rows, validation_rows), (_, fitted_rows, fitted_positives) in zip(pairs, fits):
        negatives = int((labels[train_rows] == 0).sum())
        assert fitted_rows == 2 * negatives and fitted_positives == negatives  # balanced by SMOTE
    assert scored == [validation_rows.size for _, validation_rows in pairs]
    assert not np.isnan(scores).any()


def test_plots_are_written(snapshot_model, tmp_path):
    paths = write_plots(snapshot_model, tmp_path / "plots")
    assert set(paths) == {"roc", "precision_recall", "calibration", "importance"}
    for path in paths.values():
        assert path.exists() and path.stat().st_size > 5_000
