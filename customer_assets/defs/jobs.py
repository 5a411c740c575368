"""Jobs that split the graph where partitioning changes, so each can run (or backfill) in one go."""


import dagster as dg


RAW_PARTITIONED = dg.AssetSelection.groups("raw") & dg.AssetSelection.assets(
    *[["raw", t] for t in ("orders", "order_items", "reviews", "events")])
RAW_UNPARTITIONED = dg.AssetSelection.groups("raw") - RAW_PARTITIONED



def build_jobs(partitions_def: dg.PartitionsDefinition) -> list:
    load_source = dg.define_asset_job(
        "load_source", selection=RAW_UNPARTITIONED,
        description="Validate the source and load the unpartitioned raw tables (customers, products).",
    )
    load_history = dg.define_asset_job(
        "load_history", selection=RAW_PARTITIONED, partitions_def=partitions_def,
        description="Load a range of days of orders, order items, reviews and events (one run per range).",
    )
    build_marts = dg.define_asset_job(
        "build_marts", selection=dg.AssetSelection.all() - dg.AssetSelection.groups("raw"),
        partitions_def=partitions_def,
        description="Everything downstream of the raw tables as of one day (the partition): dbt models and "
                    "tests, model training and the scored tables.",
    )
    return [load_source, load_history, build_marts]
