"""The whole asset graph on a real DuckDB file and on the real PostgreSQL server."""

import dataclasses
import datetime as dt
import re
import subprocess
import sys

import dagster as dg
import polars as pl
import pytest

from customer_assets.cli import run_all, summary
from customer_assets.definitions import build_definitions
from customer_assets.defs.policies import daily_partitions
from customer_assets.sources import landing
from customer_assets.warehouse.client import Warehouse
from customer_assets_tests.conftest import SHARED_HOME_ENV, copy_home, make_settings, reset_postgres_schemas

pytestmark = pytest.mark.slow

MART_TABLES = ("customer_features", "churn_training_set", "customer_360")


def check_evaluations(results) -> list:
    return [e.event_specific_data for r in results for e in r.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"]


@pytest.fixture(scope="module")
def built(shared_home):
    """The session's shared home, as is, for the tests that only read it."""
    return shared_home.settings, shared_home.instance, shared_home.results


@pytest.fixture
def writable(shared_home, tmp_path):
    """A private copy for a test that reloads the raw tables or corrupts a landed file: the shared home stays as
    built even when such a test fails half-way, and no test depends on another having put things back."""
    home = copy_home(shared_home, tmp_path / "writable")
    return home.settings, home.instance, home.results


def warehouse_of(settings) -> Warehouse:
    return Warehouse(duckdb_path=settings.duckdb_path, url=settings.warehouse_url)


def assert_only_the_business_alert_fires(evaluations, warehouse: Warehouse) -> None:
    """Every check passes except, possibly, the churn-rate business alert: the synthetic population churns at
    about 30%, above the 25% alert line, and when it fires it must agree with the scores it reports on."""
    failed = {(e.asset_key.to_user_string(), e.check_name): e for e in evaluations if not e.passed}
    assert set(failed) <= {("marts/churn_scores", "churn_rate_below_limit")}, sorted(failed)
    for alert in failed.values():
        assert alert.severity == dg.AssetCheckSeverity.WARN
        expected_rate = warehouse.scalar("SELECT avg(churn_probability) FROM marts.churn_scores "
                                         "WHERE as_of_date = (SELECT max(as_of_date) FROM marts.churn_scores)")
        assert alert.metadata["churn_rate"].value == pytest.approx(float(expected_rate))


def test_whole_graph_builds_every_table_and_passes_every_check(built):
    settings, _, results = built
    assert all(r.success for r in results)
    warehouse = warehouse_of(settings)
    manifest = landing.manifest(settings.landing_dir)
    for table, rows in manifest["tables"].items():
        assert warehouse.row_count("raw", table) == rows, table
    for table in MART_TABLES:
        assert warehouse.row_count("marts", table) > 0
    evaluations = check_evaluations(results)
    assert len(evaluations) > 20
    assert_only_the_business_alert_fires(evaluations, warehouse)
    names = {e.check_name for e in evaluations}
    assert "great_expectations_contract" in names and "unique_customer_features_customer_id" in names


def test_run_summary_counts_tables_and_checks_and_its_sql_hint_runs(built):
    settings, _, results = built
    text = summary(results, settings)
    customers = warehouse_of(settings).row_count("marts", "customer_features")
    assert re.search(rf"marts\.customer_features\s+{customers:,}\b", text)
    assert re.search(r"Checks: \d+ passed, 0 failed, [01] warnings", text)
    hint = next(line for line in text.splitlines() if "import duckdb" in line)
    code = hint.split('-c "', 1)[1].rstrip('"')
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "customer_id" in shown


def test_customer_features_are_point_in_time(built):
    settings, _, _ = built
    warehouse = warehouse_of(settings)
    as_of = warehouse.scalar("SELECT max(as_of_date) FROM marts.customer_features")
    assert as_of == warehouse.scalar("SELECT max(order_date) FROM staging.stg_orders")
    # Recompute one customer's recency and frequency by hand from the raw orders.
    row = warehouse.query("SELECT customer_id, recency_days, frequency FROM marts.customer_features "
                          "WHERE frequency > 2 ORDER BY customer_id LIMIT 1").row(0, named=True)
    orders = warehouse.query("SELECT order_ts FROM raw.orders WHERE customer_id = ? AND status = 'completed' "
                             "AND CAST(order_ts AS DATE) <= ?", [row["customer_id"], as_of])
    assert row["frequency"] == orders.height
    assert row["recency_days"] == (as_of - orders["order_ts"].max().date()).days
    # Training snapshots never see orders after their cutoff, and labels come only from after it.
    snapshots = warehouse.query("SELECT cutoff_date, count(*) AS n, avg(churned) AS rate "
                                "FROM marts.churn_training_set GROUP BY 1 ORDER BY 1")
    assert snapshots.height == 4
    assert all(c + dt.timedelta(days=90) <= as_of for c in snapshots["cutoff_date"])
    assert snapshots["rate"].min() > 0.05 and snapshots["rate"].max() < 0.8


def test_customer_360_joins_every_model_output_for_the_same_day(built):
    settings, _, _ = built
    warehouse = warehouse_of(settings)
    wide = warehouse.read_table("marts", "customer_360")
    features = warehouse.read_table("marts", "customer_features")
    assert wide.height == features.height == wide["customer_id"].n_unique()
    assert wide["as_of_date"].unique().to_list() == features["as_of_date"].unique().to_list()
    churn = warehouse.read_table("marts", "churn_scores", "as_of_date = ?", [features["as_of_date"][0]])
    joined = wide.join(churn, on="customer_id", suffix="_scores")
    assert joined.height == churn.height > 0
    assert (joined["churn_probability"] == joined["churn_probability_scores"]).all()
    assert (joined["risk_level"] == joined["risk_level_scores"]).all()
    assert wide.filter(~pl.col("customer_id").is_in(churn["customer_id"].implode()))["churn_probability"].null_count() \
        == wide.height - churn.height  # customers the churn model does not score stay null, not invented
    assert wide["segment_name"].null_count() == 0
    recommended = wide.filter(pl.col("top_recommended_products").is_not_null())
    assert recommended.height > 0 and (recommended["top_recommended_products"].str.split(",").list.len() == 3).all()
    best = warehouse.query("SELECT customer_id, CAST(product_id AS VARCHAR) AS product_id "
                           "FROM marts.product_recommendations WHERE rank = 1 AND as_of_date = ?",
                           [features["as_of_date"][0]])
    pairs = recommended.select("customer_id", pl.col("top_recommended_products").str.split(",").list.first()
                               .alias("product_id")).join(best, on=["customer_id", "product_id"])
    assert pairs.height == recommended.height


def test_reloading_the_raw_tables_replaces_them_without_duplicates(writable):
    settings, instance, _ = writable
    defs = build_definitions(settings)
    warehouse = warehouse_of(settings)
    before = warehouse.query("SELECT count(*) AS n, count(DISTINCT order_id) AS d FROM raw.orders").row(0)
    for _ in range(2):
        assert defs.resolve_job_def("load_source").execute_in_process(instance=instance).success
    after = warehouse.query("SELECT count(*) AS n, count(DISTINCT order_id) AS d FROM raw.orders").row(0)
    assert before == after and after[0] == after[1] == landing.manifest(settings.landing_dir)["tables"]["orders"]


def test_partitions_start_at_the_first_day_of_data(built):
    settings, _, _ = built
    first = landing.first_date(settings.landing_dir)
    keys = daily_partitions(settings).get_partition_keys()
    assert keys[0] == first.isoformat() == warehouse_of(settings).scalar(
        "SELECT CAST(min(partition_date) AS VARCHAR) FROM raw.orders")
    explicit = dataclasses.replace(settings, partition_start="2026-01-01")
    assert daily_partitions(explicit).get_first_partition_key() == "2026-01-01"


def test_failed_contract_check_leaves_the_previous_table(writable, tmp_path):
    settings, instance, _ = writable
    defs = build_definitions(settings)
    warehouse = warehouse_of(settings)
    query = "SELECT order_id, status FROM raw.orders ORDER BY order_id"
    before = warehouse.query(query)
    assert before.height > 0
    # Corrupt the landed orders behind the contract's back: the GE suite must catch it before the write.
    path = landing.current(settings.landing_dir) / "orders.parquet"
    original = pl.read_parquet(path)
    original.with_columns(status=pl.lit("lost in space")).write_parquet(path)
    try:
        result = defs.resolve_job_def("load_source").execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(["raw", "orders"])], raise_on_error=False)
    finally:
        original.write_parquet(path)
    assert not result.success
    failed = [e for e in check_evaluations([result]) if not e.passed]
    assert failed and failed[0].check_name == "great_expectations_contract"
    assert "status" in str(failed[0].metadata["validation"].value["failures"])
    assert warehouse.query(query).equals(before)


