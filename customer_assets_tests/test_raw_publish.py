"""The raw tables are published as a set: a failure while loading leaves every table of the previous source."""

import dataclasses

import dagster as dg
import polars as pl
import pytest

from customer_assets.cli import source_note_lines
from customer_assets.definitions import build_definitions
from customer_assets.defs.sources.assets import RAW_TABLES
from customer_assets.sources.synthetic import SyntheticSpec, generate
from customer_assets.warehouse.client import Warehouse
from customer_assets_tests.conftest import make_settings, reset_postgres_schemas


class InjectedFailure(RuntimeError):
    pass


def fail_after_first_staged_table(monkeypatch):
    """Let the first table reach its staging name, then fail as a kill or a full disk would."""
    real = Warehouse._create_from_frame
    calls = []

    def create(self, con, schema, table, frame):
        calls.append(table)
        if len(calls) > 1:
            raise InjectedFailure(f"injected after staging {calls[0]}")
        return real(self, con, schema, table, frame)

    monkeypatch.setattr(Warehouse, "_create_from_frame", create)
    return calls


def source_of(warehouse: Warehouse, table: str) -> list[str]:
    return warehouse.query(f"SELECT DISTINCT source FROM raw.{table}")["source"].to_list()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path):
    if request.param == "duckdb":
        return Warehouse(duckdb_path=tmp_path / "warehouse.duckdb")
    url = request.getfixturevalue("postgres_url")
    reset_postgres_schemas(url, ("raw",))
    return Warehouse(url=url)


def test_a_failed_set_leaves_every_previous_table(warehouse, monkeypatch):
    tables = ("customers", "orders", "order_items")
    warehouse.replace_tables("raw", {t: pl.DataFrame({"source": ["old"]}) for t in tables})
    calls = fail_after_first_staged_table(monkeypatch)
    with pytest.raises(InjectedFailure):
        warehouse.replace_tables("raw", {t: pl.DataFrame({"source": ["new"]}) for t in tables})
    assert len(calls) == 2  # the first table was staged before the failure
    assert all(source_of(warehouse, t) == ["old"] for t in tables)
    left = warehouse.scalar("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema = 'raw' AND table_name LIKE '%staging%'")
    assert left == 0
    monkeypatch.undo()
    # A kill -9 mid-staging skips the cleanup: the next publish removes what it left.
    warehouse.execute('CREATE TABLE raw."orders__staging_0123abcd" AS SELECT 1 AS x')
    warehouse.replace_tables("raw", {t: pl.DataFrame({"source": ["new"]}) for t in tables})
    assert all(source_of(warehouse, t) == ["new"] for t in tables)
    assert not warehouse.table_exists("raw", "orders__staging_0123abcd")


def test_load_source_failing_mid_load_keeps_the_old_source(tmp_path, monkeypatch):
    settings = make_settings(tmp_path / "home", synthetic_customers=40, synthetic_seed=1)
    instance = dg.DagsterInstance.ephemeral()
    job = build_definitions(settings).resolve_job_def("load_source")
    assert job.execute_in_process(instance=instance).success
    client = Warehouse(duckdb_path=settings.duckdb_path)
    before = {t: client.query(f"SELECT * FROM raw.{t}") for t in RAW_TABLES}
    assert before["customers"].height == 40

    other = dataclasses.replace(settings, synthetic_customers=60, synthetic_seed=2)
    fail_after_first_staged_table(monkeypatch)
    result = build_definitions(other).resolve_job_def("load_source").execute_in_process(
        instance=instance, raise_on_error=False)
    assert not result.success
    for table in RAW_TABLES:  # none from the new source, not even the first one staged
        assert client.query(f"SELECT * FROM raw.{table}").equals(before[table]), table


def test_unknown_table_file_is_said_in_the_run_summary(tmp_path):
    folder = tmp_path / "source"
    folder.mkdir()
    for name, frame in generate(SyntheticSpec(customers=30, seed=4)).items():
        frame.write_csv(folder / f"{name}.csv")
    (folder / "coupons.csv").write_text("coupon_id\nX\n")
    settings = make_settings(tmp_path / "home", source=str(folder))
    result = build_definitions(settings).resolve_job_def("load_source").execute_in_process(
        instance=dg.DagsterInstance.ephemeral())
    assert result.success
    notes = source_note_lines([result])
    assert any(str(folder / "coupons.csv") in note and "not a known table" in note for note in notes)
