"""One retraining sensor per watched model: requests a run of the model's training asset.

Each tick reads the latest `model_monitoring` materialization (never the warehouse, which a running job may be
writing) and applies the rules in `customer_assets.mlops.retraining`. The run's tags say why:
`customer-ml/retrain-triggers` (comma-separated: new_labels, drift, metric_floor), `customer-ml/retrain-reason`,
`customer-ml/model`, the monitoring as-of date and `customer-ml/job=training` (the run coordinator's
concurrency limit). The cursor holds the last request time (cooldown, CUSTOMER_ML_RETRAIN_COOLDOWN_HOURS,
default 24) and the monitoring record that caused it (never acted on twice).
"""

import time

import dagster as dg

from customer_assets.config import automation_settings
from customer_assets.defs.model_specs import ModelSpec
from customer_assets.defs.monitoring.assets import MONITORING_KEY
from customer_assets.mlops.retraining import (
    SensorState,
    find_triggers,
    in_cooldown,
)

TRIGGERS_TAG = "customer-ml/retrain-triggers"
REASON_TAG = "customer-ml/retrain-reason"
MODEL_TAG = "customer-ml/model"
AS_OF_TAG = "customer-ml/monitoring-as-of"
JOB_TAG = "customer-ml/job"


def cooldown_hours() -> float:
    return automation_settings().retrain_cooldown_hours


def psi_threshold() -> float:
    return automation_settings().retrain_psi


def latest_signals(instance: dg.DagsterInstance, model: str) -> tuple[int, dict, str | None] | None:
    """(storage id, the model's signals, as-of) of the newest model_monitoring materialization naming it."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=MONITORING_KEY), limit=1).records
    if not records:
        return None
    record = records[0]
    metadata = record.asset_materialization.metadata
    models = getattr(metadata.get("models"), "value", None) or {}
    if model not in models:
        return None
    as_of = getattr(metadata.get("as_of_date"), "value", None) or record.asset_materialization.partition
    return record.storage_id, models[model], as_of


def build_retraining_sensor(
    spec: ModelSpec, default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING
) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"retrain_{spec.name}",
        target=[spec.training_key],
        default_status=default_status,
        minimum_interval_seconds=300,
        description=f"Requests {spec.training_asset} when labelled data since the champion exceeds "
        f"{spec.new_labels_threshold} rows, a key feature or the score drifts (PSI > 0.2), or the "
        f"champion's metric on recent outcomes is below its floor; with a cooldown.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        state = SensorState.from_cursor(context.cursor)
        latest = latest_signals(context.instance, spec.name)
        if latest is None:
            return dg.SkipReason(f"no model_monitoring record for {spec.name} yet")
        record_id, signals, as_of = latest
        if state.last_record_id is not None and record_id <= state.last_record_id:
            return dg.SkipReason(f"monitoring record {record_id} already acted on")
        triggers = find_triggers(signals, spec.new_labels_threshold, psi_threshold())
        if not triggers:
            return dg.SkipReason(f"{spec.name}: no trigger holds on monitoring as of {as_of}")
        now = time.time()
        if in_cooldown(state, now, cooldown_hours()):
            return dg.SkipReason(
                f"{spec.name}: cooldown ({cooldown_hours()} h) since the last request; "
                f"would fire on: {', '.join(t.name for t in triggers)}"
            )
        context.update_cursor(SensorState(last_request_at=now, last_record_id=record_id).to_cursor())
        return dg.RunRequest(
            run_key=f"retrain-{spec.name}-{record_id}",
            asset_selection=[spec.training_key],
            tags={
                TRIGGERS_TAG: ",".join(t.name for t in triggers),
                REASON_TAG: "; ".join(t.reason for t in triggers)[:4000],
                MODEL_TAG: spec.name,
                AS_OF_TAG: str(as_of),
                # dagster.yaml's queued run coordinator runs one training run at a time on this tag.
                JOB_TAG: "training",
            },
        )

    return _sensor
