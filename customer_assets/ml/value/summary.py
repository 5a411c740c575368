"""Transactions -> one purchase summary per customer at an as-of date (the models' only input).

A purchase is a day with at least one completed order: several orders of one customer on one day are one
purchase whose value is their sum (BG/NBD counts purchase occasions; the same rule as the churn snapshots).
Orders dated after the as-of date are left out (point in time).

Summary columns (one row per customer with a purchase on or before the as-of date):

- ``orders``: purchase days; ``days_since_first`` / ``days_since_last``: days from the first / last purchase to
  the as-of date (0 = bought that day)
- ``total_value``, ``mean_order_value`` (total / orders), ``mean_repeat_value`` (mean over the purchases after the
  first; null for one-time buyers)

The same columns form the purchase-summary payload the service accepts (``mean_repeat_value`` optional).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

SUMMARY_COLUMNS = (
    "orders",
    "days_since_first",
    "days_since_last",
    "total_value",
    "mean_order_value",
    "mean_repeat_value",
)
REQUIRED_SUMMARY_COLUMNS = ("orders", "days_since_first", "days_since_last")


def _day_expression(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    if dtype == pl.Date:
        return pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    if dtype == pl.String:
        return pl.col(column).str.to_date(strict=False)
    raise ValueError(f"time column {column!r} must be a date, datetime or ISO date text, got {dtype}")


def to_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def purchase_days(transactions: pl.DataFrame, id_column: str, time_column: str, amount_column: str) -> pl.DataFrame:
    """Validated purchases: (id, day, amount), one row per customer and day, sorted."""
    if not isinstance(transactions, pl.DataFrame):
        raise ValueError(f"transactions must be a polars DataFrame, got {type(transactions).__name__}")
    missing = [c for c in (id_column, time_column, amount_column) if c not in transactions.columns]
    if missing:
        raise ValueError(
            f"transactions lack the columns {missing}; columns are {transactions.columns} (set "
            "id_column / time_column / amount_column)"
        )
    if transactions.is_empty():
        raise ValueError("transactions are empty: the value model needs completed orders")
    if not transactions.schema[amount_column].is_numeric():
        raise ValueError(f"amount column {amount_column!r} must be numeric, got {transactions.schema[amount_column]}")
    frame = transactions.select(
        pl.col(id_column).cast(pl.String).alias("id"),
        _day_expression(transactions, time_column).alias("day"),
        pl.col(amount_column).cast(pl.Float64).alias("amount"),
    )
    for name, column in (("id", id_column), ("day", time_column), ("amount", amount_column)):
        nulls = frame[name].null_count()
        if nulls:
            raise ValueError(
                f"column {column!r} has {nulls} null or unreadable values: every order needs a "
                "customer, a date and an amount"
            )
    bad = frame.filter(~pl.col("amount").is_finite())
    if bad.height:
        raise ValueError(f"amount column {amount_column!r} has {bad.height} NaN or infinite values")
    negative = frame.filter(pl.col("amount") < 0)
    if negative.height:
        example = negative.row(0, named=True)
        raise ValueError(
            f"amount column {amount_column!r} has {negative.height} negative values (e.g. customer "
            f"{example['id']!r} on {example['day']}: {example['amount']}): transactions must be "
            "completed orders; take refunds and returns out first"
        )
    return frame.group_by("id", "day").agg(pl.col("amount").sum()).sort("id", "day")


def summarize_days(days: pl.DataFrame, as_of: dt.date, id_column: str) -> pl.DataFrame:
    """The summary (see module doc) of purchase days on or before ``as_of``."""
    before = days.filter(pl.col("day") <= as_of)
    first_amount = pl.col("amount").sort_by("day").first()
    summary = (
        before.group_by("id")
        .agg(
            pl.len().cast(pl.Int64).alias("orders"),
            pl.col("day").min().alias("first_day"),
            pl.col("day").max().alias("last_day"),
            pl.col("amount").sum().alias("total_value"),
            first_amount.alias("first_value"),
        )
        .sort("id")
    )
    return summary.select(
        pl.col("id").alias(id_column),
        "orders",
        (pl.lit(as_of) - pl.col("first_day")).dt.total_days().cast(pl.Int64).alias("days_since_first"),
        (pl.lit(as_of) - pl.col("last_day")).dt.total_days().cast(pl.Int64).alias("days_since_last"),
        "total_value",
        (pl.col("total_value") / pl.col("orders")).alias("mean_order_value"),
        pl.when(pl.col("orders") > 1)
        .then((pl.col("total_value") - pl.col("first_value")) / (pl.col("orders") - 1))
        .otherwise(None)
        .alias("mean_repeat_value"),
    )


def summarize(
    transactions: pl.DataFrame,
    id_column: str = "customer_id",
    time_column: str = "order_ts",
    amount_column: str = "amount",
    as_of=None,
) -> pl.DataFrame:
    """One purchase summary per customer as of ``as_of`` (default: the last purchase day)."""
    days = purchase_days(transactions, id_column, time_column, amount_column)
    as_of = days["day"].max() if as_of is None else to_date(as_of)
    if days["day"].min() > as_of:
        raise ValueError(f"as_of {as_of} is before the first order ({days['day'].min()})")
    return summarize_days(days, as_of, id_column)


def check_summary(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    """Arrays x, t_x, T (days), orders and the mean values from a summary frame, validated row by row."""
    missing = [c for c in REQUIRED_SUMMARY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"a purchase summary needs the columns {list(REQUIRED_SUMMARY_COLUMNS)}; {missing} missing")
    out = {}
    for column in ("orders", "days_since_first", "days_since_last", "mean_order_value", "mean_repeat_value"):
        if column not in frame.columns:
            continue
        if not frame.schema[column].is_numeric() and frame.schema[column] != pl.Null:
            raise ValueError(f"{column} must be numeric, got {frame.schema[column]}")
        values = frame[column].cast(pl.Float64).to_numpy()
        if column in REQUIRED_SUMMARY_COLUMNS and np.isnan(values).any():
            raise ValueError(f"{column} has null values (row {int(np.flatnonzero(np.isnan(values))[0])})")
        out[column] = values
    orders, first, last = out["orders"], out["days_since_first"], out["days_since_last"]

    def fail(mask, message):
        if mask.any():
            raise ValueError(f"{message} (row {int(np.flatnonzero(mask)[0])})")

    fail(
        ~np.isfinite(orders) | (orders < 1) | (np.abs(orders - np.round(orders)) > 1e-9),
        "orders must be a whole number >= 1 (purchase days up to the as-of date)",
    )
    fail(~np.isfinite(first) | (first < 0), "days_since_first must be >= 0")
    fail(~np.isfinite(last) | (last < 0) | (last > first), "days_since_last must be between 0 and days_since_first")
    fail((orders == 1) & (last != first), "a one-time buyer's days_since_last must equal days_since_first")
    fail(
        (orders > 1) & (last == first),
        "a customer with several purchase days cannot have bought them all on "
        "one day (days_since_last = days_since_first)",
    )
    for column in ("mean_order_value", "mean_repeat_value"):
        if column in out:
            values = out[column]
            fail(np.isfinite(values) & (values < 0) | np.isinf(values), f"{column} must be >= 0 (or null)")
    return {
        "x": orders - 1.0,
        "t_x": first - last,
        "T": first,
        "orders": orders,
        "mean_order_value": out.get("mean_order_value", np.full(orders.shape, np.nan)),
        "mean_repeat_value": out.get("mean_repeat_value", np.full(orders.shape, np.nan)),
    }
