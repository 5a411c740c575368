"""Customer value library: planted parameters are recovered, predictions are calibrated on simulated holdouts,
the seasonal clock is learnt when planted (and kept by its validation), and bad input is a clear ValueError."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from customer_assets.ml.value import BgNbd, fit_value_model, holdout_evaluation, summarize
from customer_assets.ml.value.seasonal import normalized
from customer_assets.ml.value.synthetic import Planted, simulate

START = dt.date(2024, 1, 1)
PLANTED = Planted()


@pytest.fixture(scope="module")
def planted_world():
    """20,000 customers acquired over 12 weeks, 39 weeks of calibration then a 39-week holdout."""
    transactions = simulate(20_000, PLANTED, start=START, acquisition_days=84, total_days=546, seed=11)
    end = START + dt.timedelta(days=272)
    model, evaluation = holdout_evaluation(transactions, end, 273)
    return transactions, end, model, evaluation


def test_fit_recovers_planted_purchase_rates_and_dropout(planted_world):
    _, _, model, _ = planted_world
    fitted = model.purchases
    assert fitted.converged and not fitted.at_bounds
    assert fitted.r == pytest.approx(PLANTED.r, rel=0.15)
    assert fitted.params["alpha_days"] == pytest.approx(PLANTED.alpha_days, rel=0.15)
    # The mean purchase rate and the mean dropout probability per purchase are what the data pins down best.
    assert fitted.r / fitted.params["alpha_days"] == pytest.approx(PLANTED.r / PLANTED.alpha_days, rel=0.08)
    assert fitted.a / (fitted.a + fitted.b) == pytest.approx(PLANTED.a / (PLANTED.a + PLANTED.b), abs=0.03)
    spend = model.spend
    assert spend.converged
    assert spend.p == pytest.approx(PLANTED.p, rel=0.2)
    assert spend.population_mean == pytest.approx(PLANTED.mean_order_value, rel=0.05)


def test_holdout_predictions_are_calibrated_and_beat_the_naive_baseline(planted_world):
    _, _, _, evaluation = planted_world
    model, naive = evaluation["model"], evaluation["naive"]
    assert model["orders_aggregate_ratio"] == pytest.approx(1.0, abs=0.05)
    assert model["value_aggregate_ratio"] == pytest.approx(1.0, abs=0.06)
    for key in ("orders_mae", "orders_rmse", "value_mae", "value_rmse", "orders_aggregate_error"):
        assert model[key] < naive[key], key
    assert model["orders_spearman"] > naive["orders_spearman"]
    by_frequency = evaluation["by_frequency"]
    assert by_frequency.height == 8
    for row in by_frequency.filter(pl.col("customers") >= 300).iter_rows(named=True):
        assert row["model"] == pytest.approx(row["actual"], rel=0.15, abs=0.05), row
    calibration = evaluation["p_alive_calibration"].filter(pl.col("customers") >= 300)
    gaps = (calibration["predicted_share_ordering"] - calibration["observed_share_ordering"]).abs()
    assert gaps.max() < 0.06, calibration


def test_scoring_api_summary_and_transactions_agree(planted_world):
    transactions, end, model, _ = planted_world
    calibration = transactions.filter(pl.col("order_ts") <= end)
    scored = model.score(calibration, 90)
    summary = model.summarize(transactions)  # later orders are left out: the model's as-of date is `end`
    assert summary.height == scored.height and summary["customer_id"].equals(scored["customer_id"])
    assert np.allclose(model.expected_orders(summary, 90), scored["expected_orders"].to_numpy())
    assert np.allclose(model.p_alive(summary.reverse()), scored["p_alive"].to_numpy()[::-1])
    assert set(scored.columns) == {"customer_id", "p_alive", "p_order", "expected_orders", "expected_order_value",
                                   "expected_value", "clv"}
    assert (scored["p_order"] <= scored["p_alive"] + 1e-12).all()
    assert np.allclose(scored["expected_value"], scored["expected_orders"] * scored["expected_order_value"])
    twelve_months = model.expected_value(summary, 365)
    clv = model.clv(summary, months=12, annual_discount=0.10)
    assert (clv <= twelve_months * 1.0001 + 1e-9).all() and (clv >= twelve_months / 1.1 - 1e-6).all()
    assert (model.clv(summary, months=12, annual_discount=0.0) >= clv - 1e-9).all()
    # One-time buyers: alive by construction in BG/NBD, the population mean order value.
    once = summary.filter(pl.col("orders") == 1)
    assert np.allclose(model.p_alive(once), 1.0)
    assert np.allclose(model.expected_order_value(once), model.spend.population_mean)
    report = model.report
    assert report["customers"] == summary.height and report["seasonal"]["used"] is False
    assert "fewer than a year" in report["seasonal"]["decision"]
    assert "NumPy/SciPy" in report["implementation"] and "PyMC-Marketing" in report["why_implementation"]


def test_seasonal_clock_is_learnt_when_planted_and_kept_by_validation():
    planted = (1.0, 0.8, 0.8, 0.9, 0.9, 1.0, 1.0, 0.9, 1.0, 1.1, 1.3, 1.6)
    transactions = simulate(20_000, start=START, acquisition_days=365, total_days=820, seed=2, seasonal=planted)
    end = dt.date(2025, 12, 30)  # a 90-day holdout in the low season after two years
    model, evaluation = holdout_evaluation(transactions, end, 90)
    seasonal = model.report["seasonal"]
    assert seasonal["used"] is True, seasonal["decision"]
    learnt = np.array(list(seasonal["index"].values()))
    assert np.max(np.abs(learnt - normalized(np.array(planted)))) < 0.1
    flat_model, flat = holdout_evaluation(transactions, end, 90, seasonal=False)
    assert evaluation["model"]["orders_aggregate_error"] < 0.05 < flat["model"]["orders_aggregate_error"]
    assert evaluation["model"]["orders_rmse"] < flat["model"]["orders_rmse"]


def test_mbgnbd_variant_recovers_its_planted_parameters():
    rng = np.random.default_rng(5)
    n, T, horizon = 40_000, 300.0, 120.0
    rate, dropout = rng.gamma(0.7, 1 / 30, n), rng.beta(0.8, 2.5, n)
    x, t_x, holdout, clock = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    alive = rng.random(n) >= dropout  # MBG/NBD: dropout possible right after the first purchase
    while alive.any():
        i = np.flatnonzero(alive)
        clock[i] += rng.exponential(1 / rate[i])
        out = clock[i] > T + horizon
        alive[i[out]] = False
        i = i[~out]
        inside = clock[i] <= T
        x[i[inside]] += 1
        t_x[i[inside]] = clock[i[inside]]
        holdout[i[~inside]] += 1
        alive[i[rng.random(i.size) < dropout[i]]] = False
    model = BgNbd(variant="mbgnbd").fit(x, t_x, np.full(n, T))
    assert model.r == pytest.approx(0.7, rel=0.1) and model.params["alpha_days"] == pytest.approx(30, rel=0.1)
    assert model.a / (model.a + model.b) == pytest.approx(0.8 / 3.3, abs=0.03)
    assert model.expected_purchases(horizon, x, t_x, np.full(n, T)).sum() == pytest.approx(holdout.sum(), rel=0.03)
    assert model.unconditional_expected(T) == pytest.approx(x.mean(), rel=0.03)


# --- bad input ------------------------------------------------------------------------------------------


def _orders(rows):
    return pl.DataFrame(rows, schema={"customer_id": pl.String, "order_ts": pl.Date, "amount": pl.Float64},
                        orient="row")


def test_no_repeat_buyers_is_a_clear_error():
    rows = [(f"c{i}", START + dt.timedelta(days=i), 10.0) for i in range(50)]
    # Two orders of one customer on one day are one purchase: still no repeat buyer.
    rows.append(("c0", START, 5.0))
    with pytest.raises(ValueError, match="no repeat buyers"):
        fit_value_model(_orders(rows))


def test_negative_amounts_are_a_clear_error():
    rows = [("a", START, 10.0), ("a", START + dt.timedelta(days=3), -4.0), ("b", START, 3.0)]
    with pytest.raises(ValueError, match="negative values .*customer 'a'.*refunds"):
        fit_value_model(_orders(rows))


def test_one_customer_is_a_clear_error():
    rows = [("a", START + dt.timedelta(days=d), 10.0) for d in (0, 5, 9)]
    with pytest.raises(ValueError, match="only 1 customer"):
        fit_value_model(_orders(rows))


def test_other_bad_input_names_the_problem():
    good = _orders([("a", START, 10.0), ("a", START + dt.timedelta(days=9), 12.0), ("b", START, 3.0),
                    ("c", START + dt.timedelta(days=2), 8.0), ("c", START + dt.timedelta(days=20), 7.0)])
    with pytest.raises(ValueError, match="lack the columns \\['amount'\\]"):
        fit_value_model(good.drop("amount"))
    with pytest.raises(ValueError, match="null"):
        fit_value_model(good.with_columns(pl.when(pl.col("customer_id") == "b").then(None)
                                          .otherwise(pl.col("order_ts")).alias("order_ts")))
    with pytest.raises(ValueError, match="empty"):
        fit_value_model(good.clear())
    with pytest.raises(ValueError, match="at least 365 days"):
        fit_value_model(good, seasonal=True)
    with pytest.raises(ValueError, match="before the first order"):
        summarize(good, as_of=START - dt.timedelta(days=1))
    model = fit_value_model(good)
    for horizon in (0, -5, 2.5, "90", float("nan")):
        with pytest.raises(ValueError, match="horizon_days"):
            model.expected_orders(good, horizon)
    payload = pl.DataFrame({"orders": [3], "days_since_first": [30], "days_since_last": [40]})
    with pytest.raises(ValueError, match="days_since_last must be between"):
        model.p_alive(payload)
    with pytest.raises(ValueError, match="orders must be a whole number"):
        model.p_alive(payload.with_columns(orders=pl.lit(0), days_since_last=pl.lit(3)))
    with pytest.raises(ValueError, match="one-time buyer"):
        model.p_alive(payload.with_columns(orders=pl.lit(1), days_since_last=pl.lit(3)))
    with pytest.raises(ValueError, match="mean_order_value must be >= 0"):
        model.expected_value(payload.with_columns(days_since_last=pl.lit(3), mean_order_value=pl.lit(-1.0)), 30)
    with pytest.raises(ValueError, match="months"):
        model.clv(good, months=0)


def test_a_payload_without_the_repeat_mean_uses_the_overall_mean():
    model = fit_value_model(simulate(2_000, seed=3), seasonal=False)
    payload = pl.DataFrame({"orders": [4, 1], "days_since_first": [200, 50], "days_since_last": [20, 50],
                            "mean_order_value": [80.0, 15.0]})
    value = model.expected_order_value(payload)
    assert value[1] == pytest.approx(model.spend.population_mean)
    assert model.spend.population_mean < value[0] < 80.0  # shrunk towards the population mean
