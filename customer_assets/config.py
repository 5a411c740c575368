"""Settings read from the environment, in one place.

Everything the platform writes lives under one home folder so that a user can delete it to start over.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "warehouse"

DEFAULT_SYNTHETIC_CUSTOMERS = 3000


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    home: Path
    source: str
    synthetic_customers: int
    synthetic_seed: int
    synthetic_end_date: dt.date
    as_of: dt.date | None
    warehouse_url: str | None
    partition_start: str | None  # first as-of partition; None = the first day of data in the source
    churn_window_days: int
    orphan_tolerance: float
    extra: dict = field(default_factory=dict)

    @property
    def is_postgres(self) -> bool:
        return bool(self.warehouse_url) and self.warehouse_url.startswith("postgres")

    @property
    def duckdb_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def mlflow_tracking_uri(self) -> str:
        return _env("MLFLOW_TRACKING_URI") or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def snapshot_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def bench_dir(self) -> Path:
        return self.home / "bench"

    @property
    def run_log_dir(self) -> Path:
        """Where `make run` writes each run's tracebacks, so the console shows only the summary."""
        return self.home / "logs"


def synthetic_settings(home: Path, **overrides) -> Settings:
    """Settings for a throwaway home on the synthetic source, independent of the environment (tests and
    benchmarks build their homes with it)."""
    base = Settings(home=home, source="synthetic", synthetic_customers=1000, synthetic_seed=7,
                    synthetic_end_date=dt.date(2026, 10, 31), as_of=None, warehouse_url=None, partition_start=None,
                    churn_window_days=90, orphan_tolerance=0.01)
    return dataclasses.replace(base, **overrides)


def load_settings() -> Settings:
    home = Path(_env("CUSTOMER_ML_HOME", str(REPO_ROOT / ".customer_ml"))).expanduser().resolve()
    as_of = _env("CUSTOMER_ML_AS_OF")
    return Settings(
        home=home,
        source=_env("CUSTOMER_ML_SOURCE", "synthetic"),
        synthetic_customers=int(_env("CUSTOMER_ML_SYNTHETIC_CUSTOMERS", str(DEFAULT_SYNTHETIC_CUSTOMERS))),
        synthetic_seed=int(_env("CUSTOMER_ML_SYNTHETIC_SEED", "42")),
        synthetic_end_date=dt.date.fromisoformat(_env("CUSTOMER_ML_SYNTHETIC_END_DATE", "2026-10-31")),
        as_of=dt.date.fromisoformat(as_of) if as_of else None,
        warehouse_url=_env("WAREHOUSE_URL"),
        partition_start=_env("CUSTOMER_ML_PARTITION_START"),
        churn_window_days=int(_env("CUSTOMER_ML_CHURN_WINDOW_DAYS", "90")),
        orphan_tolerance=float(_env("CUSTOMER_ML_ORPHAN_TOLERANCE", "0.01")),
    )


def api_key() -> str | None:
    """The shared key the scoring service and the app ask for (CUSTOMER_ML_API_KEY); None leaves them open."""
    return _env("CUSTOMER_ML_API_KEY")
