"""Purchase-process (BG/NBD) churn features: fitted without labels, derived inside the model, kept by CV."""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import polars as pl
import pytest

from customer_assets.ml.churn.purchase_features import (
    EXPECTED_ORDERS,
    P_ALIVE,
    PurchaseProcessFeatures,
    train_with_purchase_features,
)


def _purchase_world(customers: int = 1200, cutoffs: int = 3, seed: int = 3) -> pl.DataFrame:
    """Snapshots of a BG/NBD-like world: each customer buys at a Gamma rate and drops out after some
    purchase; the label is "no purchase in the next 90 days". Columns as the pipeline's mart has them."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.8, 1 / 30.0, customers)  # purchases per day
    drop = rng.beta(1.0, 4.0, customers)
    first = rng.integers(0, 400, customers)
    horizon = 400 + 90 * cutoffs + 90
    days = []
    for c in range(customers):  # test data only: a small Python loop builds the event log
        t, alive, events = float(first[c]), True, []
        while alive and t < horizon:
            events.append(int(t))
            alive = rng.random() > drop[c]
            t += rng.exponential(1 / rate[c])
        days.append(events)
    rows = []
    for k in range(cutoffs):
        cutoff = 400 + 90 * k
        for c, events in enumerate(days):
            before = [d for d in events if d < cutoff]
            if not before or cutoff - before[-1] > 365:
                continue
            after = any(cutoff <= d < cutoff + 90 for d in events)
            rows.append({"customer_id": f"c{c}", "cutoff_date": dt.date(2024, 1, 1) + dt.timedelta(days=cutoff),
                         "frequency": float(len(before)), "recency_days": float(cutoff - before[-1]),
                         "first_purchase_days": float(cutoff - before[0]),
                         "noise": float(rng.normal()), "churned": int(not after)})
    return pl.DataFrame(rows)


def test_features_come_from_the_fit_and_handle_rows_without_orders():
    frame = _purchase_world()
    derived = PurchaseProcessFeatures.fit(frame, horizon_days=90)
    assert derived.model.converged and derived.fit_rows == frame.height
    probe = pl.DataFrame({
        "frequency": [5.0, 5.0, 0.0, None], "recency_days": [3.0, 300.0, None, 10.0],
        "first_purchase_days": [400.0, 400.0, None, 50.0],
        P_ALIVE: [0.123, 0.123, 0.123, 0.123],  # given values are replaced, never trusted
    })
    out = derived.add(probe)
    alive, expected = out[P_ALIVE].to_list(), out[EXPECTED_ORDERS].to_list()
    assert alive[0] > 0.9 > alive[1] > 0  # a repeat buyer silent for 300 days is less likely alive
    assert expected[0] > expected[1] > 0
    assert alive[2] is None and alive[3] is None and expected[2] is None  # no order / missing input
    with pytest.raises(ValueError, match="first_purchase_days"):
        derived.add(probe.drop("first_purchase_days"))


def test_the_comparison_keeps_them_only_when_cv_rises_and_the_model_derives_them():
    frame = _purchase_world()
    model, comparison = train_with_purchase_features(
        frame, horizon_days=90, time_column="cutoff_date", label="churned", id_column="customer_id",
        families=("logistic", "lightgbm"), imbalance=("class_weight",), search_budget_seconds=1.0,
        max_trials_per_family=2, label_window_days=90)
    before, after = comparison["without"]["cv"]["pr_auc"], comparison["with"]["cv"]["pr_auc"]
    assert comparison["kept"] == (after > before), comparison["reason"]
    # The BG/NBD fit saw only the rows before the holdout cutoff (labels never).
    assert comparison["bgnbd"]["fit_rows"] == frame.filter(pl.col("cutoff_date") < frame["cutoff_date"].max()).height
    holdout = frame.filter(pl.col("cutoff_date") == frame["cutoff_date"].max())
    inputs = holdout.select(model.input_columns)
    assert P_ALIVE not in inputs.columns
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(inputs), model.predict_proba(holdout))
    if comparison["kept"]:
        assert {P_ALIVE, EXPECTED_ORDERS} <= set(model.feature_names)
        reasons = [r for row in model.explain(holdout)["top_reasons"].to_list() for r in row]
        assert any("likely still active" in r or "orders expected" in r for r in reasons), reasons[:10]


def test_without_the_inputs_the_plain_model_is_returned_with_the_reason():
    frame = _purchase_world(customers=500).drop("first_purchase_days")
    model, comparison = train_with_purchase_features(
        frame, horizon_days=90, time_column="cutoff_date", label="churned", id_column="customer_id",
        families=("logistic",), imbalance=("class_weight",), search_budget_seconds=0.0, max_trials_per_family=1)
    assert comparison["kept"] is False and comparison["reason"].startswith("not fitted:")
    assert "first_purchase_days" in comparison["reason"]
    assert P_ALIVE not in model.feature_names
