"""The retention worklist: customers ranked by value at risk = P(churn) x expected value over the horizon
(pure, no Dagster). It builds with whatever exists: without a churn score for a customer P(churn) is the
value model's own P(no order in the horizon) and `churn_probability_source` says so; missing segments or
recommendations are nulls / empty lists."""

import datetime as dt

import polars as pl

from customer_assets.ml.churn.model import risk_levels

ID = "customer_id"
TARGET_SCHEMA = {
    "as_of_date": pl.Date,
    "rank": pl.Int64,
    "customer_id": pl.String,
    "value_at_risk": pl.Float64,
    "churn_probability": pl.Float64,
    "churn_probability_source": pl.String,
    "risk_level": pl.String,
    "top_reasons": pl.List(pl.String),
    "segment_name": pl.String,
    "expected_value": pl.Float64,
    "clv_12m": pl.Float64,
    "p_alive": pl.Float64,
    "recommended_products": pl.List(pl.String),
    "horizon_days": pl.Int64,
    "churn_model_version": pl.Int64,
    "value_model_version": pl.Int64,
}
CHURN_MODEL_SOURCE = "churn_model"
VALUE_MODEL_SOURCE = "value_model"


def _decoded(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """PostgreSQL returns list columns (JSONB) as text."""
    if column in frame.columns and frame.schema[column] == pl.String:
        return frame.with_columns(pl.col(column).str.json_decode(pl.List(pl.String)))
    return frame


def build_targets(
    value: pl.DataFrame,
    churn: pl.DataFrame | None,
    segments: pl.DataFrame | None,
    recommendations: pl.DataFrame | None,
    as_of: dt.date,
) -> pl.DataFrame:
    """The retention worklist (see the module doc) from one as-of date's tables; any but `value` may be None."""
    frame = value.select(
        ID,
        "expected_value",
        "clv_12m",
        "p_alive",
        "p_order",
        "horizon_days",
        pl.col("model_version").alias("value_model_version"),
    )
    if churn is not None and churn.height:
        churn = _decoded(churn, "top_reasons").select(
            ID,
            pl.col("churn_probability").alias("churn_p"),
            pl.col("risk_level").alias("churn_level"),
            "top_reasons",
            pl.col("model_version").cast(pl.Int64).alias("churn_model_version"),
        )
        frame = frame.join(churn, on=ID, how="left")
    else:
        frame = frame.with_columns(
            churn_p=pl.lit(None, pl.Float64),
            churn_level=pl.lit(None, pl.String),
            top_reasons=pl.lit(None, pl.List(pl.String)),
            churn_model_version=pl.lit(None, pl.Int64),
        )
    if segments is not None and segments.height:
        frame = frame.join(segments.select(ID, "segment_name"), on=ID, how="left")
    else:
        frame = frame.with_columns(segment_name=pl.lit(None, pl.String))
    if recommendations is not None and recommendations.height:
        top = (
            recommendations.filter(pl.col("rank") <= 3)
            .sort(ID, "rank")
            .group_by(ID, maintain_order=True)
            .agg(pl.col("product_id").cast(pl.String).alias("recommended_products"))
        )
        frame = frame.join(top, on=ID, how="left")
    else:
        frame = frame.with_columns(recommended_products=pl.lit(None, pl.List(pl.String)))
    fallback = 1.0 - frame["p_order"].to_numpy()
    frame = frame.with_columns(
        churn_probability=pl.coalesce("churn_p", pl.Series(fallback)),
        churn_probability_source=pl.when(pl.col("churn_p").is_not_null())
        .then(pl.lit(CHURN_MODEL_SOURCE))
        .otherwise(pl.lit(VALUE_MODEL_SOURCE)),
    )
    frame = frame.with_columns(
        risk_level=pl.coalesce("churn_level", pl.Series(risk_levels(frame["churn_probability"].to_numpy()))),
        value_at_risk=pl.col("churn_probability") * pl.col("expected_value"),
        top_reasons=pl.col("top_reasons").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        recommended_products=pl.col("recommended_products").fill_null(pl.lit([], dtype=pl.List(pl.String))),
    ).sort(["value_at_risk", ID], descending=[True, False])
    return (
        frame.with_columns(
            rank=pl.int_range(1, frame.height + 1, dtype=pl.Int64),
            as_of_date=pl.lit(as_of, dtype=pl.Date),
        )
        .select(list(TARGET_SCHEMA))
        .cast(TARGET_SCHEMA)
    )
