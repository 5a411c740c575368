"""Warehouse client reads with ``?`` placeholders on both backends: a real DuckDB file and the real PostgreSQL."""

import datetime as dt

import polars as pl
import pytest

from customer_assets.warehouse.client import Warehouse

ROWS = pl.DataFrame({"customer_id": ["a", "b?", "c"], "as_of_date": [dt.date(2024, 1, d) for d in (1, 2, 3)],
                     "score": [0.1, 0.5, 0.9]})


def _reads(warehouse: Warehouse, schema: str) -> None:
    warehouse.replace_table(schema, "scores", ROWS)
    picked = warehouse.query(f"SELECT customer_id, score FROM {schema}.scores WHERE as_of_date >= ? AND score < ? "
                             "ORDER BY customer_id", [dt.date(2024, 1, 2), 0.95])
    assert picked["customer_id"].to_list() == ["b?", "c"]  # a ? inside a parameter value is data, not a marker
    assert warehouse.scalar(f"SELECT count(*) FROM {schema}.scores WHERE customer_id = ?", ["b?"]) == 1
    assert warehouse.read_table(schema, "scores", "score > ?", [0.3]).height == 2


def test_duckdb_reads_take_question_mark_parameters(tmp_path):
    _reads(Warehouse(duckdb_path=tmp_path / "w.duckdb"), "marts")


def test_postgres_reads_take_the_same_question_mark_parameters(postgres_url):
    warehouse = Warehouse(url=postgres_url)
    warehouse.execute('DROP SCHEMA IF EXISTS "client_test" CASCADE')
    try:
        _reads(warehouse, "client_test")
    finally:
        warehouse.execute('DROP SCHEMA IF EXISTS "client_test" CASCADE')
