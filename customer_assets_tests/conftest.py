"""Shared fixtures: a private home folder per test, small synthetic data, the real PostgreSQL server."""

import dataclasses
import datetime as dt
import os
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
os.environ.setdefault("TQDM_DISABLE", "1")

from customer_assets.config import Settings  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
POSTGRES_URL = os.environ.get("CUSTOMER_ML_TEST_POSTGRES_URL",
                              "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def make_settings(home: Path, **overrides) -> Settings:
    base = Settings(
        home=home,
        source="synthetic",
        synthetic_customers=1000,
        synthetic_seed=7,
        synthetic_end_date=dt.date(2026, 10, 31),
        as_of=None,
        warehouse_url=None,
        partition_start=None,
        churn_window_days=90,
        orphan_tolerance=0.01,
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "home")


def postgres_available() -> bool:
    try:
        import psycopg2

        psycopg2.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=3).close()
        return True
    except Exception:
        return False


@pytest.fixture
def postgres_url() -> str:
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432 (database 'test')")
    return POSTGRES_URL


def reset_postgres_schemas(url: str, schemas=("raw", "staging", "intermediate", "marts")) -> None:
    from customer_assets.warehouse.client import Warehouse

    warehouse = Warehouse(url=url)
    for schema in schemas:
        warehouse.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA} (they sit beside the repo in CI only)")
    return SHARED_DATA
