"""Monitoring reads: the feature snapshots drift compares, score partitions, label counts and score/label pairs.

Table and column names come from the model declarations (customer_assets/models.py), never from users; every
value is a bound parameter.
"""

import datetime as dt

import polars as pl

from customer_assets.warehouse.client import Warehouse


def split_table(table: str) -> tuple[str, str]:
    schema, name = table.split(".")
    return schema, name


def active_features(client: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """marts.customer_features for the customers active as of `as_of`."""
    return client.read_table("marts", "customer_features", "as_of_date = ? AND is_active", [as_of])


def training_snapshot_before(client: Warehouse, as_of: dt.date) -> tuple[dt.date | None, pl.DataFrame]:
    """The latest labelled snapshot of marts.churn_training_set strictly before `as_of` (its cutoff and rows)."""
    cutoff = client.scalar("SELECT max(cutoff_date) FROM marts.churn_training_set WHERE cutoff_date < ?", [as_of])
    if cutoff is None:
        return None, pl.DataFrame()
    return cutoff, client.read_table("marts", "churn_training_set", "cutoff_date = ?", [cutoff])


def table_columns(client: Warehouse, table: str) -> set[str]:
    return client.columns(*split_table(table))


def table_exists(client: Warehouse, table: str) -> bool:
    return client.table_exists(*split_table(table))


def oldest_partition_since(client: Warehouse, table: str, since: dt.date, before: dt.date) -> dt.date | None:
    """The oldest as_of_date of `table` in [since, before)."""
    return client.scalar(
        f"SELECT min(as_of_date) FROM {table} WHERE as_of_date >= ? AND as_of_date < ?", [since, before]
    )


def column_on_days(client: Warehouse, table: str, column: str, days: list[dt.date]) -> pl.DataFrame:
    """(as_of_date, value) of `column` in `table` on the given days."""
    marks = ", ".join("?" for _ in days)
    return client.query(f"SELECT as_of_date, {column} AS value FROM {table} WHERE as_of_date IN ({marks})", days)


def labels_between(client: Warehouse, table: str, date_column: str, after: dt.date, until: dt.date) -> int:
    """Rows of `table` whose `date_column` is in (after, until]."""
    sql = f"SELECT count(*) FROM {table} WHERE {date_column} > ? AND {date_column} <= ?"
    return int(client.scalar(sql, [after, until]) or 0)


def latest_labelled_score_day(
    client: Warehouse, score_table: str, label_table: str, label_date_column: str, as_of: dt.date
) -> dt.date | None:
    """The latest as_of_date of `score_table` up to `as_of` for which `label_table` holds outcomes."""
    return client.scalar(
        f"SELECT max(s.as_of_date) FROM {score_table} s WHERE s.as_of_date <= ? "
        f"AND s.as_of_date IN (SELECT {label_date_column} FROM {label_table})",
        [as_of],
    )


def scores_with_labels(
    client: Warehouse,
    score_table: str,
    score_column: str,
    label_table: str,
    label_column: str,
    label_date_column: str,
    key_column: str,
    day: dt.date,
) -> pl.DataFrame:
    """(score, label) of every scored row on `day` whose outcome is known."""
    return client.query(
        f"SELECT s.{score_column} AS score, l.{label_column} AS label FROM {score_table} s "
        f"JOIN {label_table} l ON s.{key_column} = l.{key_column} "
        f"AND l.{label_date_column} = s.as_of_date WHERE s.as_of_date = ?",
        [day],
    )


def drift_rows(client: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """marts.drift_report for `as_of` (an empty frame before the first drift report)."""
    if not client.table_exists("marts", "drift_report"):
        return pl.DataFrame(schema={"feature": pl.String, "psi": pl.Float64})
    return client.read_table("marts", "drift_report", "as_of_date = ?", [as_of])
