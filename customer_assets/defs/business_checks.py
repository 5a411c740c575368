"""Asset checks for the business alerts, as factories any module can attach to its own assets.

- `churn_rate_check`: the expected churn rate (mean churn probability) of a scored, daily-partitioned table
  for its partition is above 25%.
- `metric_floor_check`: a model metric reported in an asset's materialization metadata is below its floor
  (above it, for lower-is-better metrics). It reads the materialization of the checked partition from the
  instance, so it works for any asset that writes its metric as a metadata float.
Both are WARN-severity and non-blocking: they raise an alert, they do not stop the day's run.
"""

import datetime as dt

import dagster as dg

from customer_assets.defs.resources import WarehouseResource

CHURN_RATE_LIMIT = 0.25


def churn_rate_check(
    asset_key: dg.AssetKey,
    partitions_def: dg.PartitionsDefinition | None,
    probability_columns: tuple[str, ...] = ("churn_probability",),
    limit: float = CHURN_RATE_LIMIT,
    table: str | None = None,
) -> dg.AssetChecksDefinition:
    """Fails when the mean of the first present probability column (the expected churn rate) exceeds `limit`."""
    schema, name = (table or ".".join(asset_key.path[-2:])).split(".")

    @dg.asset_check(
        asset=asset_key,
        name="churn_rate_below_limit",
        partitions_def=partitions_def,
        description=f"Business alert: the expected churn rate (mean churn probability over the scored customers "
        f"of the partition) must not exceed {limit:.0%}.",
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        client = warehouse.client()
        columns = client.columns(schema, name)
        column = next((c for c in probability_columns if c in columns), None)
        if column is None:
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"{schema}.{name} has none of the columns {probability_columns}",
            )
        where, params = "", []
        if partitions_def is not None and "as_of_date" in columns:
            where, params = "as_of_date = ?", [dt.date.fromisoformat(context.partition_key)]
        frame = client.read_table(schema, name, where, params).select(column)
        rate = frame[column].mean() if frame.height else None
        return dg.AssetCheckResult(
            passed=rate is not None and rate <= limit,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"expected churn rate {rate:.1%} (limit {limit:.0%})"
                if rate is not None
                else "no scored rows in this partition"
            ),
            metadata={
                "churn_rate": float(rate) if rate is not None else None,
                "limit": limit,
                "scored_rows": frame.height,
                "column": column,
            },
        )

    return _check


def metric_floor_check(
    asset_key: dg.AssetKey,
    metadata_key: str,
    floor: float,
    *,
    name: str | None = None,
    higher_is_better: bool = True,
    partitions_def: dg.PartitionsDefinition | None = None,
) -> dg.AssetChecksDefinition:
    """Fails when the asset's latest materialization (of the checked partition) reports `metadata_key` on the
    wrong side of `floor`. Passes, saying so, when the metric is absent (nothing to judge yet)."""

    @dg.asset_check(
        asset=asset_key,
        name=name or f"{metadata_key}_above_floor",
        partitions_def=partitions_def,
        description=f"Business alert: {metadata_key} must stay {'at or above' if higher_is_better else 'at or below'} "
        f"{floor}.",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=asset_key, asset_partitions=[context.partition_key] if partitions_def else None
            ),
            limit=1,
        ).records
        metadata = records[0].asset_materialization.metadata if records else {}
        entry = metadata.get(metadata_key)
        value = getattr(entry, "value", entry)
        if value is None:
            return dg.AssetCheckResult(
                passed=True,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"no {metadata_key} reported yet (no outcomes known)",
                metadata={"floor": floor},
            )
        ok = value >= floor if higher_is_better else value <= floor
        return dg.AssetCheckResult(
            passed=bool(ok),
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{metadata_key} = {value:.4f} vs floor {floor}",
            metadata={"value": float(value), "floor": floor},
        )

    return _check