def test_bad_source_fails_before_the_warehouse_changes(writable, tmp_path):
    settings, instance, _ = writable
    folder = tmp_path / "bad"
    folder.mkdir()
    pl.DataFrame({"order_id": ["a"], "customer_id": ["c"], "order_ts": ["not a date"]}).write_csv(folder / "orders.csv")
    pl.DataFrame({"order_id": ["a"], "product_id": ["p"], "quantity": [1], "unit_price": [-3.0]}).write_csv(
        folder / "order_items.csv")
    bad = dataclasses.replace(settings, source=str(folder))
    version = landing.current(settings.landing_dir)
    customers_before = warehouse_of(settings).row_count("raw", "customers")
    result = build_definitions(bad).resolve_job_def("load_source").execute_in_process(instance=instance,
                                                                                  raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.to_string()
    assert "orders.csv" in message and "order_ts" in message and "unit_price" in message
    assert landing.current(settings.landing_dir) == version
    assert warehouse_of(settings).row_count("raw", "customers") == customers_before


def test_whole_graph_on_postgres(tmp_path, postgres_url, monkeypatch):
    for name, value in SHARED_HOME_ENV.items():  # the shared DuckDB home's smaller searches: same assertions
        monkeypatch.setenv(name, value)
    reset_postgres_schemas(postgres_url)
    settings = make_settings(tmp_path / "home", warehouse_url=postgres_url, synthetic_customers=600)
    results = run_all(settings, instance=dg.DagsterInstance.ephemeral())
    assert all(r.success for r in results)
    warehouse = warehouse_of(settings)
    assert warehouse.backend == "postgres"
    manifest = landing.manifest(settings.landing_dir)
    assert warehouse.row_count("raw", "orders") == manifest["tables"]["orders"]
    features = warehouse.read_table("marts", "customer_features")
    assert features.height == warehouse.scalar(
        "SELECT count(*) FROM staging.stg_customers WHERE signup_date <= (SELECT as_of_date FROM intermediate.int_as_of_date)")
    assert_only_the_business_alert_fires(check_evaluations(results), warehouse)
