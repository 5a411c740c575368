"""Real public data through the file source and the whole graph (the helpers of test_public_movielens.py and
test_public_cdnow.py, one data set per module so two test workers can run them side by side), with no data setting
but the source.

MovieLens-small (22 years of ratings, 1996-2018) with the shopping-app reviews, and the CDNOW purchase history
(1997-98, one product, no reviews or events): all history loads, every marts table the data can fill is filled,
and the `make run` summary lists no failure. The model searches get the test suite's small budgets (no churn
search points beyond each family's defaults, a short topic search): what these tests judge is that the graph survives
real exports, not model quality at the default budgets, which `make eval` measures.
"""

import dagster as dg
import pytest

from customer_assets.cli import run_all, summary
from customer_assets.examples import public_data
from customer_assets.warehouse.client import Warehouse
from customer_assets_tests.conftest import SMALL_CHURN_SEARCH, SMALL_TOPICS, make_settings

REVIEW_MARTS = {"review_sentiment", "review_topics", "product_sentiment", "customer_sentiment"}


@pytest.fixture(autouse=True)
def small_searches(monkeypatch):
    for name, value in {**SMALL_CHURN_SEARCH, **SMALL_TOPICS}.items():
        monkeypatch.setenv(name, value)


def run_public_data(tmp_path, tables):
    folder = tmp_path / "input"
    public_data.write(tables, folder)
    settings = make_settings(tmp_path / "home", source=str(folder))
    assert settings.partition_start is None  # no knob: partitions start where the data does
    results = run_all(settings, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    text = summary(results, settings)
    assert all(r.success for r in results), text
    assert "Failed" not in text, text
    return settings, results, text, Warehouse(duckdb_path=settings.duckdb_path)


def marts_row_counts(warehouse: Warehouse) -> dict[str, int]:
    tables = warehouse.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'")
    return {name: warehouse.row_count("marts", name) for name in tables["table_name"]}

