"""Shared fixtures: a private home folder per test, small synthetic data, one built home shared by the test
modules (read as is, or copied for a module that changes it), the real PostgreSQL server."""

import contextlib
import dataclasses
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
os.environ.setdefault("TQDM_DISABLE", "1")

from customer_assets.config import Settings, synthetic_settings  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
# make test runs two pytest-xdist workers, one test file at a time each (`--dist loadfile`: a module's fixtures
# are built once). Each worker gets a database of its own on the server (test_gw0, test_gw1; `test` without
# xdist), so two workers never reset each other's warehouse schemas.
TEST_DATABASE = f"test_{os.environ['PYTEST_XDIST_WORKER']}" if os.environ.get("PYTEST_XDIST_WORKER") else "test"
POSTGRES_URL = os.environ.get("CUSTOMER_ML_TEST_POSTGRES_URL",
                              f"postgresql+psycopg2://postgres@127.0.0.1:5432/{TEST_DATABASE}")


def make_settings(home: Path, **overrides) -> Settings:
    return synthetic_settings(home, **overrides)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "home")


def postgres_available() -> bool:
    """The server answers and this worker's database exists (created here when missing)."""
    if "CUSTOMER_ML_TEST_POSTGRES_URL" in os.environ:
        return True  # a given server: its tests fail loudly if it does not answer
    try:
        import psycopg2

        connection = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3)
    except Exception:
        return False
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [TEST_DATABASE])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{TEST_DATABASE}"')
    connection.close()
    return True


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


# --- one built home for the whole session -------------------------------------------------------------------
# Building a home (DuckDB + dbt + MLflow + Dagster over the whole graph) costs more than a minute, and six modules
# need one. It is built once, under the union of the knobs those modules need; a module that only reads it uses
# it as is, a module that retrains, promotes or rescores works on its own copy (a few seconds, see copy_home).

# 700: test_recommendation_assets needs them (at 600 the uncapped ranking already reaches every recommendable
# product, so the exposure-cap test cannot show the cap widening it).
SHARED_HOME_CUSTOMERS = 700
SMALL_TOPICS = {  # topic search of the review assets
    "CUSTOMER_ML_REVIEW_TOPICS_K_MIN": "3",
    "CUSTOMER_ML_REVIEW_TOPICS_K_MAX": "5",
    "CUSTOMER_ML_REVIEW_TOPICS_SAMPLE": "2000",
    "CUSTOMER_ML_REVIEW_TOPICS_STABILITY_SEEDS": "1",
}
SMALL_SEGMENTATION_KNOBS = {
    "CUSTOMER_ML_SEGMENTATION_TSNE_SAMPLE_SIZE": "150",
    "CUSTOMER_ML_SEGMENTATION_STABILITY_RESAMPLES": "3",
    "CUSTOMER_ML_SEGMENTATION_STABILITY_SAMPLE_SIZE": "400",
    "CUSTOMER_ML_SEGMENTATION_SILHOUETTE_SAMPLE_SIZE": "600",
}
# No random search points beyond each family's defaults (per imbalance strategy, so all four families and SMOTE
# are still compared): each training is ~40 s shorter. test_churn_assets keeps its own home with the full search.
SMALL_CHURN_SEARCH = {"CUSTOMER_ML_CHURN_SEARCH_SECONDS": "0"}
RECOMMEND_K = 10
SHARED_HOME_ENV = {"CUSTOMER_ML_RECOMMEND_K": str(RECOMMEND_K), **SMALL_TOPICS, **SMALL_SEGMENTATION_KNOBS,
                   **SMALL_CHURN_SEARCH}
SHARED_HOME_UNSET = ("CUSTOMER_ML_SEGMENTATION_PROMOTION_MARGIN",)  # the segmentation tests set it themselves


def as_of_partition(settings: Settings) -> str:
    """The as-of partition run_all builds for `settings` (the CLI's rule over the home's daily partitions)."""
    from customer_assets.cli import as_of_partition as cli_as_of_partition
    from customer_assets.defs.policies import daily_partitions

    return cli_as_of_partition(settings, daily_partitions(settings))


