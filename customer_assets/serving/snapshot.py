"""The online snapshot: what live lookups need, published as an immutable, versioned folder of Parquet files.

DuckDB allows one writing process or several readers, never both, so the scoring service never opens the
warehouse: it reads the folder that `current` points to. `publish` reads the warehouse (DuckDB or PostgreSQL,
through the `Warehouse` client) as of the latest built as-of date and writes

    <online_dir>/<version>/features.parquet          marts.customer_features at the latest as-of date
                           churn_scores.parquet      marts.churn_scores at its latest as-of date (<= that date)
                           segments.parquet          marts.customer_segments, same rule
                           recommendations.parquet   marts.product_recommendations, same rule
                           similar_products.parquet  marts.similar_products, same rule
                           customer_value.parquet    marts.customer_value, same rule
                           retention_targets.parquet marts.retention_targets (ranked), same rule
                           purchases.parquet         distinct (customer_id, product_id) of completed orders up
                                                     to the as-of date: bought items are never recommended
                           manifest.json             as_of, created_at, per-table rows and as-of, champions

into a staging folder, renames it to its version name, then switches the `current` symlink atomically
(a temporary link replaced with `os.replace`), the same approach as `customer_assets.sources.landing`.
The last `keep` versions stay (a reader that resolved `current` just before a switch can still read its
files); older ones are deleted. No Dagster here: the `online_snapshot` asset calls `publish`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from customer_assets.config import serve_settings
from customer_assets.warehouse.client import Warehouse

CURRENT = "current"
MANIFEST = "manifest.json"
DEFAULT_KEEP_VERSIONS = 3
FORMAT_VERSION = 1

# name -> (schema, table); every one but features is optional (a domain may not be built yet).
DATED_TABLES = {
    "churn_scores": ("marts", "churn_scores"),
    "segments": ("marts", "customer_segments"),
    "recommendations": ("marts", "product_recommendations"),
    "similar_products": ("marts", "similar_products"),
    "customer_value": ("marts", "customer_value"),
    "retention_targets": ("marts", "retention_targets"),
}
REQUIRED_TABLES = ("features",)

PURCHASES_SQL = """
    SELECT DISTINCT o.customer_id, i.product_id
    FROM staging.stg_orders o JOIN staging.stg_order_items i ON i.order_id = o.order_id
    WHERE o.status = 'completed' AND o.order_date <= ?
    ORDER BY 1, 2"""


class SnapshotError(RuntimeError):
    """The snapshot cannot be published or read (missing tables, no current version, bad manifest)."""


@dataclass(frozen=True)
class Published:
    version: str
    path: Path
    manifest: dict


def keep_versions() -> int:
    return serve_settings().online_keep_versions


def online_dir(home: Path) -> Path:
    return Path(home) / "online"


# --- reading the warehouse ------------------------------------------------------------------------------


def _query(client: Warehouse, sql: str, params: list | None = None) -> pl.DataFrame:
    return client.query(sql, params)  # Warehouse.query takes ? placeholders on every backend


def _as_date(value) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def latest_as_of(client: Warehouse) -> dt.date:
    if not client.table_exists("marts", "customer_features"):
        raise SnapshotError("marts.customer_features does not exist: build the marts before publishing a snapshot")
    as_of = _as_date(client.scalar("SELECT max(as_of_date) FROM marts.customer_features"))
    if as_of is None:
        raise SnapshotError("marts.customer_features is empty: build the marts before publishing a snapshot")
    return as_of


def _list_column(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """PostgreSQL returns list columns (JSONB) as text: decode them so both warehouses give the same frame."""
    if column in frame.columns and frame.schema[column] == pl.String:
        return frame.with_columns(pl.col(column).str.json_decode(pl.List(pl.String)))
    return frame


def read_tables(client: Warehouse, as_of: dt.date) -> tuple[dict[str, pl.DataFrame], dict[str, dict]]:
    """The snapshot's frames and, per table, its rows and the as-of date it was taken at."""
    frames: dict[str, pl.DataFrame] = {}
    info: dict[str, dict] = {}
    frames["features"] = client.query(
        "SELECT * FROM marts.customer_features WHERE as_of_date = ? ORDER BY customer_id", [as_of]
    )
    info["features"] = {"as_of": as_of.isoformat()}
    for name, (schema, table) in DATED_TABLES.items():
        if not client.table_exists(schema, table):
            continue
        table_as_of = _as_date(
            client.query(f"SELECT max(as_of_date) AS d FROM {schema}.{table} WHERE as_of_date <= ?", [as_of])["d"][0]
        )
        if table_as_of is None:
            continue
        order = (
            "product_id, rank"
            if name == "similar_products"
            else (
                "customer_id, rank"
                if name == "recommendations"
                else "rank"
                if name == "retention_targets"
                else "customer_id"
            )
        )
        frame = client.query(f"SELECT * FROM {schema}.{table} WHERE as_of_date = ? ORDER BY {order}", [table_as_of])
        frames[name] = _list_column(_list_column(frame, "top_reasons"), "recommended_products")
        info[name] = {"as_of": table_as_of.isoformat()}
    if client.table_exists("staging", "stg_orders") and client.table_exists("staging", "stg_order_items"):
        frames["purchases"] = client.query(PURCHASES_SQL, [as_of])
        info["purchases"] = {"as_of": as_of.isoformat()}
    for name, frame in frames.items():
        if "customer_id" in frame.columns:
            frames[name] = frame.with_columns(pl.col("customer_id").cast(pl.String))
        info[name]["rows"] = frame.height
    return frames, info


