"""Jobs that split the graph where partitioning changes, so each can run (or backfill) in one go."""

import dagster as dg

RAW = dg.AssetSelection.groups("raw")


def build_jobs() -> list:
    """load_source (unpartitioned) and build_marts (partitioned like the assets it selects: Dagster infers it)."""
    load_source = dg.define_asset_job(
        "load_source",
        selection=RAW,
        description="Validate the source and load every raw table (all of its history, swapped in atomically).",
    )
    build_marts = dg.define_asset_job(
        "build_marts",
        selection=dg.AssetSelection.all() - RAW,
        description="Everything downstream of the raw tables as of one day (the partition): dbt models and "
        "tests, model training and the scored tables. Backfill a range of days to rebuild history.",
    )
    return [load_source, build_marts]
