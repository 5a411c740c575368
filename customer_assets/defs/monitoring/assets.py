"""Monitoring assets (group `monitoring`): feature and score drift, and per-model retraining signals.

`drift_report` (partitioned by as-of date D) appends to `marts.drift_report` (as_of_date, feature, psi,
status, reference, reference_rows, current_rows):
- features: the active customers of marts.customer_features as of D against the latest labelled snapshot in
  marts.churn_training_set (features at its most recent cutoff before D, active customers only). That snapshot
  is what the models learn from, so the comparison says "today's customers no longer look like the training
  data"; comparing D with D-1 would show almost nothing day to day and miss slow drift. It also needs no extra
  history table: marts.customer_features holds only the latest as-of, but the training set keeps every cutoff.
- scores: for every configured scored table that exists, the score column as of D against the oldest
  partition of the same table within the previous 30 days (a rolling baseline), feature `score:<table>.<col>`.

`model_monitoring` (partitioned) appends to `marts.model_monitoring` one row per watched model: champion
version and when it was trained, labelled rows known since then, the worst key-feature PSI, the score PSI and
the champion's metric on the most recent scores whose outcomes are now known. Its materialization metadata
(`models`) is what the retraining sensors read, so sensors never open the warehouse.
"""

import datetime as dt

import dagster as dg
import polars as pl

from customer_assets.config import automation_settings
from customer_assets.defs.automation_conditions import refresh_when_deps_update
from customer_assets.defs.metadata import markdown_table
from customer_assets.defs.model_specs import ModelSpec
from customer_assets.defs.policies import DAILY_FRESHNESS, OWNER
from customer_assets.defs.resources import MlflowResource, WarehouseResource
from customer_assets.ml import drift
from customer_assets.ml.realized import HIGHER_IS_BETTER, realized_metric
from customer_assets.warehouse.reads import monitoring as reads

GROUP = "monitoring"
DRIFT_KEY = dg.AssetKey(["marts", "drift_report"])
MONITORING_KEY = dg.AssetKey(["marts", "model_monitoring"])
FEATURES_KEY = dg.AssetKey(["marts", "customer_features"])
TRAINING_SET_KEY = dg.AssetKey(["marts", "churn_training_set"])
NOT_FEATURES = {"customer_id", "churned", "cutoff_date", "as_of_date", "is_active"}
SCORE_BASELINE_DAYS = 30


def _drift_bins() -> int:
    return automation_settings().drift_bins


# --- drift ------------------------------------------------------------------------------------------------


def feature_drift(client, as_of: dt.date) -> pl.DataFrame:
    current = reads.active_features(client, as_of)
    reference_cutoff, reference = reads.training_snapshot_before(client, as_of)
    if reference_cutoff is None or current.is_empty():
        return pl.DataFrame(schema={**drift.REPORT_SCHEMA, "reference": pl.String})
    features = [
        c for c, t in current.schema.items() if c in reference.columns and c not in NOT_FEATURES and t.is_numeric()
    ]
    report = drift.drift_report(reference, current, features, bins=_drift_bins())
    return report.with_columns(reference=pl.lit(f"marts.churn_training_set@{reference_cutoff}"))


def score_column(client, spec: ModelSpec) -> str | None:
    columns = reads.table_columns(client, spec.score_table)
    if "as_of_date" not in columns:
        return None
    return next((c for c in spec.score_columns if c in columns), None)


def score_drift(client, spec: ModelSpec, as_of: dt.date) -> pl.DataFrame | None:
    """PSI of the score column as of D against a rolling baseline; None when the table cannot be compared."""
    if not reads.table_exists(client, spec.score_table):
        return None
    column = score_column(client, spec)
    if column is None:
        return None
    since = as_of - dt.timedelta(days=SCORE_BASELINE_DAYS)
    reference_day = reads.oldest_partition_since(client, spec.score_table, since, as_of)
    feature = f"score:{spec.score_table}.{column}"
    if reference_day is None:
        return pl.DataFrame(
            {
                "feature": [feature],
                "psi": [None],
                "status": ["no_reference"],
                "reference_rows": [0],
                "current_rows": [0],
                "reference": [None],
            },
            schema={**drift.REPORT_SCHEMA, "reference": pl.String},
        )
    values = reads.column_on_days(client, spec.score_table, column, [reference_day, as_of])
    reference = values.filter(pl.col("as_of_date") == reference_day).select(pl.col("value").alias(feature))
    current = values.filter(pl.col("as_of_date") == as_of).select(pl.col("value").alias(feature))
    categorical = [feature] if not values.schema["value"].is_float() else []
    report = drift.drift_report(reference, current, [feature], bins=_drift_bins(), categorical=categorical)
    return report.with_columns(reference=pl.lit(f"{spec.score_table}@{reference_day}"))