# --- writing the versioned folder -----------------------------------------------------------------------


def new_version_name() -> str:
    return f"v-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:6]}"


def write_snapshot(
    frames: dict[str, pl.DataFrame], target_dir: Path, manifest: dict, keep: int | None = None
) -> Published:
    """Write `frames` as a new version under `target_dir`, switch `current` to it, prune old versions."""
    missing = [name for name in REQUIRED_TABLES if name not in frames]
    if missing:
        raise SnapshotError(f"a snapshot needs the tables {missing}")
    if frames["features"].is_empty():
        raise SnapshotError("features is empty: nothing to serve")
    keep = keep_versions() if keep is None else keep
    target_dir.mkdir(parents=True, exist_ok=True)
    version = new_version_name()
    staging = target_dir / f".staging-{version}"
    staging.mkdir()
    try:
        for name, frame in frames.items():
            frame.write_parquet(staging / f"{name}.parquet")
        full = {
            "format": FORMAT_VERSION,
            "version": version,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **manifest,
        }
        (staging / MANIFEST).write_text(json.dumps(full, indent=2, default=str))
        final = target_dir / version
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    switch_current(target_dir, final)
    prune(target_dir, keep=keep, protect=final)
    return Published(version, final, full)


def switch_current(target_dir: Path, version_dir: Path) -> None:
    link = target_dir / CURRENT
    tmp = target_dir / f".current-{uuid.uuid4().hex[:6]}"
    tmp.symlink_to(version_dir.name)
    os.replace(tmp, link)


def prune(target_dir: Path, keep: int, protect: Path | None = None) -> list[str]:
    """Delete all but the newest `keep` versions (never the one `current` points to); returns deleted names."""
    pointed = current_version(target_dir)
    versions = sorted(p for p in target_dir.glob("v-*") if p.is_dir())
    deleted = []
    for old in versions[:-keep] if keep > 0 else versions:
        if old.name in (pointed, protect.name if protect else None):
            continue
        shutil.rmtree(old, ignore_errors=True)
        deleted.append(old.name)
    for stale in target_dir.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return deleted


def publish(
    client: Warehouse, target_dir: Path, champion_versions: dict[str, int | None] | None = None, keep: int | None = None
) -> Published:
    """Read the warehouse as of its latest as-of date and publish a new snapshot version."""
    as_of = latest_as_of(client)
    frames, info = read_tables(client, as_of)
    manifest = {
        "as_of": as_of.isoformat(),
        "warehouse": client.backend,
        "tables": info,
        "missing_tables": sorted(set(DATED_TABLES) - set(frames)),
        "champion_versions": dict(champion_versions or {}),
        "model_versions": {
            name: sorted(int(v) for v in frames[name]["model_version"].unique().drop_nulls())
            for name in DATED_TABLES
            if name in frames and "model_version" in frames[name].columns
        },
    }
    # The business app's small bounded tables (history, segment moves, names, reviews): beside the service's
    # tables, listed under app_tables so read_snapshot and the service never load them.
    from customer_assets.serving.app_tables import read_app_tables

    app_frames, app_info, app_skipped = read_app_tables(client, as_of, _query)
    manifest["app_tables"], manifest["app_tables_skipped"] = app_info, app_skipped
    return write_snapshot({**frames, **app_frames}, target_dir, manifest, keep=keep)


# --- reading a published snapshot -----------------------------------------------------------------------


def current_version(target_dir: Path) -> str | None:
    """The version name `current` points to, or None when nothing was published yet."""
    try:
        return os.readlink(Path(target_dir) / CURRENT)
    except (FileNotFoundError, OSError):
        return None


def read_manifest(version_dir: Path) -> dict:
    path = Path(version_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise SnapshotError(f"{path} does not exist") from error
    except json.JSONDecodeError as error:
        raise SnapshotError(f"{path} is not valid JSON: {error}") from error


def read_snapshot(target_dir: Path, version: str | None = None) -> tuple[str, dict, dict[str, pl.DataFrame]]:
    """(version, manifest, frames) of `version` (default: the current one), read fully into memory."""
    version = version or current_version(target_dir)
    if version is None:
        raise SnapshotError(f"no online snapshot in {target_dir}: materialize the online_snapshot asset first")
    folder = Path(target_dir) / version
    manifest = read_manifest(folder)
    frames = {}
    for name in manifest.get("tables", {}):
        frames[name] = pl.read_parquet(folder / f"{name}.parquet")
    missing = [name for name in REQUIRED_TABLES if name not in frames]
    if missing:
        raise SnapshotError(f"snapshot {version} lacks the tables {missing}")
    return version, manifest, frames
