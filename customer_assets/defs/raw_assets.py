"""Raw assets: the validated source snapshot and one warehouse table per source table (group `raw`).

Raw tables are not partitioned: each run loads the whole validated landing snapshot and swaps it in, so any
length of history (MovieLens' 22 years, a retailer's 9 months) loads in one step. Daily partitions of raw
history were measured first: Dagster writes one materialization event per partition and table, and on the
default SQLite instance 480 days x 4 tables took more than 5 minutes (22 years would take over an hour), while
the source snapshot is re-read whole every run anyway. History matters downstream, where every mart and score
is partitioned by as-of date. Each table's Great Expectations suite runs before anything is written, and is
reported as a blocking asset check: a failing suite leaves the previous table untouched.
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
    return dg.MaterializeResult(metadata={
        "source": source.source,
        "landing_version": version.name,
        "rows": dg.MetadataValue.json({name: frame.height for name, frame in tables.tables.items()}),
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in tables.notes) or "_none_"),
        "first_order_date": str(first),
        "last_order_date": str(last),
    })


def _parent_keys(landing_dir, table: str) -> dict[str, pl.Series]:
    wanted = {f"{fk.parent_table}.{fk.parent_column}" for fk in CONTRACTS[table].foreign_keys}
    return {key: landing.read(landing_dir, PARENT_KEYS[key])[key.split(".")[1]] for key in wanted}


def _check_or_fail(context, key: dg.AssetKey, table: str, frame: pl.DataFrame, landing_dir):
    contract_frame = frame.drop(landing.PARTITION_COLUMN, strict=False)
    result = validate_table(table, contract_frame, _parent_keys(landing_dir, table))
    check = dg.AssetCheckResult(
        asset_key=key, check_name=CONTRACT_CHECK, passed=result.success,
        severity=dg.AssetCheckSeverity.ERROR, metadata={"validation": dg.MetadataValue.json(result.metadata())},
    )
    if not result.success:
        context.log.error(f"{table}: contract failed: {result.failures}")
    return check, result


def _raw_table_asset(table: str) -> dg.AssetsDefinition:
    key = dg.AssetKey([RAW_SCHEMA, table])

    @dg.asset(
        key=key,
        group_name="raw",
        owners=[OWNER],
        deps=[source_snapshot],
        kinds={"polars", "sql"},
        freshness_policy=DAILY_FRESHNESS,
        description=TABLE_DESCRIPTIONS[table],
        check_specs=[dg.AssetCheckSpec(
            CONTRACT_CHECK, asset=key, blocking=True,
            description="Great Expectations suite of the raw data contract: columns, types, nulls, uniqueness, "
                        "ranges, allowed values and referential integrity. Runs before the write.",
        )],
    )
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource, source: SourceResource):
        frame = landing.read(source.landing_dir, table)
        check, result = _check_or_fail(context, key, table, frame, source.landing_dir)
        if not result.success:
            yield check
            raise dg.Failure(
                description=f"raw.{table} failed its data contract; the warehouse table was left as it was.",
                metadata={"failures": dg.MetadataValue.json(result.failures)},
            )
        client = warehouse.client()
        metadata = frame_metadata(frame)
        client.replace_table(RAW_SCHEMA, table, frame)
        if landing.PARTITION_COLUMN in frame.columns and frame.height:
            metadata.update({"first_date": str(frame[landing.PARTITION_COLUMN].min()),
                             "last_date": str(frame[landing.PARTITION_COLUMN].max())})
        metadata["table"] = f"{RAW_SCHEMA}.{table}"
        yield dg.MaterializeResult(metadata=metadata, check_results=[check])

    return _load


def build_raw_assets() -> list[dg.AssetsDefinition]:
    return [source_snapshot, *(_raw_table_asset(t) for t in RAW_TABLES)]
