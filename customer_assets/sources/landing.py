"""The landing area: the last validated copy of the source, as Parquet, switched atomically.

Raw warehouse assets load their partitions from here, so a bad source file fails before the warehouse is
touched, and the synthetic generator runs once per materialization instead of once per partition.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from pathlib import Path

import polars as pl

from customer_assets.sources.contract import CONTRACTS
from customer_assets.sources.loader import SourceTables

PARTITION_COLUMN = "partition_date"
KEEP_VERSIONS = 2


def publish(source: SourceTables, landing_dir: Path) -> Path:
    landing_dir.mkdir(parents=True, exist_ok=True)
    version = landing_dir / f"v-{dt.datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    staging = landing_dir / f".staging-{version.name}"
    staging.mkdir()
    tables = dict(source.tables)
    order_dates = tables["orders"].select("order_id", pl.col("order_ts").dt.date().alias(PARTITION_COLUMN))
    for name, frame in tables.items():
        ts = CONTRACTS[name].timestamp_column
        if ts:
            frame = frame.with_columns(pl.col(ts).dt.date().alias(PARTITION_COLUMN))
        elif name == "order_items":
            frame = frame.join(order_dates, on="order_id", how="left")
        frame.write_parquet(staging / f"{name}.parquet")
    (staging / "manifest.json").write_text(
        json.dumps(
            {
                "tables": {name: frame.height for name, frame in tables.items()},
                "notes": source.notes,
                "dropped_orphans": source.dropped_orphans,
            },
            indent=2,
        )
    )
    staging.rename(version)
    _switch_current(landing_dir, version)
    _prune(landing_dir, keep=version)
    return version


def _switch_current(landing_dir: Path, version: Path) -> None:
    link = landing_dir / "current"
    tmp = landing_dir / f".current-{uuid.uuid4().hex[:6]}"
    tmp.symlink_to(version.name)
    os.replace(tmp, link)


def _prune(landing_dir: Path, keep: Path) -> None:
    versions = sorted(p for p in landing_dir.glob("v-*") if p.is_dir())
    for old in versions[:-KEEP_VERSIONS]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
    for stale in landing_dir.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)


def current(landing_dir: Path) -> Path:
    link = landing_dir / "current"
    if not link.exists():
        raise FileNotFoundError(f"no validated source in {landing_dir}: materialize the source_snapshot asset first")
    return link.resolve()


def manifest(landing_dir: Path) -> dict:
    return json.loads((current(landing_dir) / "manifest.json").read_text())


def read(landing_dir: Path, table: str, start: dt.date | None = None, end: dt.date | None = None) -> pl.DataFrame:
    """One table, or the rows whose partition date lies in [start, end]."""
    scan = pl.scan_parquet(current(landing_dir) / f"{table}.parquet")
    if start is not None and end is not None:
        scan = scan.filter(pl.col(PARTITION_COLUMN).is_between(start, end))
    return scan.collect()


def date_range(landing_dir: Path, tables=("orders", "reviews", "events")) -> tuple[dt.date, dt.date]:
    """First and last partition date over the given time-stamped tables."""
    folder = current(landing_dir)
    scans = [pl.scan_parquet(folder / f"{name}.parquet").select(PARTITION_COLUMN) for name in tables]
    dates = (
        pl.concat(scans)
        .select(pl.col(PARTITION_COLUMN).min().alias("lo"), pl.col(PARTITION_COLUMN).max().alias("hi"))
        .collect()
    )
    return dates["lo"][0], dates["hi"][0]


def first_date(landing_dir: Path) -> dt.date | None:
    """The first day with data in the current snapshot, or None when nothing has landed (or it holds no dates)."""
    if not (landing_dir / "current").exists():
        return None
    return date_range(landing_dir)[0]


def data_dates(landing_dir: Path, tables=("orders", "reviews", "events")) -> list[dt.date]:
    """Every partition date that holds at least one row, sorted."""
    folder = current(landing_dir)
    scans = [pl.scan_parquet(folder / f"{name}.parquet").select(PARTITION_COLUMN) for name in tables]
    return pl.concat(scans).unique().sort(PARTITION_COLUMN).collect()[PARTITION_COLUMN].to_list()
