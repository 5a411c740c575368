"""Calibration / holdout evaluation in time, beside the naive baseline.

The model is fitted on the orders up to ``calibration_end`` and predicts, for every customer who bought by then,
the purchases and spend in the ``holdout_days`` after it; the actual purchases (purchase days) and spend in that
window are the truth. Customers whose first order falls in the holdout are not scored (nobody knew them).

Metrics, for orders and for value: per-customer MAE and RMSE, Spearman rank correlation of predicted vs actual, and the
aggregate ratio sum(predicted) / sum(actual) (1 = the total is right; ``aggregate_error`` = |ratio - 1|).

Naive baseline (what a spreadsheet does): each customer's historical repeat-purchase rate (repeat purchase days /
days since the first purchase) x the horizon, and that times the customer's historical mean order value.

Also: mean predicted vs actual holdout purchases by calibration repeat purchases (0 .. 7+, the classic
conditional-expectation check) and a P(alive) calibration table: customers binned by P(alive), with the share who
ordered in the holdout beside the model's P(order in the holdout) (P(alive) itself is never observed; a customer
alive and buying is).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from scipy.stats import spearmanr

from customer_assets.ml.value.model import ValueModel, fit_value_model
from customer_assets.ml.value.summary import purchase_days, summarize_days, to_date

FREQUENCY_BUCKETS = 8  # 0, 1, ..., 6, 7+
P_ALIVE_BINS = 10
METRICS = (
    "orders_mae",
    "orders_rmse",
    "orders_spearman",
    "orders_aggregate_ratio",
    "orders_aggregate_error",
    "value_mae",
    "value_rmse",
    "value_spearman",
    "value_aggregate_ratio",
    "value_aggregate_error",
)


def split_in_time(
    transactions: pl.DataFrame,
    calibration_end,
    holdout_days: int,
    id_column="customer_id",
    time_column="order_ts",
    amount_column="amount",
    observed_until=None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(calibration summary, actual holdout orders and value per calibration customer, same row order).

    ``observed_until``: the last day the orders are known to be complete (default: the last order day); the
    holdout must end by then."""
    calibration_end = to_date(calibration_end)
    days = purchase_days(transactions, id_column, time_column, amount_column)
    end = calibration_end + dt.timedelta(days=holdout_days)
    observed = days["day"].max() if observed_until is None else to_date(observed_until)
    if observed < end:
        raise ValueError(
            f"the holdout {calibration_end + dt.timedelta(days=1)}..{end} passes the last observed day {observed}"
        )
    summary = summarize_days(days, calibration_end, id_column)
    window = days.filter((pl.col("day") > calibration_end) & (pl.col("day") <= end))
    actual = window.group_by("id").agg(pl.len().alias("actual_orders"), pl.col("amount").sum().alias("actual_value"))
    actual = (
        summary.select(id_column)
        .join(actual.rename({"id": id_column}), on=id_column, how="left")
        .with_columns(pl.col("actual_orders").fill_null(0).cast(pl.Float64), pl.col("actual_value").fill_null(0.0))
    )
    return summary, actual


