"""Automation for the code location: the daily schedule, declarative automation, retraining, alerts, monitoring.

`build_automation(partitions_def, existing_keys)` returns the pieces; `with_automation(defs, partitions_def)`
adds them to an existing `Definitions` (it finds which model assets exist there, so a model that is not wired
yet is simply skipped).

- `daily_refresh` job + `daily_refresh_schedule` (02:00 in CUSTOMER_ML_TIMEZONE, default UTC): ONE run for
  yesterday's partition that loads the source, yesterday's raw partitions (the load_history part) and rebuilds
  the marts, models, scores and monitoring as of yesterday (the build_marts part). One run rather than separate
  load_history and build_marts runs because runs launched by one tick start concurrently: the marts would be
  built before the day's orders are loaded. The graph orders the steps inside the run.
- `automation_condition_sensor` (running by default) evaluates the `AutomationCondition`s between daily runs;
  the monitoring assets carry `refresh_when_deps_update()` and any module can apply it (automation_conditions).
- `retrain_<model>` sensors, `run_failure_alert`, the `drift_report` and `model_monitoring` assets, and the
  business-alert checks (churn rate on the churn score table; the metric floor on the champion's realized metric
  in model_monitoring and on the holdout metric the training asset reports).

CUSTOMER_ML_AUTOMATION_DEFAULT_STATUS=stopped starts the schedule and sensors stopped (default: running).
"""

import datetime as dt
import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import dagster as dg

from customer_assets.config import automation_settings
from customer_assets.defs.alerts import build_run_failure_alert
from customer_assets.defs.business_checks import churn_rate_check, metric_floor_check
from customer_assets.defs.model_specs import ModelSpec, load_model_specs
from customer_assets.defs.monitoring.assets import (
    MONITORING_KEY,
    build_drift_report_asset,
    build_model_monitoring_asset,
    metric_metadata_key,
)
from customer_assets.defs.monitoring.sensors import build_retraining_sensor
from customer_assets.ml.realized import HIGHER_IS_BETTER

log = logging.getLogger(__name__)
DAILY_JOB = "daily_refresh"
DAILY_CRON = "0 2 * * *"


def timezone() -> str:
    name = automation_settings().timezone
    ZoneInfo(name)  # an unknown zone fails at load time with the zone's name, not at 02:00
    return name


def default_status() -> tuple[dg.DefaultScheduleStatus, dg.DefaultSensorStatus]:
    value = automation_settings().default_status
    running = value == "running"
    return (
        (dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED),
        (dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED),
    )


@dataclass
class Automation:
    assets: list = field(default_factory=list)
    asset_checks: list = field(default_factory=list)
    schedules: list = field(default_factory=list)
    sensors: list = field(default_factory=list)
    jobs: list = field(default_factory=list)

    def definitions(self) -> dg.Definitions:
        return dg.Definitions(
            assets=self.assets,
            asset_checks=self.asset_checks,
            schedules=self.schedules,
            sensors=self.sensors,
            jobs=self.jobs,
        )


def build_daily_job():
    # Its partitions are the daily ones of the assets it selects (Dagster infers them).
    return dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.all(),
        tags={"customer-ml/job": "daily"},
        description="The nightly run for one day: source snapshot, that day's raw partitions, then every mart, "
        "model, score table and monitoring asset as of that day.",
    )


def build_daily_schedule(
    job, partitions_def: dg.PartitionsDefinition, status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING
) -> dg.ScheduleDefinition:
    @dg.schedule(
        cron_schedule=DAILY_CRON,
        job=job,
        execution_timezone=timezone(),
        name="daily_refresh_schedule",
        default_status=status,
        description="02:00 every day: refresh yesterday's partitions and everything downstream as of "
        "yesterday, in one run.",
    )
    def daily_refresh_schedule(context: dg.ScheduleEvaluationContext):
        scheduled = context.scheduled_execution_time or dt.datetime.now(ZoneInfo(timezone()))
        day = (scheduled.astimezone(ZoneInfo(timezone())).date() - dt.timedelta(days=1)).isoformat()
        if day < partitions_def.get_first_partition_key():
            return dg.SkipReason(f"{day} is not a partition (before the configured start?)")
        return dg.RunRequest(
            run_key=f"daily-{day}",
            partition_key=day,
            tags={"customer-ml/as-of": day, "customer-ml/trigger": "schedule"},
        )

    return daily_refresh_schedule


def build_automation(
    partitions_def: dg.PartitionsDefinition, existing_keys=(), specs: tuple[ModelSpec, ...] | None = None
) -> Automation:
    """Every automation piece for the assets in `existing_keys` (the keys the code location already defines)."""
    existing = set(existing_keys)
    specs = tuple(load_model_specs() if specs is None else specs)
    schedule_status, sensor_status = default_status()
    drift_asset = build_drift_report_asset(partitions_def, list(specs), existing)
    monitoring_asset = build_model_monitoring_asset(partitions_def, list(specs), existing)
    automation = Automation(assets=[drift_asset, monitoring_asset])

    for spec in specs:
        if spec.training_key not in existing:
            # A replacement specs file naming an asset this code location lacks: say so instead of watching nothing.
            log.warning(
                "model spec %r: training asset %s is not in the code location; no retraining sensor or metric floor "
                "checks are built for it",
                spec.name,
                spec.training_asset,
            )
            continue
        automation.sensors.append(build_retraining_sensor(spec, sensor_status))
        if spec.performance is not None:
            automation.asset_checks.append(
                metric_floor_check(
                    MONITORING_KEY,
                    metric_metadata_key(spec),
                    spec.performance.floor,
                    name=f"{spec.name}_metric_above_floor",
                    higher_is_better=HIGHER_IS_BETTER.get(spec.performance.metric, True),
                    partitions_def=partitions_def,
                )
            )
            if spec.holdout_metric_key:
                automation.asset_checks.append(
                    metric_floor_check(
                        spec.training_key,
                        spec.holdout_metric_key,
                        spec.performance.floor,
                        name=f"{spec.name}_holdout_metric_above_floor",
                        higher_is_better=HIGHER_IS_BETTER.get(spec.performance.metric, True),
                    )
                )
    for spec in specs:
        if spec.churn_rate_alert and spec.score_key in existing:
            automation.asset_checks.append(
                churn_rate_check(spec.score_key, partitions_def, spec.score_columns, table=spec.score_table)
            )

    daily_job = build_daily_job()
    automation.jobs.append(daily_job)
    automation.schedules.append(build_daily_schedule(daily_job, partitions_def, schedule_status))
    automation.sensors.append(
        dg.AutomationConditionSensorDefinition(
            "automation_condition_sensor",
            target=dg.AssetSelection.all(),
            default_status=sensor_status,
            run_tags={"customer-ml/trigger": "automation"},
            description="Evaluates the assets' AutomationConditions (e.g. monitoring refresh after a retraining run).",
        )
    )
    automation.sensors.append(build_run_failure_alert(sensor_status))
    return automation


def with_automation(
    defs: dg.Definitions, partitions_def: dg.PartitionsDefinition, specs: tuple[ModelSpec, ...] | None = None
) -> dg.Definitions:
    """`defs` plus the automation built for the assets it defines."""
    existing = set(defs.resolve_all_asset_keys())
    return dg.Definitions.merge(defs, build_automation(partitions_def, existing, specs).definitions())
