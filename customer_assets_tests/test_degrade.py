"""Degrade, never collapse: a model that cannot train leaves every output that does not need it built.

A real home (DuckDB, dbt, MLflow, Dagster runs) whose churn model cannot train (an unknown model family is
configured): the run still succeeds, churn is reported as degraded in the metadata, the checks and the
`make run` summary, customer_360 / online_snapshot / drift / monitoring are built with churn missing, and the
live service (a real `bentoml serve` on 127.0.0.1) is ready with the other models and names the missing one.
"""

import dagster as dg
import httpx
import pytest

from customer_assets.cli import run_all, summary
from customer_assets.warehouse.client import Warehouse
from customer_assets_tests.conftest import make_settings, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def degraded_home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUSTOMER_ML_CHURN_FAMILIES", "no_such_family")
        settings = make_settings(tmp_path_factory.mktemp("degraded") / "home", synthetic_customers=600)
        results = run_all(settings, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    return settings, results


def _materializations(results) -> dict:
    out = {}
    for result in results:
        for event in result.all_events:
            if event.event_type_value == "ASSET_MATERIALIZATION":
                m = event.event_specific_data.materialization
                out[m.asset_key.to_user_string()] = {k: v.value for k, v in m.metadata.items()}
    return out


def test_a_model_that_cannot_train_degrades_and_everything_else_builds(degraded_home):
    settings, results = degraded_home
    assert all(r.success for r in results)
    built = _materializations(results)
    assert "unknown families" in built["churn_model"]["degraded"]
    assert "degraded" in built["marts/churn_scores"]
    for independent in ("marts/customer_segments", "marts/product_recommendations", "marts/review_sentiment",
                        "online_snapshot", "marts/customer_360", "marts/drift_report", "marts/model_monitoring",
                        "marts/customer_value", "marts/retention_targets"):
        assert independent in built and "degraded" not in built[independent], independent
    assert "churn_scores" in built["online_snapshot"]["missing_tables"]
    gate = next(e.event_specific_data for r in results for e in r.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "champion_gate"
                and e.event_specific_data.asset_key == dg.AssetKey("churn_model"))
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.WARN

    warehouse = Warehouse(duckdb_path=settings.duckdb_path)
    assert not warehouse.table_exists("marts", "churn_scores")
    wide = warehouse.read_table("marts", "customer_360")
    assert wide.height == 600 and wide["churn_probability"].null_count() == 600
    assert wide["segment_name"].null_count() == 0
    # The worklist still ranks by value at risk, on the value model's own P(no order in the window).
    targets = warehouse.read_table("marts", "retention_targets")
    assert targets.height > 0 and set(targets["churn_probability_source"]) == {"value_model"}
    assert targets["churn_model_version"].null_count() == targets.height

    text = summary(results, settings)
    assert "Degraded" in text and "churn_model: SettingsError: CUSTOMER_ML_CHURN_FAMILIES" in text
    assert "Failed" not in text


def test_the_service_is_ready_with_the_models_it_has_and_names_the_missing_one(degraded_home, tmp_path):
    settings, _ = degraded_home
    with serving(settings.home, tmp_path / "server.log") as url:
        with httpx.Client(base_url=url, timeout=15.0) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200
            body = ready.json()
            assert body["missing_models"] == ["churn_model"]
            assert set(body["served_models"]) == {"customer_segmentation", "product_recommender", "review_sentiment",
                                                  "customer_value_model"}
            churn = client.post("/predict/churn", json={"customer_id": "C0000001"})
            assert 400 <= churn.status_code < 500 or churn.status_code == 503
            assert "churn" in churn.text
            segment = client.post("/predict/segment", json={"customer_id": "C0000001"})
            assert segment.status_code == 200