def naive_predictions(summary: pl.DataFrame, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(orders, value): historical repeat rate x horizon, and that x the historical mean order value."""
    repeat = (summary["orders"] - 1).to_numpy().astype(np.float64)
    tenure = summary["days_since_first"].to_numpy().astype(np.float64)
    rate = np.divide(repeat, tenure, out=np.zeros_like(repeat), where=tenure > 0)
    orders = rate * horizon_days
    return orders, orders * summary["mean_order_value"].to_numpy()


def _spearman(predicted: np.ndarray, actual: np.ndarray) -> float:
    if np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        return float("nan")
    return float(spearmanr(predicted, actual).statistic)


def metrics(predicted_orders, predicted_value, actual_orders, actual_value) -> dict[str, float]:
    out = {}
    for name, predicted, actual in (
        ("orders", predicted_orders, actual_orders),
        ("value", predicted_value, actual_value),
    ):
        predicted, actual = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
        ratio = float(predicted.sum() / actual.sum()) if actual.sum() > 0 else float("nan")
        out.update(
            {
                f"{name}_mae": float(np.mean(np.abs(predicted - actual))),
                f"{name}_rmse": float(np.sqrt(np.mean((predicted - actual) ** 2))),
                f"{name}_spearman": _spearman(predicted, actual),
                f"{name}_aggregate_ratio": ratio,
                f"{name}_aggregate_error": abs(ratio - 1.0),
            }
        )
    return out


def by_frequency(summary: pl.DataFrame, model_orders, naive_orders, actual_orders) -> pl.DataFrame:
    bucket = np.minimum(summary["orders"].to_numpy() - 1, FREQUENCY_BUCKETS - 1)
    frame = pl.DataFrame(
        {"repeat_purchases": bucket, "model": model_orders, "naive": naive_orders, "actual": actual_orders}
    )
    return (
        frame.group_by("repeat_purchases")
        .agg(
            pl.len().alias("customers"),
            pl.col("actual").mean(),
            pl.col("model").mean(),
            pl.col("naive").mean(),
        )
        .sort("repeat_purchases")
        .with_columns(
            pl.col("repeat_purchases")
            .cast(pl.String)
            .replace({str(FREQUENCY_BUCKETS - 1): f"{FREQUENCY_BUCKETS - 1}+"})
        )
    )


def p_alive_calibration(p_alive, p_order, actual_orders) -> pl.DataFrame:
    frame = pl.DataFrame({"p_alive": p_alive, "p_order": p_order, "ordered": (np.asarray(actual_orders) > 0) * 1.0})
    edges = np.linspace(0, 1, P_ALIVE_BINS + 1)
    bins = np.clip(np.digitize(frame["p_alive"].to_numpy(), edges[1:-1]), 0, P_ALIVE_BINS - 1)
    return (
        frame.with_columns(pl.Series("bin", bins))
        .group_by("bin")
        .agg(
            pl.len().alias("customers"),
            pl.col("p_alive").mean().alias("mean_p_alive"),
            pl.col("p_order").mean().alias("predicted_share_ordering"),
            pl.col("ordered").mean().alias("observed_share_ordering"),
        )
        .sort("bin")
        .drop("bin")
    )


def evaluate_holdout(
    model: ValueModel, summary: pl.DataFrame, actual: pl.DataFrame, horizon_days: int, as_of=None
) -> dict:
    """Model and naive metrics on the same customers, the frequency table and the P(alive) calibration table.
    ``as_of``: the date the summary was taken at (default the model's own as-of date); a model fitted at another
    date (e.g. the registry's champion) is scored with its own parameters on this summary."""
    prepared = model.prepare(summary, as_of=as_of, max_horizon_days=horizon_days)
    orders = model.expected_orders(prepared, horizon_days)
    value = orders * model.expected_order_value(prepared)
    naive_orders, naive_value = naive_predictions(summary, horizon_days)
    actual_orders, actual_value = actual["actual_orders"].to_numpy(), actual["actual_value"].to_numpy()
    p_alive = model.p_alive(prepared)
    p_order = model.p_order(prepared, horizon_days)
    ordered = (actual_orders > 0).astype(np.float64)
    return {
        "customers": int(summary.height),
        "horizon_days": int(horizon_days),
        "actual_orders": float(actual_orders.sum()),
        "actual_value": float(actual_value.sum()),
        "model": {
            **metrics(orders, value, actual_orders, actual_value),
            "p_order_brier": float(np.mean((p_order - ordered) ** 2)),
        },
        "naive": metrics(naive_orders, naive_value, actual_orders, actual_value),
        "by_frequency": by_frequency(summary, orders, naive_orders, actual_orders),
        "p_alive_calibration": p_alive_calibration(p_alive, p_order, actual_orders),
    }


def holdout_evaluation(
    transactions: pl.DataFrame,
    calibration_end,
    holdout_days: int,
    id_column="customer_id",
    time_column="order_ts",
    amount_column="amount",
    observed_until=None,
    **fit_options,
) -> tuple[ValueModel, dict]:
    """Fit on the orders up to ``calibration_end`` and evaluate on the ``holdout_days`` after it."""
    summary, actual = split_in_time(
        transactions, calibration_end, holdout_days, id_column, time_column, amount_column, observed_until
    )
    calibration = transactions.filter(_day_filter(transactions, time_column, to_date(calibration_end)))
    model = fit_value_model(calibration, id_column, time_column, amount_column, as_of=calibration_end, **fit_options)
    return model, evaluate_holdout(model, summary, actual, holdout_days)


def _day_filter(frame: pl.DataFrame, column: str, end: dt.date) -> pl.Expr:
    dtype = frame.schema[column]
    day = (
        pl.col(column).dt.date()
        if isinstance(dtype, pl.Datetime)
        else (pl.col(column).str.to_date(strict=False) if dtype == pl.String else pl.col(column))
    )
    return day <= end


def beats_naive(evaluation: dict) -> tuple[bool, str]:
    """The gate: lower per-customer MAE than the naive baseline for both orders and value."""
    model, naive = evaluation["model"], evaluation["naive"]
    wins = {k: model[k] < naive[k] for k in ("orders_mae", "value_mae")}
    text = ", ".join(f"{k} {model[k]:.4f} vs naive {naive[k]:.4f}" for k in ("orders_mae", "value_mae"))
    return all(wins.values()), text
