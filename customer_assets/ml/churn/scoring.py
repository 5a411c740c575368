"""One day's marts.churn_scores rows from a champion and the active customers' features (pure, no Dagster)."""

import datetime as dt
import math

import numpy as np
import polars as pl

from customer_assets.models import CHURN

ID = "customer_id"
SCORE_SCHEMA = {
    "customer_id": pl.String,
    "as_of_date": pl.Date,
    "churn_probability": pl.Float64,
    "risk_level": pl.String,
    "top_reasons": pl.List(pl.String),
    "model_name": pl.String,
    "model_version": pl.Int64,
}
SCORE_COLUMNS = tuple(SCORE_SCHEMA)


def score_frame(model, features: pl.DataFrame, as_of: dt.date, version: int, knobs) -> tuple[pl.DataFrame, int]:
    """The churn_scores rows for one as-of date and the number of rows that got reasons.

    Reasons for every row up to `knobs.reasons_all_max_rows`; above that only the riskiest
    `knobs.reasons_top_share` of rows get reasons (TreeSHAP per row is the scoring cost) and the others an
    empty list. `knobs` is the ChurnKnobs settings section (customer_assets/defs/churn/assets.py).
    """
    if features.height <= knobs.reasons_all_max_rows:
        explained = model.explain(features, top_k=3).select(ID, "churn_probability", "risk_level", "top_reasons")
        explained_rows = features.height
    else:
        probabilities = model.predict_proba(features)
        explained_rows = max(1, math.ceil(knobs.reasons_top_share * features.height))
        riskiest = np.sort(np.argsort(-probabilities, kind="stable")[:explained_rows])
        reasons = model.explain(features[riskiest], top_k=3).select(ID, "top_reasons")
        explained = (
            pl.DataFrame(
                {
                    ID: features[ID],
                    "churn_probability": probabilities,
                    "risk_level": model.risk_level(probabilities),
                }
            )
            .join(reasons, on=ID, how="left")
            .with_columns(pl.col("top_reasons").fill_null(pl.lit([], dtype=pl.List(pl.String))))
        )
    frame = (
        explained.with_columns(
            pl.col(ID).cast(pl.String),
            as_of_date=pl.lit(as_of, dtype=pl.Date),
            model_name=pl.lit(CHURN.registry_name),
            model_version=pl.lit(version, dtype=pl.Int64),
        )
        .select(SCORE_COLUMNS)
        .cast(SCORE_SCHEMA)
    )
    return frame, explained_rows
