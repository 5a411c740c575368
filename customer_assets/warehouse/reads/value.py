"""Value reads: the latest as-of date, the completed orders up to a day, one day of a scored marts table."""

import datetime as dt

import polars as pl

from customer_assets.warehouse.client import Warehouse
from customer_assets.warehouse.reads import MissingInput

MARTS = "marts"
ID = "customer_id"


def latest_as_of(client: Warehouse) -> dt.date:
    """The latest as-of date built in marts.customer_features."""
    if not client.table_exists(MARTS, "customer_features"):
        raise MissingInput("marts.customer_features does not exist: materialize the dbt assets first")
    value = client.scalar("SELECT max(as_of_date) FROM marts.customer_features")
    if value is None:
        raise MissingInput("marts.customer_features is empty: materialize the dbt assets first")
    return value.date() if isinstance(value, dt.datetime) else value


def read_orders(client: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """Completed orders on or before ``as_of``: customer_id, order_date, order_value."""
    if not client.table_exists("intermediate", "int_orders_enriched"):
        raise MissingInput("intermediate.int_orders_enriched does not exist: materialize the dbt assets")
    frame = client.query(
        "SELECT customer_id, order_date, order_value FROM intermediate.int_orders_enriched "
        "WHERE status = 'completed' AND order_date <= ? ORDER BY customer_id, order_date",
        [as_of],
    )
    if frame.is_empty():
        raise MissingInput(f"no completed orders on or before {as_of}")
    return frame.with_columns(
        pl.col("customer_id").cast(pl.String),
        pl.col("order_date").cast(pl.Date),
        pl.col("order_value").cast(pl.Float64),
    )


def table_at(client: Warehouse, table: str, as_of: dt.date, columns: str = "*") -> pl.DataFrame | None:
    """The rows of marts.`table` for one as-of date (customer_id as text), None when absent or empty."""
    if not client.table_exists(MARTS, table):
        return None
    frame = client.query(f"SELECT {columns} FROM {MARTS}.{table} WHERE as_of_date = ?", [as_of])
    if ID in frame.columns:
        frame = frame.with_columns(pl.col(ID).cast(pl.String))
    return frame if frame.height else None