def build_drift_report_asset(
    partitions_def: dg.PartitionsDefinition, specs: list[ModelSpec], existing_keys: set[dg.AssetKey]
) -> dg.AssetsDefinition:
    scored = [s for s in specs if s.score_key is not None and s.score_key in existing_keys]
    deps = [k for k in (FEATURES_KEY, TRAINING_SET_KEY) if k in existing_keys] + [s.score_key for s in scored]

    @dg.asset(
        key=DRIFT_KEY,
        group_name=GROUP,
        owners=[OWNER],
        kinds={"polars", "sql"},
        deps=deps,
        freshness_policy=DAILY_FRESHNESS,
        partitions_def=partitions_def,
        automation_condition=refresh_when_deps_update(),
        description="Population stability index (PSI) of every customer feature as of the partition date "
        "against the latest labelled training snapshot, and of each model's score distribution "
        "against a rolling 30-day baseline. Appends to marts.drift_report (as_of_date, feature, psi, "
        "status: stable < 0.1 <= moderate <= 0.2 < significant).",
    )
    def drift_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        as_of = dt.date.fromisoformat(context.partition_key)
        client = warehouse.client()
        parts = [feature_drift(client, as_of)]
        for spec in scored:
            part = score_drift(client, spec, as_of)
            if part is None:
                context.log.info(f"{spec.score_table}: no table or no watched score column yet; skipped")
            else:
                parts.append(part)
        report = (
            pl.concat(parts, how="vertical_relaxed")
            .with_columns(as_of_date=pl.lit(as_of, dtype=pl.Date))
            .select("as_of_date", "feature", "psi", "status", "reference", "reference_rows", "current_rows")
        )
        client.replace_partitions("marts", "drift_report", report, "as_of_date", as_of, as_of)
        significant = report.filter(pl.col("status") == "significant")["feature"].to_list()
        worst = report.drop_nulls("psi").sort("psi", descending=True)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": report.height,
                "table": "marts.drift_report",
                "max_psi": float(worst["psi"][0]) if worst.height else 0.0,
                "significant_features": dg.MetadataValue.json(significant),
                "psi": dg.MetadataValue.json(
                    {
                        f: (round(p, 4) if p is not None else None)
                        for f, p in report.select("feature", "psi").iter_rows()
                    }
                ),
                "report": dg.MetadataValue.md(
                    markdown_table(
                        worst.select("feature", "psi", "status", "reference")
                        .head(20)
                        .with_columns(pl.col("psi").round(4))
                    )
                ),
            }
        )

    return drift_report


# --- model monitoring ------------------------------------------------------------------------------------


def champion_trained_at(models, registry_name: str) -> tuple[int | None, dt.datetime | None]:
    version = models.champion_version(registry_name)
    if version is None:
        return None, None
    created = models.client.get_model_version(registry_name, str(version)).creation_timestamp
    return version, dt.datetime.fromtimestamp(created / 1000, tz=dt.timezone.utc)


def new_labelled_rows(client, spec: ModelSpec, trained_at: dt.datetime, as_of: dt.date) -> int | None:
    """Rows whose label became known after the champion was trained and by the as-of date."""
    labels = spec.labels
    if labels is None or not reads.table_exists(client, labels.table):
        return None
    delay = dt.timedelta(days=labels.delay_days)
    return reads.labels_between(client, labels.table, labels.date_column, trained_at.date() - delay, as_of - delay)


def recent_performance(client, spec: ModelSpec, as_of: dt.date) -> tuple[float | None, str | None, int]:
    """The champion's metric on the latest day whose scores now have outcomes: (value, that day, rows)."""
    perf = spec.performance
    if perf is None or spec.score_table is None:
        return None, None, 0
    if not (reads.table_exists(client, spec.score_table) and reads.table_exists(client, perf.label_table)):
        return None, None, 0
    column = score_column(client, spec)
    if column is None:
        return None, None, 0
    day = reads.latest_labelled_score_day(client, spec.score_table, perf.label_table, perf.label_date_column, as_of)
    if day is None:
        return None, None, 0
    pairs = reads.scores_with_labels(
        client,
        spec.score_table,
        column,
        perf.label_table,
        perf.label_column,
        perf.label_date_column,
        perf.key_column,
        day,
    )
    value = realized_metric(perf.metric, pairs["label"].to_numpy(), pairs["score"].to_numpy())
    return value, str(day), pairs.height


