"""Segmentation reads: features with their holdout bucket, the day's segments, the previous day's, history."""

import datetime as dt

import polars as pl

from customer_assets.warehouse.client import Warehouse
from customer_assets.warehouse.reads import MissingInput

MARTS = "marts"


def read_features(client: Warehouse, as_of: dt.date | None = None) -> pl.DataFrame:
    """marts.customer_features as of `as_of` (default: the latest as-of date), with `holdout_bucket` 0..99.

    The bucket is md5(customer_id) mod 100, computed in SQL: stable across runs, library versions and both
    warehouses, so a customer is held out at every training or at none.
    """
    where = "as_of_date = ?" if as_of else "as_of_date = (SELECT max(as_of_date) FROM marts.customer_features)"
    frame = client.query(
        "SELECT *, substr(md5(CAST(customer_id AS VARCHAR)), 1, 8) AS id_md5 "
        f"FROM marts.customer_features WHERE {where} ORDER BY customer_id",
        [as_of] if as_of else None,
    )
    if frame.is_empty():
        held = client.scalar("SELECT max(as_of_date) FROM marts.customer_features")
        raise MissingInput(
            f"marts.customer_features has no rows as of {as_of or 'any date'} (it holds as-of {held}): "
            "materialize the dbt assets for that partition first"
        )
    bucket = pl.col("id_md5").str.to_integer(base=16) % 100
    return frame.with_columns(bucket.cast(pl.Int32).alias("holdout_bucket")).drop("id_md5")


def read_segments(client: Warehouse, as_of: dt.date) -> pl.DataFrame:
    return client.query("SELECT * FROM marts.customer_segments WHERE as_of_date = ? ORDER BY customer_id", [as_of])


def previous_segments(client: Warehouse, as_of: dt.date) -> pl.DataFrame | None:
    """The segments of the latest partition before `as_of`, or None when there is none."""
    if not client.table_exists(MARTS, "customer_segments"):
        return None
    frame = client.query(
        "SELECT as_of_date, segment_id, segment_name FROM marts.customer_segments WHERE as_of_date = "
        "(SELECT max(as_of_date) FROM marts.customer_segments WHERE as_of_date < ?)",
        [as_of],
    )
    return None if frame.is_empty() else frame


def segment_history(client: Warehouse) -> pl.DataFrame:
    """Customers per segment name and as-of date, over every partition of marts.customer_segments."""
    return client.query(
        "SELECT as_of_date, segment_name, count(*) AS customers FROM marts.customer_segments "
        "GROUP BY as_of_date, segment_name ORDER BY as_of_date, segment_name",
    )
