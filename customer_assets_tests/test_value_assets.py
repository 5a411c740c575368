"""Value assets on a real home: value_model (holdout vs the naive baseline and the champion, MLflow run and gate),
marts.customer_value, marts.retention_targets and the value columns of customer_360.

The session's shared home already ran them; one test retrains and rebuilds the worklist on a private copy whose
churn, segment and recommendation tables are dropped (a few seconds: only the three value assets run)."""

import datetime as dt

import dagster as dg
import numpy as np
import polars as pl
import pytest

from customer_assets.defs.policies import daily_partitions
from customer_assets.defs.resources import build_resources
from customer_assets.defs.value.assets import (
    MODEL_NAME,
    ValueKnobs,
    build_value_assets,
    value_knobs,
)
from customer_assets.ml.value.promotion import promotion_decision
from customer_assets.ml.value.retention import VALUE_MODEL_SOURCE, build_targets
from customer_assets.warehouse.client import Warehouse
from customer_assets_tests.conftest import as_of_partition, copy_home, RegistryInUse

models = RegistryInUse()  # the registry of the home this module's fixtures chose

pytestmark = pytest.mark.slow


def _materializations(results) -> dict:
    out = {}
    for result in results:
        for event in result.all_events:
            if event.event_type_value == "ASSET_MATERIALIZATION":
                m = event.event_specific_data.materialization
                out[m.asset_key.to_user_string()] = {k: v.value for k, v in m.metadata.items()}
    return out


def _check(results, asset: str, name: str):
    return next(e.event_specific_data for r in results for e in r.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == name
                and e.event_specific_data.asset_key == dg.AssetKey.from_user_string(asset))


