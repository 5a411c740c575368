"""Review reads: the reviews dated up to a day, and the as-of date a training run works at."""

import datetime as dt

import polars as pl

from customer_assets.warehouse.client import Warehouse

REVIEW_SCHEMA = {
    "review_id": pl.String,
    "customer_id": pl.String,
    "product_id": pl.String,
    "rating": pl.Int64,
    "review_ts": pl.Datetime("us"),
    "review_date": pl.Date,
    "review_text": pl.String,
}


def load_reviews(client: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """Reviews dated up to `as_of`, ordered by review_id so that a seed reproduces the same holdout."""
    if not client.table_exists("staging", "stg_reviews"):
        return pl.DataFrame(schema=REVIEW_SCHEMA)
    frame = client.read_table("staging", "stg_reviews", "review_date <= ?", [as_of])
    if frame.is_empty():
        return pl.DataFrame(schema=REVIEW_SCHEMA)
    return frame.select([pl.col(name).cast(dtype) for name, dtype in REVIEW_SCHEMA.items()]).sort("review_id")


def training_as_of(client: Warehouse, partition: str | None = None) -> dt.date:
    """The as-of date of the marts just built: the run's partition key (`partition`), else dbt's
    int_as_of_date, else the last review, else today."""
    if partition:
        return dt.date.fromisoformat(partition)
    for schema, table, column in (
        ("intermediate", "int_as_of_date", "as_of_date"),
        ("staging", "stg_reviews", "review_date"),
    ):
        if client.table_exists(schema, table):
            value = client.scalar(f'SELECT max("{column}") FROM "{schema}"."{table}"')
            if value is not None:
                return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else value.date()
    return dt.date.today()
