"""One day's marts.customer_value rows from a champion and the orders up to that day (pure, no Dagster)."""

import datetime as dt

import polars as pl

from customer_assets.models import VALUE

ID = "customer_id"
CLV_MONTHS = 12

VALUE_SCHEMA = {
    "customer_id": pl.String,
    "as_of_date": pl.Date,
    "p_alive": pl.Float64,
    "expected_orders": pl.Float64,
    "expected_value": pl.Float64,
    "horizon_days": pl.Int64,
    "clv_12m": pl.Float64,
    "model_name": pl.String,
    "model_version": pl.Int64,
    # What the model scored and what the worklist and the service reuse:
    "p_order": pl.Float64,
    "expected_order_value": pl.Float64,
    "orders": pl.Int64,
    "days_since_first": pl.Int64,
    "days_since_last": pl.Int64,
    "total_value": pl.Float64,
    "mean_order_value": pl.Float64,
    "mean_repeat_value": pl.Float64,
}


def score_frame(model, orders: pl.DataFrame, as_of: dt.date, version: int, knobs) -> pl.DataFrame:
    """marts.customer_value rows for one as-of date: every customer with a completed order up to it.

    `knobs` is the ValueKnobs settings section (horizon_days, annual_discount; customer_assets/config.py)."""
    summary = model.summarize(orders, as_of)
    scored = model.score(
        summary, knobs.horizon_days, months=CLV_MONTHS, annual_discount=knobs.annual_discount, as_of=as_of
    )
    return (
        pl.concat([scored.rename({"clv": "clv_12m"}), summary.drop(ID)], how="horizontal")
        .with_columns(
            as_of_date=pl.lit(as_of, dtype=pl.Date),
            horizon_days=pl.lit(knobs.horizon_days, dtype=pl.Int64),
            model_name=pl.lit(VALUE.registry_name),
            model_version=pl.lit(version, dtype=pl.Int64),
        )
        .select(list(VALUE_SCHEMA))
        .cast(VALUE_SCHEMA)
    )