def test_the_graph_builds_the_value_tables_and_the_model_beats_the_naive_baseline(shared_home):
    settings, results = shared_home.settings, shared_home.results
    built = _materializations(results)
    trained = built["value_model"]
    assert "degraded" not in trained, trained.get("degraded")
    assert trained["holdout_orders_mae"] < trained["naive_orders_mae"]
    assert trained["holdout_value_mae"] < trained["naive_value_mae"]
    gate = _check(results, "value_model", "champion_gate")
    assert gate.passed and "beats the naive baseline" in gate.metadata["vs_baseline"].value
    assert _check(results, "marts/customer_value", "values_in_range").passed

    warehouse = Warehouse(duckdb_path=settings.duckdb_path)
    as_of = warehouse.scalar("SELECT max(as_of_date) FROM marts.customer_features")
    value = warehouse.read_table("marts", "customer_value", "as_of_date = ?", [as_of])
    buyers = warehouse.scalar("SELECT count(DISTINCT customer_id) FROM intermediate.int_orders_enriched "
                              "WHERE status = 'completed' AND order_date <= ?", [as_of])
    assert value.height == buyers > 0 and value["customer_id"].is_unique().all()
    assert value.columns[:9] == ["customer_id", "as_of_date", "p_alive", "expected_orders", "expected_value",
                                 "horizon_days", "clv_12m", "model_name", "model_version"]
    assert set(value["horizon_days"]) == {settings.churn_window_days}
    assert set(value["model_version"]) == {trained["champion_version"]}
    assert ((value["p_order"] <= value["p_alive"] + 1e-12) & (value["clv_12m"] >= 0)).all()

    wide = warehouse.read_table("marts", "customer_360").join(value.select("customer_id", "clv_12m", "p_alive"),
                                                              on="customer_id", how="left", suffix="_value")
    assert wide.height == settings.synthetic_customers
    assert np.allclose(wide["clv_12m"].fill_null(-1).to_numpy(), wide["clv_12m_value"].fill_null(-1).to_numpy())
    assert wide["p_alive"].null_count() == settings.synthetic_customers - value.height

    targets = warehouse.read_table("marts", "retention_targets", "as_of_date = ?", [as_of]).sort("rank")
    assert targets["rank"].to_list() == list(range(1, value.height + 1))
    assert (targets["value_at_risk"].diff().drop_nulls() <= 1e-12).all()
    assert np.allclose(targets["value_at_risk"], targets["churn_probability"] * targets["expected_value"])
    churn = warehouse.read_table("marts", "churn_scores", "as_of_date = ?", [as_of])
    joined = targets.join(churn.select("customer_id", pl.col("churn_probability").alias("stored")), on="customer_id")
    assert joined.height == churn.height and set(joined["churn_probability_source"]) == {"churn_model"}
    assert np.allclose(joined["churn_probability"], joined["stored"])
    recs = warehouse.read_table("marts", "product_recommendations", "as_of_date = ? AND rank <= 3", [as_of])
    first = targets.row(0, named=True)
    expected = recs.filter(pl.col("customer_id") == first["customer_id"]).sort("rank")["product_id"].to_list()
    assert list(first["recommended_products"]) == expected and first["segment_name"] is not None

    models.use(settings)

    run = models.client.get_run(trained["mlflow_run_id"])
    assert run.data.metrics["orders_mae"] == pytest.approx(trained["holdout_orders_mae"])
    assert "baseline.naive.orders_mae" in run.data.metrics
    artifacts = {a.path for a in models.client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/value_by_frequency.png", "plots/value_p_alive_calibration.png"} <= artifacts


def test_the_value_model_is_monitored_and_has_a_retraining_sensor(shared_home):
    from customer_assets.definitions import build_definitions

    settings = shared_home.settings
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("retrain_value")
    assert sensor is not None and "value_model" in sensor.description
    warehouse = Warehouse(duckdb_path=settings.duckdb_path)
    row = warehouse.read_table("marts", "model_monitoring", "model = ?", ["value"]).row(0, named=True)
    trained = _materializations(shared_home.results)["value_model"]
    assert row["champion_version"] == trained["champion_version"]
    assert row["worst_feature"] in {"recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"}
    drift = warehouse.read_table("marts", "drift_report")
    assert drift.filter(pl.col("feature").str.starts_with("score:marts.customer_value.")).height == 1


def test_retraining_compares_with_the_champion_and_the_worklist_builds_without_other_models(shared_home, tmp_path):
    home = copy_home(shared_home, tmp_path / "home").settings
    warehouse = Warehouse(duckdb_path=home.duckdb_path)
    for table in ("churn_scores", "customer_segments", "product_recommendations"):
        warehouse.execute(f"DROP TABLE marts.{table}")
    resources = build_resources(home)
    models.use(home)
    before = models.champion_version(MODEL_NAME)
    result = dg.materialize(build_value_assets(daily_partitions(home)), partition_key=as_of_partition(home),
                            resources={"warehouse": resources["warehouse"], "mlflow": resources["mlflow"]},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    built = _materializations([result])
    # Same orders, same configuration: the re-estimated challenger ties the champion and replaces it.
    assert "champion" in built["value_model"]["decision_reason"] and built["value_model"]["promoted"]
    assert models.champion_version(MODEL_NAME) == before + 1
    worklist = built["marts/retention_targets"]
    assert worklist["missing_inputs"] == ["churn_scores", "customer_segments", "product_recommendations"]
    targets = warehouse.read_table("marts", "retention_targets")
    assert set(targets["churn_probability_source"]) == {VALUE_MODEL_SOURCE}
    assert targets["segment_name"].null_count() == targets.height
    assert targets["recommended_products"].list.len().max() == 0 and targets["top_reasons"].list.len().max() == 0
    value = warehouse.read_table("marts", "customer_value").join(targets, on="customer_id")
    assert np.allclose(value["churn_probability"], 1 - value["p_order"])
    assert set(targets["risk_level"]) <= {"Low", "Medium", "High"}


# --- pure rules -----------------------------------------------------------------------------------------


def _evaluation(value_mae: float, naive_value_mae: float = 10.0, customers: int = 100) -> dict:
    return {"customers": customers, "horizon_days": 90,
            "model": {"value_mae": value_mae, "orders_mae": value_mae / 10, "orders_aggregate_ratio": 1.0,
                      "orders_spearman": 0.5},
            "naive": {"value_mae": naive_value_mae, "orders_mae": naive_value_mae / 10,
                      "orders_aggregate_ratio": 1.5, "orders_spearman": 0.4}}


def test_promotion_rule():
    assert promotion_decision(_evaluation(8.0), None, 0.02).promote
    assert promotion_decision(_evaluation(8.0), _evaluation(1.0), 0.02, champion_error="boom").promote
    assert promotion_decision(_evaluation(8.1), _evaluation(8.0), 0.02).promote  # within 2%: newer data wins
    kept = promotion_decision(_evaluation(9.0), _evaluation(8.0), 0.02)
    assert not kept.promote and "worse" in kept.reason
    naive_loser = promotion_decision(_evaluation(11.0), _evaluation(11.5, naive_value_mae=12.0), 0.02)
    assert not naive_loser.promote and "naive" in naive_loser.reason
    with pytest.raises(ValueError, match="same holdout"):
        promotion_decision(_evaluation(8.0), _evaluation(8.0, customers=99), 0.02)


def test_worklist_from_value_alone():
    value = pl.DataFrame({"customer_id": ["a", "b", "c"], "expected_value": [100.0, 10.0, 50.0],
                          "clv_12m": [300.0, 30.0, 120.0], "p_alive": [0.9, 0.5, 0.2], "p_order": [0.9, 0.1, 0.2],
                          "horizon_days": [90, 90, 90], "model_version": [3, 3, 3]})
    churn = pl.DataFrame({"customer_id": ["a"], "churn_probability": [0.6], "risk_level": ["High"],
                          "top_reasons": [["no order in 80 days"]], "model_version": [7]})
    targets = build_targets(value, churn, None, None, dt.date(2026, 1, 1))
    assert targets["customer_id"].to_list() == ["a", "c", "b"]  # 60, 40, 9
    assert targets["churn_probability_source"].to_list() == ["churn_model", "value_model", "value_model"]
    assert targets["risk_level"].to_list() == ["High", "High", "High"]
    assert targets["top_reasons"].to_list() == [["no order in 80 days"], [], []]
    assert targets["churn_model_version"].to_list() == [7, None, None]


def test_knobs(monkeypatch):
    monkeypatch.setenv("CUSTOMER_ML_CHURN_WINDOW_DAYS", "60")
    monkeypatch.setenv("CUSTOMER_ML_VALUE_SEASONAL", "off")
    assert value_knobs() == ValueKnobs(horizon_days=60, seasonal="off")
    monkeypatch.setenv("CUSTOMER_ML_VALUE_SEASONAL", "sometimes")
    with pytest.raises(ValueError, match="CUSTOMER_ML_VALUE_SEASONAL"):
        value_knobs()
