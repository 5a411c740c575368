"""What dbt needs from the settings: a profile for the home's warehouse and the project variables.

Nothing here touches the process environment. `write_profile` writes `<home>/dbt/profiles.yml` with the one
target the settings choose (the DuckDB file, or the PostgreSQL server of WAREHOUSE_URL); `dbt_vars` are passed
on every dbt command line (`--vars`). The repository's `warehouse/profiles.yml` stays for parsing and for
running dbt by hand (`dbt_environment` gives a subprocess the variables it reads).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml  # type: ignore[import-untyped]

from customer_assets.config import Settings

PROFILE = "customer_ml"


def target_name(settings: Settings) -> str:
    return "postgres" if settings.is_postgres else "duckdb"


def dbt_vars(settings: Settings) -> dict[str, str | int]:
    return {
        "churn_window_days": settings.churn_window_days,
        "as_of": settings.as_of.isoformat() if settings.as_of else "",
    }


def _output(settings: Settings) -> dict:
    if not settings.is_postgres:
        return {"type": "duckdb", "path": str(settings.duckdb_path), "threads": 2}
    url = urlparse(settings.warehouse_url)
    return {
        "type": "postgres",
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 5432,
        "user": unquote(url.username or "postgres"),
        "password": unquote(url.password or ""),
        "dbname": (url.path or "/test").lstrip("/") or "test",
        "schema": "public",
        "threads": 2,
    }


def profiles_dir(settings: Settings) -> Path:
    return settings.home / "dbt"


def write_profile(settings: Settings) -> Path:
    """`<home>/dbt/profiles.yml` for this home's warehouse (owner-only: it may hold a database password)."""
    folder = profiles_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "profiles.yml"
    text = yaml.safe_dump(
        {PROFILE: {"target": target_name(settings), "outputs": {target_name(settings): _output(settings)}}}
    )
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.chmod(temporary, 0o600)
    temporary.replace(path)
    return folder


def dbt_environment(settings: Settings) -> dict[str, str]:
    """Variables for a dbt subprocess started by hand with the repository's profiles.yml (e.g. a benchmark)."""
    env = {
        "CUSTOMER_ML_DBT_TARGET": target_name(settings),
        "CUSTOMER_ML_DUCKDB_PATH": str(settings.duckdb_path),
        "CUSTOMER_ML_CHURN_WINDOW_DAYS": str(settings.churn_window_days),
        "CUSTOMER_ML_AS_OF": settings.as_of.isoformat() if settings.as_of else "",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    if settings.is_postgres:
        output = _output(settings)
        env.update(
            {
                "CUSTOMER_ML_PG_HOST": output["host"],
                "CUSTOMER_ML_PG_PORT": str(output["port"]),
                "CUSTOMER_ML_PG_USER": output["user"],
                "CUSTOMER_ML_PG_PASSWORD": output["password"],
                "CUSTOMER_ML_PG_DATABASE": output["dbname"],
            }
        )
    return env
