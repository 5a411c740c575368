"""Environment for dbt, derived from the same settings the rest of the platform uses."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlparse

from customer_assets.config import Settings


def dbt_environment(settings: Settings) -> dict[str, str]:
    env = {
        "CUSTOMER_ML_DBT_TARGET": "postgres" if settings.is_postgres else "duckdb",
        "CUSTOMER_ML_DUCKDB_PATH": str(settings.duckdb_path),
        "CUSTOMER_ML_CHURN_WINDOW_DAYS": str(settings.churn_window_days),
        "CUSTOMER_ML_AS_OF": settings.as_of.isoformat() if settings.as_of else "",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    if settings.is_postgres:
        url = urlparse(settings.warehouse_url)
        env.update(
            {
                "CUSTOMER_ML_PG_HOST": url.hostname or "127.0.0.1",
                "CUSTOMER_ML_PG_PORT": str(url.port or 5432),
                "CUSTOMER_ML_PG_USER": unquote(url.username or "postgres"),
                "CUSTOMER_ML_PG_PASSWORD": unquote(url.password or ""),
                "CUSTOMER_ML_PG_DATABASE": (url.path or "/test").lstrip("/") or "test",
            }
        )
    return env


def apply_dbt_environment(settings: Settings) -> None:
    os.environ.update(dbt_environment(settings))