@dataclasses.dataclass(frozen=True)
class BuiltHome:
    settings: Settings
    instance: object  # dg.DagsterInstance that ran `results`
    results: list  # run_all's results: load_source, then build_marts for the as-of day


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory) -> BuiltHome:
    """The whole graph built once on synthetic data. Read it, never change it: copy_home gives a private copy."""
    import dagster as dg

    from customer_assets.cli import run_all

    with pytest.MonkeyPatch.context() as patch:
        for name, value in SHARED_HOME_ENV.items():
            patch.setenv(name, value)
        for name in SHARED_HOME_UNSET:
            patch.delenv(name, raising=False)
        settings = make_settings(tmp_path_factory.mktemp("shared") / "home", synthetic_customers=SHARED_HOME_CUSTOMERS)
        instance = dg.DagsterInstance.ephemeral()
        results = run_all(settings, instance=instance)
    assert all(r.success for r in results), "the shared home did not build"
    return BuiltHome(settings, instance, results)


def copy_home(built: BuiltHome, destination: Path) -> BuiltHome:
    """A private copy of a built home, as if it had been built at `destination`: the DuckDB file, landing and
    online snapshots (relative symlinks), plots and the MLflow registry with its artifacts. MLflow stores absolute
    artifact locations (in its database and each MLmodel file): they are moved to the copy, so new runs write
    there and nothing is read from the shared home. The copy gets a fresh Dagster instance: the tables and models
    its tests read live in the home, and `results` are the shared build's (the same models, versions, metrics)."""
    import dagster as dg

    source = built.settings.home
    shutil.copytree(source, destination, symlinks=True)
    _move_mlflow_paths(destination / "mlflow.db", str(source), str(destination))
    for model_file in (destination / "mlartifacts").rglob("MLmodel"):  # its artifact_path is absolute too
        text = model_file.read_text()
        if str(source) in text:
            model_file.write_text(text.replace(str(source), str(destination)))
    settings = dataclasses.replace(built.settings, home=destination)
    return BuiltHome(settings, dg.DagsterInstance.ephemeral(), built.results)


class RegistryInUse:
    """The MLflow registry of the home a test module reads, set by that module's fixtures (`use(settings)`); tests
    call it like a `ModelRegistry`. Test-side bookkeeping only: the library never holds a current registry."""

    def __init__(self):
        self._registry = None

    def use(self, settings):
        from customer_assets.mlops.registry import ModelRegistry

        self._registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
        return self._registry

    def __getattr__(self, name):
        if self._registry is None:
            raise RuntimeError("no home's registry in use: a fixture calls use(settings) first")
        return getattr(self._registry, name)


def _move_mlflow_paths(database: Path, old: str, new: str) -> None:
    with sqlite3.connect(database) as con:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [c[1] for c in con.execute(f'PRAGMA table_info("{table}")')
                       if any(t in (c[2] or "").upper() for t in ("CHAR", "TEXT", "CLOB"))]
            for column in columns:
                con.execute(f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                            f'WHERE instr("{column}", ?) > 0', [old, new, old])
    con.close()


def server_env(home: Path, **extra) -> dict:
    """Environment of a real scoring service over `home`: fast snapshot polling, no API key, MLflow from the home."""
    return {"CUSTOMER_ML_HOME": str(home), "CUSTOMER_ML_SERVE_POLL_SECONDS": "0.5",
            "CUSTOMER_ML_API_KEY": "", "MLFLOW_TRACKING_URI": "", **extra}


@contextlib.contextmanager
def serving(home: Path, log: Path, ready_path: str = "/readyz", **extra):
    """A real `bentoml serve` on 127.0.0.1 over `home` (server_env plus `extra`): yields its base URL once
    `ready_path` answers 200, stops it on exit."""
    from bentos import launch

    port = launch.free_port()
    proc = launch.start(port, server_env(home, **extra), log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        launch.wait_ready(url, proc, path=ready_path)
        yield url
    finally:
        launch.stop(proc)



def pytest_collection_modifyitems(config, items):
    """Whole-graph modules (marked slow) first, in their own order: with two workers (`--dist loadfile` hands the
    files out in this order) the longest ones start early instead of running last on one worker beside an idle one.
    Nothing depends on the order: a test that changes a home works on its own copy."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
