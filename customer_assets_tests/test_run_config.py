"""Per-run knobs in the launchpad: the run config of a model asset overrides its setting for that run only."""

import dagster as dg
import pytest

from customer_assets.definitions import build_definitions
from customer_assets.models import MODELS
from customer_assets_tests.conftest import as_of_partition, copy_home


@pytest.fixture(scope="module")
def home(shared_home, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUSTOMER_ML_CHURN_SEARCH_SECONDS", "0")  # the settings of these runs: no random search
        yield copy_home(shared_home, tmp_path_factory.mktemp("run_config") / "home")


def _materialization(result, key: str) -> dict:
    (event,) = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
                and e.asset_key == dg.AssetKey.from_user_string(key)]
    return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}


def _train_churn(home, config: dict) -> dg.ExecuteInProcessResult:
    job = build_definitions(home.settings).resolve_job_def("build_marts")
    return job.execute_in_process(
        instance=home.instance, partition_key=as_of_partition(home.settings), raise_on_error=False,
        asset_selection=[dg.AssetKey("churn_model")], run_config={"ops": {"churn_model": {"config": config}}})


def test_every_training_asset_shows_its_knobs_in_the_launchpad_defaulting_to_the_setting(home):
    defs = build_definitions(home.settings)
    for model in MODELS:
        schema = defs.resolve_assets_def(model.training_key).op.config_schema
        fields = schema.config_type.fields
        assert fields, model.name
        for name, field in fields.items():
            assert not field.is_required and field.default_value is None, (model.name, name)
            assert "CUSTOMER_ML_" in field.description, (model.name, name)  # names the setting it overrides
    churn = defs.resolve_assets_def(dg.AssetKey("churn_model")).op.config_schema.config_type.fields
    assert {"search_seconds", "families", "promotion_margin"} <= set(churn)


def test_a_run_config_value_is_used_by_that_run_only(home):
    result = _train_churn(home, {"families": "logistic", "n_splits": 3})
    assert result.success
    tuned = _materialization(result, "churn_model")
    assert "degraded" not in tuned, tuned.get("degraded")
    assert tuned["chosen_family"] == "logistic"
    assert "random_forest" not in tuned["comparison_table"]

    # The next run without config is back on the settings: every family compared again.
    plain = _materialization(_train_churn(home, {}), "churn_model")
    assert "degraded" not in plain
    compared = plain["comparison_table"]
    assert all(family in compared for family in ("logistic", "random_forest", "xgboost", "lightgbm")), compared


def test_a_bad_run_config_value_is_refused_naming_the_asset_and_knob(home):
    before = _materialization(_train_churn(home, {"n_splits": 1}), "churn_model")
    assert before["written"] is False
    assert "run config of churn_model n_splits" in before["degraded"] and "minimum 2" in before["degraded"]
    unknown = _materialization(_train_churn(home, {"families": "logistic,quantum"}), "churn_model")
    assert "unknown families ['quantum']" in unknown["degraded"]
