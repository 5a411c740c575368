"""Schedules, sensors, monitoring assets and business checks, evaluated with Dagster's test contexts.

The model assets are other modules' work: small stand-ins (`churn_model`, `marts/churn_scores`) play their part,
backed by a real DuckDB file, a real (empty) MLflow SQLite registry and an ephemeral Dagster instance.
"""

import datetime as dt
import http.server
import json
import threading
import time
from zoneinfo import ZoneInfo

import dagster as dg
import numpy as np
import polars as pl
import pytest

from customer_assets.defs import automation as automation_module
from customer_assets.defs.automation import build_automation, with_automation
from customer_assets.defs.automation_conditions import refresh_when_deps_update, with_refresh_on_update
from customer_assets.defs.business_checks import churn_rate_check, metric_floor_check
from customer_assets.defs.model_specs import LabelSource, ModelSpec, RealizedPerformance, spec_from_dict
from customer_assets.defs.monitoring.assets import MONITORING_KEY
from customer_assets.defs.resources import MlflowResource, WarehouseResource
from customer_assets.defs.monitoring.sensors import MODEL_TAG, REASON_TAG, TRIGGERS_TAG
from customer_assets.mlops.retraining import SensorState
from customer_assets.warehouse.client import Warehouse

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-09-01", end_offset=1)
SCORES_KEY = dg.AssetKey(["marts", "churn_scores"])
CHURN = ModelSpec(
    name="churn", training_asset="churn_model", registry_name="churn_test",
    score_table="marts.churn_scores", score_columns=("churn_probability",),
    key_features=("recency_days", "frequency"),
    labels=LabelSource("marts.churn_training_set", "cutoff_date", delay_days=90),
    performance=RealizedPerformance("marts.churn_training_set", "churned", "cutoff_date", floor=0.65),
    new_labels_threshold=100, churn_rate_alert=True, holdout_metric_key="holdout_roc_auc",
)
ABSENT = ModelSpec(name="segmentation", training_asset="segmentation_model", registry_name="seg",
                   score_table="marts.customer_segments")
SPECS = (CHURN, ABSENT)


@dg.asset(key="churn_model", description="stand-in training asset")
def churn_model_standin():
    return dg.MaterializeResult(metadata={"stand_in": True})