def model_signals(client, models, spec: ModelSpec, as_of: dt.date, drift_rows: pl.DataFrame) -> dict:
    version, trained_at = champion_trained_at(models, spec.registry_name)
    key_rows = drift_rows.filter(pl.col("feature").is_in(list(spec.key_features))).drop_nulls("psi")
    worst = key_rows.sort("psi", descending=True).head(1)
    score_rows = drift_rows.filter(pl.col("feature").str.starts_with(f"score:{spec.score_table}.")).drop_nulls("psi")
    metric, realized_on, realized_rows = recent_performance(client, spec, as_of)
    perf = spec.performance
    return {
        "model": spec.name,
        "champion_version": version,
        "trained_at": trained_at.isoformat() if trained_at else None,
        "new_labelled_rows": new_labelled_rows(client, spec, trained_at, as_of) if trained_at else None,
        "new_labels_threshold": spec.new_labels_threshold,
        "key_feature_psi_max": float(worst["psi"][0]) if worst.height else None,
        "worst_feature": worst["feature"][0] if worst.height else None,
        "score_psi": float(score_rows["psi"].max()) if score_rows.height else None,
        "metric_name": perf.metric if perf else None,
        "recent_metric": metric,
        "metric_floor": perf.floor if perf else None,
        "higher_is_better": HIGHER_IS_BETTER.get(perf.metric, True) if perf else True,
        "realized_on": realized_on,
        "realized_rows": realized_rows,
    }


MONITORING_SCHEMA = {
    "as_of_date": pl.Date,
    "model": pl.String,
    "champion_version": pl.Int64,
    "trained_at": pl.String,
    "new_labelled_rows": pl.Int64,
    "key_feature_psi_max": pl.Float64,
    "worst_feature": pl.String,
    "score_psi": pl.Float64,
    "metric_name": pl.String,
    "recent_metric": pl.Float64,
    "metric_floor": pl.Float64,
    "realized_on": pl.String,
    "realized_rows": pl.Int64,
}


def metric_metadata_key(spec: ModelSpec) -> str:
    return f"{spec.name}_recent_metric"


def build_model_monitoring_asset(
    partitions_def: dg.PartitionsDefinition, specs: list[ModelSpec], existing_keys: set[dg.AssetKey]
) -> dg.AssetsDefinition:
    watched = [s for s in specs if s.training_key in existing_keys]
    deps = [
        DRIFT_KEY,
        *(s.training_key for s in watched),
        *(s.score_key for s in watched if s.score_key in existing_keys),
    ]

    @dg.asset(
        key=MONITORING_KEY,
        group_name=GROUP,
        owners=[OWNER],
        kinds={"mlflow", "polars", "sql"},
        deps=deps,
        freshness_policy=DAILY_FRESHNESS,
        partitions_def=partitions_def,
        automation_condition=refresh_when_deps_update(),
        description="Per watched model, as of the partition date: champion version and training time (MLflow), "
        "labelled rows known since, worst key-feature PSI, score PSI, and the champion's metric on the "
        "latest scores whose outcomes are now known. Appends to marts.model_monitoring; the "
        "retraining sensors read its `models` metadata.",
    )
    def model_monitoring(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource
    ) -> dg.MaterializeResult:
        as_of = dt.date.fromisoformat(context.partition_key)
        client = warehouse.client()
        drift_rows = reads.drift_rows(client, as_of)
        models = mlflow.registry()
        signals = {spec.name: model_signals(client, models, spec, as_of, drift_rows) for spec in watched}
        rows = pl.DataFrame(
            [{k: v for k, v in s.items() if k in MONITORING_SCHEMA} | {"as_of_date": as_of} for s in signals.values()],
            schema=MONITORING_SCHEMA,
        )
        client.replace_partitions("marts", "model_monitoring", rows, "as_of_date", as_of, as_of)
        metadata = {
            "dagster/row_count": rows.height,
            "table": "marts.model_monitoring",
            "as_of_date": as_of.isoformat(),
            "models": dg.MetadataValue.json(signals),
            "summary": dg.MetadataValue.md(markdown_table(rows.drop("as_of_date"))),
        }
        for spec in watched:
            value = signals[spec.name]["recent_metric"]
            if value is not None:
                metadata[metric_metadata_key(spec)] = float(value)
        return dg.MaterializeResult(metadata=metadata)

    return model_monitoring
