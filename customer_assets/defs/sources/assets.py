"""Raw assets: the validated source snapshot and one warehouse table per source table (group `raw`).

Raw tables are not partitioned: each run loads the whole validated landing snapshot and swaps the tables in
together (one transaction, so a kill mid-load never mixes two sources' tables), so any
length of history (MovieLens' 22 years, a retailer's 9 months) loads in one step. Daily partitions of raw
history were measured first: Dagster writes one materialization event per partition and table, and on the
default SQLite instance 480 days x 4 tables took more than 5 minutes (22 years would take over an hour), while
the source snapshot is re-read whole every run anyway. History matters downstream, where every mart and score
is partitioned by as-of date. Each table's Great Expectations suite runs before anything is written, and is
reported as a blocking asset check: a failing suite leaves every previous raw table untouched.
"""

import dagster as dg
import polars as pl

from customer_assets.defs.metadata import frame_metadata
from customer_assets.defs.policies import DAILY_FRESHNESS, OWNER
from customer_assets.defs.resources import SourceResource, WarehouseResource
from customer_assets.quality.ge_suites import validate_table
from customer_assets.sources import landing, loader
from customer_assets.sources.contract import CONTRACTS

RAW_SCHEMA = "raw"
CONTRACT_CHECK = "great_expectations_contract"

TABLE_DESCRIPTIONS = {
    "customers": "Customers (customer_id, signup_date, country, any extra attributes).",
    "products": "Product catalog (product_id, name, category, description, price).",
    "orders": "Orders (order_id, customer_id, order_ts, status), partitioned by order date.",
    "order_items": "Order lines (order_id, product_id, quantity, unit_price), partitioned by their order's date.",
    "reviews": "Product reviews (review_id, customer_id, product_id, rating 1-5, review_ts, review_text), "
    "partitioned by review date.",
    "events": "Web events (customer_id, event_ts, event_type, session_id), partitioned by event date.",
}
RAW_TABLES = ("customers", "products", "orders", "order_items", "reviews", "events")
PARENT_KEYS = {"customers.customer_id": "customers", "products.product_id": "products", "orders.order_id": "orders"}


@dg.asset(
    group_name="raw",
    owners=[OWNER],
    kinds={"polars", "parquet"},
    freshness_policy=DAILY_FRESHNESS,
    description="The source (synthetic generator or a folder of files) read, checked against the input contract "
    "and published as an immutable Parquet landing snapshot. Bad input fails here, naming the file, "
    "column and example rows, before the warehouse is touched.",
)
def source_snapshot(context: dg.AssetExecutionContext, source: SourceResource) -> dg.MaterializeResult:
    if source.source == "synthetic":
        tables = loader.load_synthetic(source.synthetic_customers, source.synthetic_seed, source.end_date)
    else:
        tables = loader.load_folder(source.source, source.orphan_tolerance)
    version = landing.publish(tables, source.landing_dir)
    for note in tables.notes:
        context.log.info(note)
    first, last = landing.date_range(source.landing_dir)
    return dg.MaterializeResult(
        metadata={
            "source": source.source,
            "landing_version": version.name,
            "rows": dg.MetadataValue.json({name: frame.height for name, frame in tables.tables.items()}),
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in tables.notes) or "_none_"),
            "first_order_date": str(first),
            "last_order_date": str(last),
        }
    )


def _parent_keys(landing_dir, table: str) -> dict[str, pl.Series]:
    wanted = {f"{fk.parent_table}.{fk.parent_column}" for fk in CONTRACTS[table].foreign_keys}
    return {key: landing.read(landing_dir, PARENT_KEYS[key])[key.split(".")[1]] for key in wanted}


def _check_or_fail(context, key: dg.AssetKey, table: str, frame: pl.DataFrame, landing_dir):
    contract_frame = frame.drop(landing.PARTITION_COLUMN, strict=False)
    result = validate_table(table, contract_frame, _parent_keys(landing_dir, table))
    check = dg.AssetCheckResult(
        asset_key=key,
        check_name=CONTRACT_CHECK,
        passed=result.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"validation": dg.MetadataValue.json(result.metadata())},
    )
    if not result.success:
        context.log.error(f"{table}: contract failed: {result.failures}")
    return check, result


def _raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_SCHEMA, table])


@dg.multi_asset(
    name="raw__tables",
    group_name="raw",
    can_subset=True,
    specs=[
        dg.AssetSpec(
            _raw_key(t),
            deps=[source_snapshot],
            owners=[OWNER],
            kinds={"polars", "sql"},
            freshness_policy=DAILY_FRESHNESS,
            description=TABLE_DESCRIPTIONS[t],
            skippable=True,
        )
        for t in RAW_TABLES
    ],
    check_specs=[
        dg.AssetCheckSpec(
            CONTRACT_CHECK,
            asset=_raw_key(t),
            blocking=True,
            description="Great Expectations suite of the raw data contract: columns, types, nulls, uniqueness, "
            "ranges, allowed values and referential integrity. Runs before the write.",
        )
        for t in RAW_TABLES
    ],
)
def raw_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource, source: SourceResource):
    """All selected raw tables from one landing snapshot, checked first, then published together in one swap."""
    tables = [t for t in RAW_TABLES if _raw_key(t) in context.selected_asset_keys]
    frames, checks, failed = {}, {}, []
    for table in tables:
        frames[table] = landing.read(source.landing_dir, table)
        checks[table], result = _check_or_fail(context, _raw_key(table), table, frames[table], source.landing_dir)
        if not result.success:
            failed.append((table, result.failures))
    if failed:
        yield from checks.values()
        raise dg.Failure(
            description=f"raw.{', raw.'.join(t for t, _ in failed)} failed the data contract; "
            "no raw table was replaced (they are published as a set).",
            metadata={"failures": dg.MetadataValue.json({t: f for t, f in failed})},
        )
    warehouse.client().replace_tables(RAW_SCHEMA, frames)
    for table, frame in frames.items():
        metadata = frame_metadata(frame)
        if landing.PARTITION_COLUMN in frame.columns and frame.height:
            metadata.update(
                {
                    "first_date": str(frame[landing.PARTITION_COLUMN].min()),
                    "last_date": str(frame[landing.PARTITION_COLUMN].max()),
                }
            )
        metadata["table"] = f"{RAW_SCHEMA}.{table}"
        yield dg.MaterializeResult(asset_key=_raw_key(table), metadata=metadata, check_results=[checks[table]])


def build_raw_assets() -> list[dg.AssetsDefinition]:
    return [source_snapshot, raw_tables]