@dg.asset(key=SCORES_KEY, deps=["churn_model"], partitions_def=PARTITIONS, description="stand-in scores")
def churn_scores_standin(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    as_of = dt.date.fromisoformat(context.partition_key)
    rate = 0.4 if as_of.day % 2 else 0.1  # odd days: a worrying churn rate
    rng = np.random.default_rng(as_of.day)
    scores = pl.DataFrame({"customer_id": [f"c{i}" for i in range(400)], "as_of_date": as_of,
                           "churn_probability": np.clip(rng.normal(rate, 0.05, 400), 0, 1)})
    warehouse.client().replace_partitions("marts", "churn_scores", scores, "as_of_date", as_of, as_of)


STANDINS = [churn_model_standin, churn_scores_standin]


@pytest.fixture
def automation():
    return build_automation(PARTITIONS, {dg.AssetKey("churn_model"), SCORES_KEY}, SPECS)


def by_name(items):
    return {item.name: item for item in items}


# --- what gets built ---------------------------------------------------------------------------------------

def test_only_existing_models_get_sensors_and_checks(automation):
    sensors = by_name(automation.sensors)
    assert set(sensors) == {"retrain_churn", "automation_condition_sensor", "run_failure_alert"}
    assert sensors["automation_condition_sensor"].default_status == dg.DefaultSensorStatus.RUNNING
    assert isinstance(sensors["automation_condition_sensor"], dg.AutomationConditionSensorDefinition)
    check_keys = {key for checks in automation.asset_checks for key in checks.check_keys}
    assert check_keys == {dg.AssetCheckKey(SCORES_KEY, "churn_rate_below_limit"),
                          dg.AssetCheckKey(MONITORING_KEY, "churn_metric_above_floor"),
                          dg.AssetCheckKey(dg.AssetKey("churn_model"), "churn_holdout_metric_above_floor")}
    monitoring = next(a for a in automation.assets if a.key == MONITORING_KEY)
    deps = {dep.asset_key for dep in monitoring.specs_by_key[MONITORING_KEY].deps}
    assert dg.AssetKey("segmentation_model") not in deps and dg.AssetKey("churn_model") in deps
    assert monitoring.specs_by_key[MONITORING_KEY].group_name == "monitoring"


def test_a_score_table_whose_asset_key_is_not_schema_slash_table_is_still_watched():
    spec = ModelSpec(name="recommendation", training_asset="recommendation_model", registry_name="rec",
                     score_table="marts.product_recommendations", score_asset="product_recommendations",
                     score_columns=("score",))
    assert spec.score_key == dg.AssetKey("product_recommendations")
    keys = {dg.AssetKey("recommendation_model"), dg.AssetKey("product_recommendations")}
    built = build_automation(PARTITIONS, keys, (spec,))
    drift_asset = next(a for a in built.assets if a.key == dg.AssetKey(["marts", "drift_report"]))
    assert dg.AssetKey("product_recommendations") in {d.asset_key for d in drift_asset.specs_by_key[
        dg.AssetKey(["marts", "drift_report"])].deps}


def test_holdout_metric_floor_check_fires_on_a_weak_trained_model(automation):
    (check,) = [c for c in automation.asset_checks
                if dg.AssetCheckKey(dg.AssetKey("churn_model"), "churn_holdout_metric_above_floor") in c.check_keys]
    outcomes = []
    for auc in (0.58, 0.81):
        @dg.asset(key="churn_model")
        def weak_or_strong():
            return dg.MaterializeResult(metadata={"holdout_roc_auc": auc})

        result = dg.materialize([weak_or_strong, check], instance=dg.DagsterInstance.ephemeral())
        (evaluation,) = result.get_asset_check_evaluations()
        outcomes.append(evaluation.passed)
    assert outcomes == [False, True]


def resources_for(home):
    return {"warehouse": WarehouseResource(home=str(home)),
            "mlflow": MlflowResource(tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
                                     artifact_root=str(home / "mlartifacts"))}


def test_with_automation_merges_into_loadable_definitions(tmp_path):
    base = dg.Definitions(assets=STANDINS, resources=resources_for(tmp_path))
    defs = with_automation(base, PARTITIONS, SPECS)
    dg.Definitions.validate_loadable(defs)
    assert {s.name for s in defs.sensors} >= {"retrain_churn", "run_failure_alert"}
    job = defs.resolve_job_def("daily_refresh")
    assert job.partitions_def == PARTITIONS
    assert {dg.AssetKey("churn_model"), SCORES_KEY, MONITORING_KEY} <= set(job.asset_layer.executable_asset_keys)


def test_specs_load_from_json_and_reject_unknown_fields(tmp_path, monkeypatch):
    path = tmp_path / "specs.json"
    path.write_text(json.dumps([{"name": "m", "training_asset": "m_model", "registry_name": "m",
                                 "labels": {"table": "marts.x", "date_column": "d"}, "key_features": ["a"]}]))
    monkeypatch.setenv("CUSTOMER_ML_MODEL_SPECS", str(path))
    from customer_assets.defs.model_specs import load_model_specs

    (spec,) = load_model_specs()
    assert spec.labels.date_column == "d" and spec.key_features == ("a",)
    with pytest.raises(ValueError, match="unknown fields"):
        spec_from_dict({"name": "m", "training_asset": "t", "registry_name": "r", "colour": "red"})


def test_refresh_helper_sets_the_condition_without_touching_other_attributes():
    (mapped,) = with_refresh_on_update([churn_scores_standin])
    spec = mapped.specs_by_key[SCORES_KEY]
    assert spec.automation_condition.get_label() == "refresh_when_deps_update"
    assert spec.partitions_def == PARTITIONS and spec.description == "stand-in scores"


def test_automation_refreshes_latest_partitions_after_an_out_of_band_training_run(tmp_path):
    defs = dg.Definitions(assets=[churn_model_standin, *with_refresh_on_update([churn_scores_standin])],
                          resources=resources_for(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    now = dt.datetime(2026, 10, 20, 12, tzinfo=dt.timezone.utc)
    first = dg.evaluate_automation_conditions(defs, instance, evaluation_time=now)
    assert first.total_requested == 0  # nothing updated: missing partitions are the schedule's job
    instance.report_runless_asset_event(dg.AssetMaterialization("churn_model"))
    second = dg.evaluate_automation_conditions(defs, instance, evaluation_time=now, cursor=first.cursor)
    requested = second.get_requested_partitions(SCORES_KEY)
    # Today's and yesterday's as-of partitions, not the whole history.
    assert requested == {"2026-10-19", "2026-10-20"}


# --- the daily schedule -------------------------------------------------------------------------------------

def schedule_and_repository(tmp_path):
    job = automation_module.build_daily_job()
    schedule = automation_module.build_daily_schedule(job, PARTITIONS)
    defs = dg.Definitions(assets=STANDINS, jobs=[job], schedules=[schedule], resources=resources_for(tmp_path))
    return schedule, defs.get_repository_def()


def tick_at(schedule, repository, when):
    return schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when,
                                                            repository_def=repository))


def test_daily_schedule_runs_yesterday_at_two_in_the_configured_timezone(monkeypatch, tmp_path):
    monkeypatch.setenv("CUSTOMER_ML_TIMEZONE", "Europe/Berlin")
    schedule, repository = schedule_and_repository(tmp_path)
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone == "Europe/Berlin"
    tick = dt.datetime(2026, 10, 20, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    data = tick_at(schedule, repository, tick)
    (request,) = data.run_requests
    assert request.partition_key == "2026-10-19" and request.tags["customer-ml/as-of"] == "2026-10-19"
    assert schedule.job_name == "daily_refresh"
    # 02:00 in Tokyo on the 20th is 17:00 UTC on the 19th: "yesterday" is taken in the configured zone.
    monkeypatch.setenv("CUSTOMER_ML_TIMEZONE", "Asia/Tokyo")
    schedule, repository = schedule_and_repository(tmp_path)
    tick = dt.datetime(2026, 10, 20, 2, 0, tzinfo=ZoneInfo("Asia/Tokyo")).astimezone(dt.timezone.utc)
    (request,) = tick_at(schedule, repository, tick).run_requests
    assert request.partition_key == "2026-10-19"


def test_daily_schedule_skips_days_before_the_first_partition(tmp_path):
    schedule, repository = schedule_and_repository(tmp_path)
    data = tick_at(schedule, repository, dt.datetime(2026, 8, 15, 2, 0, tzinfo=dt.timezone.utc))
    assert not data.run_requests and "not a partition" in data.skip_message


def test_bad_timezone_fails_at_load(monkeypatch):
    monkeypatch.setenv("CUSTOMER_ML_TIMEZONE", "Mars/Olympus")
    with pytest.raises(Exception, match="Mars/Olympus"):
        automation_module.timezone()


# --- retraining sensors -------------------------------------------------------------------------------------

QUIET = {"new_labelled_rows": 10, "key_feature_psi_max": 0.05, "worst_feature": "recency_days", "score_psi": 0.02,
         "metric_name": "roc_auc", "recent_metric": 0.8, "metric_floor": 0.65, "higher_is_better": True}


def report_monitoring(instance, as_of: str, **changes) -> None:
    signals = {**QUIET, **changes}
    instance.report_runless_asset_event(dg.AssetMaterialization(
        MONITORING_KEY, partition=as_of, metadata={"models": dg.MetadataValue.json({"churn": signals}),
                                                   "as_of_date": as_of}))


def evaluate(sensor, instance, defs, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return sensor.evaluate_tick(context)


@pytest.fixture
def sensor_env(automation, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    defs = dg.Definitions(assets=[*STANDINS, *automation.assets], sensors=automation.sensors,
                          resources=resources_for(tmp_path))
    return by_name(automation.sensors)["retrain_churn"], instance, defs


@pytest.mark.parametrize("changes, trigger, reason_part", [
    ({"new_labelled_rows": 150}, "new_labels", "150 labelled rows"),
    ({"key_feature_psi_max": 0.31}, "drift", "feature recency_days PSI 0.310"),
    ({"score_psi": 0.45}, "drift", "score distribution PSI 0.450"),
    ({"recent_metric": 0.6}, "metric_floor", "0.6000 on recent labels vs floor 0.65"),
])
def test_each_trigger_requests_training_with_tags(sensor_env, changes, trigger, reason_part):
    sensor, instance, defs = sensor_env
    report_monitoring(instance, "2026-10-19", **changes)
    data = evaluate(sensor, instance, defs)
    (request,) = data.run_requests
    assert request.asset_selection == [dg.AssetKey("churn_model")]
    assert request.tags[TRIGGERS_TAG] == trigger and reason_part in request.tags[REASON_TAG]
    assert request.tags[MODEL_TAG] == "churn" and request.tags["customer-ml/monitoring-as-of"] == "2026-10-19"
    assert request.tags["customer-ml/job"] == "training"  # the tag dagster.yaml limits to one run at a time
    assert SensorState.from_cursor(data.cursor).last_request_at is not None


def test_no_trigger_and_no_monitoring_skip(sensor_env):
    sensor, instance, defs = sensor_env
    assert "no model_monitoring record" in evaluate(sensor, instance, defs).skip_message
    report_monitoring(instance, "2026-10-19")
    data = evaluate(sensor, instance, defs)
    assert not data.run_requests and "no trigger holds" in data.skip_message


def test_several_triggers_are_all_named(sensor_env):
    sensor, instance, defs = sensor_env
    report_monitoring(instance, "2026-10-19", new_labelled_rows=500, score_psi=0.3, recent_metric=0.5)
    (request,) = evaluate(sensor, instance, defs).run_requests
    assert request.tags[TRIGGERS_TAG] == "new_labels,drift,metric_floor"


def test_cooldown_blocks_a_second_request_until_it_expires(sensor_env, monkeypatch):
    sensor, instance, defs = sensor_env
    report_monitoring(instance, "2026-10-19", score_psi=0.5)
    first = evaluate(sensor, instance, defs)
    assert len(first.run_requests) == 1
    # The same record never fires twice, even without a cooldown.
    monkeypatch.setenv("CUSTOMER_ML_RETRAIN_COOLDOWN_HOURS", "0")
    assert "already acted on" in evaluate(sensor, instance, defs, first.cursor).skip_message
    # A new record that still drifts, inside the cooldown: skipped, and the skip says what would have fired.
    monkeypatch.setenv("CUSTOMER_ML_RETRAIN_COOLDOWN_HOURS", "24")
    report_monitoring(instance, "2026-10-20", score_psi=0.5)
    blocked = evaluate(sensor, instance, defs, first.cursor)
    assert not blocked.run_requests and "cooldown" in blocked.skip_message and "drift" in blocked.skip_message
    # Once the cooldown has passed (last request 25 h ago), the new record fires.
    state = SensorState.from_cursor(first.cursor)
    old = SensorState(last_request_at=state.last_request_at - 25 * 3600, last_record_id=state.last_record_id)
    (request,) = evaluate(sensor, instance, defs, old.to_cursor()).run_requests
    assert request.tags["customer-ml/monitoring-as-of"] == "2026-10-20"


# --- run failure alert --------------------------------------------------------------------------------------

@pytest.fixture
def webhook():
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()
    thread.join(5)


@dg.op
def explode():
    raise RuntimeError("warehouse unreachable")


@dg.job(tags={"dagster/partition": "2026-10-19"})
def failing_job():
    explode()


def failure_context(instance):
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure(), result.dagster_run


def test_run_failure_posts_to_the_webhook(automation, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv("CUSTOMER_ML_ALERT_WEBHOOK_URL", url)
    sensor = by_name(automation.sensors)["run_failure_alert"]
    context, run = failure_context(dg.DagsterInstance.ephemeral())
    sensor(context)
    (content_type, payload), = received
    assert content_type == "application/json"
    assert payload["run_id"] == run.run_id and payload["job"] == "failing_job"
    assert payload["partition"] == "2026-10-19" and "failing_job" in payload["text"]
    assert "explode" in payload["error"]


def test_run_failure_without_webhook_or_with_a_dead_one_does_not_raise(automation, monkeypatch):
    sensor = by_name(automation.sensors)["run_failure_alert"]
    instance = dg.DagsterInstance.ephemeral()
    monkeypatch.delenv("CUSTOMER_ML_ALERT_WEBHOOK_URL", raising=False)
    context, _ = failure_context(instance)
    sensor(context)
    monkeypatch.setenv("CUSTOMER_ML_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/nothing-listens")
    sensor(context)


# --- monitoring assets and business checks on a real DuckDB file -------------------------------------------

FEATURE_COLUMNS = ("recency_days", "frequency", "monetary")


def features(rng, n, recency_scale):
    return {"customer_id": [f"c{i}" for i in range(n)], "recency_days": rng.exponential(recency_scale, n),
            "frequency": rng.poisson(4, n).astype(np.int64), "monetary": rng.lognormal(4, 1, n)}


@pytest.fixture
def warehouse_home(tmp_path):
    """marts tables as dbt would leave them: the as-of features drift in recency against the training set."""
    rng = np.random.default_rng(5)
    client = Warehouse(duckdb_path=tmp_path / "warehouse.duckdb")
    as_of, cutoff = dt.date(2026, 10, 19), dt.date(2026, 9, 1)
    current = pl.DataFrame({**features(rng, 400, 90), "as_of_date": as_of, "is_active": True})
    client.replace_table("marts", "customer_features", current)
    churned = rng.random(400) < 0.3
    training = pl.DataFrame({**features(rng, 400, 30), "cutoff_date": cutoff, "churned": churned.astype(np.int64)})
    client.replace_table("marts", "churn_training_set", training)
    # Scores made at the cutoff (now labelled: outcomes known) and on two later days.
    noisy = np.clip(np.where(churned, 0.7, 0.3) + rng.normal(0, 0.15, 400), 0, 1)
    past = pl.DataFrame({"customer_id": training["customer_id"], "as_of_date": cutoff, "churn_probability": noisy})
    client.replace_partitions("marts", "churn_scores", past, "as_of_date", cutoff, cutoff)
    return tmp_path, client, as_of, noisy, churned


def test_drift_report_and_monitoring_on_planted_drift(automation, warehouse_home):
    home, client, as_of, noisy, churned = warehouse_home
    resources = resources_for(home)
    assets = {a.key: a for a in automation.assets}
    instance = dg.DagsterInstance.ephemeral()
    for day in ("2026-10-18", "2026-10-19"):  # 18th: low churn scores, 19th: high (the score distribution moves)
        assert dg.materialize([churn_scores_standin], partition_key=day, resources=resources, instance=instance,
                              selection=[SCORES_KEY]).success
    result = dg.materialize([assets[dg.AssetKey(["marts", "drift_report"])], assets[MONITORING_KEY]],
                            partition_key=as_of.isoformat(), resources=resources, instance=instance)
    assert result.success
    report = client.read_table("marts", "drift_report")
    assert report["as_of_date"].unique().to_list() == [as_of]
    psi = dict(report.select("feature", "psi").iter_rows())
    assert psi["recency_days"] > 0.2 and psi["frequency"] < 0.1 and psi["monetary"] < 0.1
    assert psi["score:marts.churn_scores.churn_probability"] > 0.2
    assert report.filter(pl.col("feature") == "recency_days")["reference"].item() == \
        "marts.churn_training_set@2026-09-01"

    monitoring = client.read_table("marts", "model_monitoring").row(0, named=True)
    assert monitoring["model"] == "churn" and monitoring["champion_version"] is None  # empty registry
    assert monitoring["worst_feature"] == "recency_days" and monitoring["key_feature_psi_max"] > 0.2
    assert monitoring["realized_on"] == "2026-09-01" and monitoring["realized_rows"] == 400
    from sklearn.metrics import roc_auc_score

    assert monitoring["recent_metric"] == pytest.approx(roc_auc_score(churned, noisy))
    materialization = instance.get_latest_materialization_event(MONITORING_KEY).asset_materialization
    assert materialization.metadata["models"].value["churn"]["score_psi"] > 0.2

    # Idempotent per partition: running the day again replaces its rows.
    assert dg.materialize([assets[dg.AssetKey(["marts", "drift_report"])]], partition_key=as_of.isoformat(),
                          resources=resources, instance=instance).success
    assert client.read_table("marts", "drift_report").height == report.height


def test_churn_rate_check_fails_above_a_quarter_and_passes_below(tmp_path):
    check = churn_rate_check(SCORES_KEY, PARTITIONS, ("churn_probability",))
    resources = {"warehouse": WarehouseResource(home=str(tmp_path))}
    instance = dg.DagsterInstance.ephemeral()
    outcomes = {}
    for day in ("2026-10-19", "2026-10-20"):  # odd day: ~40% expected churn, even day: ~10%
        result = dg.materialize([churn_scores_standin, check], partition_key=day, resources=resources,
                                instance=instance, selection=[SCORES_KEY])
        (evaluation,) = result.get_asset_check_evaluations()
        outcomes[day] = evaluation
    assert not outcomes["2026-10-19"].passed and outcomes["2026-10-19"].metadata["churn_rate"].value > 0.25
    assert outcomes["2026-10-20"].passed and outcomes["2026-10-20"].metadata["churn_rate"].value < 0.25
    # Each partition's check saw only its own 400 rows, though the table holds both days.
    assert outcomes["2026-10-20"].metadata["scored_rows"].value == 400


@pytest.mark.parametrize("value, passed", [(0.58, False), (0.72, True), (None, True)])
def test_metric_floor_check_reads_the_reported_metric(value, passed):
    @dg.asset(key="some_model")
    def some_model():
        return dg.MaterializeResult(metadata={} if value is None else {"holdout_auc": value})

    check = metric_floor_check(dg.AssetKey("some_model"), "holdout_auc", 0.65)
    result = dg.materialize([some_model, check], instance=dg.DagsterInstance.ephemeral())
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed is passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
