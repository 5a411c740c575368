"""`make run` on rejected input: it stops at the contract, writes nothing, and shows no traceback.

Cheap by design: the source fails at the contract, so no model or dbt step runs.
"""

import os
import subprocess
import sys

import polars as pl
import pytest

from customer_assets.sources import landing, loader
from customer_assets.sources.synthetic import SyntheticSpec, generate
from customer_assets.warehouse.client import Warehouse


@pytest.fixture(scope="module")
def good_tables():
    return generate(SyntheticSpec(customers=40, seed=5))


def run_cli(home, source) -> subprocess.CompletedProcess:
    env = {**os.environ, "CUSTOMER_ML_HOME": str(home), "CUSTOMER_ML_SOURCE": str(source)}
    env.pop("WAREHOUSE_URL", None)
    return subprocess.run([sys.executable, "-m", "customer_assets.cli", "run"], env=env,
                          capture_output=True, text=True, timeout=300)


def test_duplicate_order_id_stops_the_run_on_the_previous_snapshot(tmp_path, good_tables):
    home, source = tmp_path / "home", tmp_path / "source"
    # A previous good run: a landing snapshot and a raw table built from it.
    previous = landing.publish(loader.load_synthetic(40, 5, SyntheticSpec().end_date), home / "landing")
    warehouse = Warehouse(duckdb_path=home / "warehouse.duckdb")
    warehouse.replace_table("raw", "orders", pl.DataFrame({"order_id": ["from-previous-run"]}))
    source.mkdir()
    for name, frame in good_tables.items():
        frame.write_csv(source / f"{name}.csv")
    orders = good_tables["orders"]
    pl.concat([orders, orders.head(1)]).write_csv(source / "orders.csv")

    result = run_cli(home, source)

    shown = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{source / 'orders.csv'}, column 'order_id'" in shown and "duplicate id" in shown
    assert "Traceback" not in shown and 'File "' not in shown
    # Nothing loaded: not the history of the previous snapshot either, and the snapshot was not switched.
    assert landing.current(home / "landing") == previous.resolve()
    assert warehouse.query("SELECT order_id FROM raw.orders")["order_id"].to_list() == ["from-previous-run"]
    assert warehouse.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts'") == 0
    # The traceback is kept in the run log the summary points to.
    pointer = next(line for line in result.stdout.splitlines() if line.startswith("Full tracebacks"))
    log = pointer.split(": ", 1)[1]
    trace = open(log).read()
    assert log.startswith(str(home)) and 'File "' in trace and "ContractError" in trace


def test_far_future_timestamp_does_not_switch_the_snapshot(tmp_path, good_tables):
    home, source = tmp_path / "home", tmp_path / "source"
    previous = landing.publish(loader.load_synthetic(40, 5, SyntheticSpec().end_date), home / "landing")
    source.mkdir()
    for name, frame in good_tables.items():
        frame.write_csv(source / f"{name}.csv")
    orders = good_tables["orders"].with_columns(pl.col("order_ts").cast(pl.String))
    orders.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("9999-12-31 00:00:00"))
                        .otherwise("order_ts").alias("order_ts")).write_csv(source / "orders.csv")

    result = run_cli(home, source)

    assert result.returncode != 0 and "after today" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert landing.current(home / "landing") == previous.resolve()
