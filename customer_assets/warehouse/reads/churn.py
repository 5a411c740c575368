"""Churn reads: the dbt training set, the active customers' features as of a day, the last High-risk share."""

import datetime as dt

import polars as pl

from customer_assets.warehouse.client import Warehouse
from customer_assets.warehouse.reads import MissingInput

MARTS = "marts"


def read_training_set(client: Warehouse) -> pl.DataFrame:
    """marts.churn_training_set in a stable order (customer, cutoff) so training is reproducible."""
    if not client.table_exists(MARTS, "churn_training_set"):
        raise MissingInput("marts.churn_training_set does not exist: materialize the dbt assets first")
    frame = client.query("SELECT * FROM marts.churn_training_set ORDER BY customer_id, cutoff_date")
    if frame.is_empty():
        raise MissingInput(
            "marts.churn_training_set is empty: the as-of date leaves no past cutoff "
            "whose churn window has elapsed, or there are no active customers"
        )
    return frame


def read_active_features(client: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """Customers active at `as_of`, with their features computed as of `as_of` (and only then)."""
    frame = client.query(
        "SELECT * FROM marts.customer_features WHERE as_of_date = ? AND is_active ORDER BY customer_id", [as_of]
    )
    if frame.is_empty():
        held = client.scalar("SELECT max(as_of_date) FROM marts.customer_features")
        raise MissingInput(
            f"marts.customer_features has no active customers as of {as_of} (it holds "
            f"as-of {held}): materialize the dbt assets for partition {as_of} first"
        )
    return frame


def previous_high_risk_share(client: Warehouse, as_of: dt.date, level: str) -> tuple[dt.date, float] | None:
    """(date, share of `level` risk) of the latest partition of marts.churn_scores before `as_of`."""
    if not client.table_exists(MARTS, "churn_scores"):
        return None
    frame = client.query(
        "SELECT as_of_date, avg(CASE WHEN risk_level = ? THEN 1.0 ELSE 0.0 END) AS share "
        "FROM marts.churn_scores WHERE as_of_date = (SELECT max(as_of_date) FROM "
        "marts.churn_scores WHERE as_of_date < ?) GROUP BY as_of_date",
        [level, as_of],
    )
    return None if frame.is_empty() else (frame["as_of_date"][0], float(frame["share"][0]))
