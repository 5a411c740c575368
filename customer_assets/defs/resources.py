"""Dagster resources: thin wrappers that turn configuration into the plain clients the code uses."""

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from customer_assets.config import Settings, load_settings
from customer_assets.warehouse.client import Warehouse

if TYPE_CHECKING:
    from customer_assets.mlops.registry import ModelRegistry


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file under the home folder, or PostgreSQL when `warehouse_url` is set."""

    home: str
    warehouse_url: str = ""

    def client(self) -> Warehouse:
        return Warehouse(duckdb_path=Path(self.home) / "warehouse.duckdb", url=self.warehouse_url or None)

    @property
    def kind(self) -> str:
        return "postgres" if self.warehouse_url.startswith("postgres") else "duckdb"


class SourceResource(dg.ConfigurableResource):
    """Where raw data comes from: `synthetic` or a folder of CSV/Parquet files in the canonical schema."""

    source: str = "synthetic"
    home: str
    synthetic_customers: int = 3000
    synthetic_seed: int = 42
    synthetic_end_date: str = "2026-10-31"
    orphan_tolerance: float = 0.01

    @property
    def landing_dir(self) -> Path:
        return Path(self.home) / "landing"

    @property
    def end_date(self) -> dt.date:
        return dt.date.fromisoformat(self.synthetic_end_date)


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking and registry (SQLite under the home by default) with artifacts under the home.

    `registry()` is this home's `ModelRegistry` (its own MlflowClient): MLflow's process-wide tracking URI is
    never set, so two homes in one process (tests, a notebook) cannot write to each other's registry."""

    tracking_uri: str
    artifact_root: str

    def registry(self) -> "ModelRegistry":
        from customer_assets.mlops.registry import ModelRegistry

        return ModelRegistry(self.tracking_uri, Path(self.artifact_root))


def build_resources(settings: Settings | None = None) -> dict:
    settings = settings or load_settings()
    return {
        "warehouse": WarehouseResource(home=str(settings.home), warehouse_url=settings.warehouse_url or ""),
        "source": SourceResource(
            source=settings.source,
            home=str(settings.home),
            synthetic_customers=settings.synthetic_customers,
            synthetic_seed=settings.synthetic_seed,
            synthetic_end_date=settings.synthetic_end_date.isoformat(),
            orphan_tolerance=settings.orphan_tolerance,
        ),
        "mlflow": MlflowResource(
            tracking_uri=settings.mlflow_tracking_uri, artifact_root=str(settings.mlflow_artifact_root)
        ),
    }
