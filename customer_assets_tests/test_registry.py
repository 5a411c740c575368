"""MLflow registry helpers against real sqlite tracking stores."""

import os
from pathlib import Path

import mlflow

from customer_assets.mlops import registry
from customer_assets_tests.conftest import make_settings


def test_configuring_one_home_does_not_leak_into_the_next(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first, second = make_settings(tmp_path / "a"), make_settings(tmp_path / "b")
    assert first.mlflow_tracking_uri != second.mlflow_tracking_uri
    registry.configure(first.mlflow_tracking_uri, first.mlflow_artifact_root)
    assert "MLFLOW_TRACKING_URI" not in os.environ
    # Settings built after the first home was configured still point at their own home.
    assert make_settings(tmp_path / "b").mlflow_tracking_uri == second.mlflow_tracking_uri
    registry.configure(second.mlflow_tracking_uri, second.mlflow_artifact_root)
    assert mlflow.get_tracking_uri() == second.mlflow_tracking_uri


def test_a_tracking_uri_chosen_by_the_user_is_kept(tmp_path, monkeypatch):
    chosen = f"sqlite:///{tmp_path / 'chosen.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", chosen)
    settings = make_settings(tmp_path / "home")
    assert settings.mlflow_tracking_uri == chosen
    registry.configure(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    assert os.environ["MLFLOW_TRACKING_URI"] == chosen and mlflow.get_tracking_uri() == chosen


class Doubler:  # module level: a pickled model's class must be importable
    def predict(self, frame):
        return frame["x"].to_numpy() * 2


def test_a_logged_version_carries_no_package_copy_and_loads_through_pyfunc(tmp_path):
    import numpy as np
    import pandas as pd

    settings = make_settings(tmp_path / "home")
    registry.configure(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)

    decision = registry.Decision(True, "first version", 1.0, None)
    logged = registry.log_and_register("doubler_test", Doubler(), {"metrics": {"mae": 0.0}}, decision)
    client = registry.MlflowClient()
    version = client.get_model_version("doubler_test", str(logged.version))
    assert version.tags[registry.PACKAGE_TAG] == registry.PACKAGE_VERSION != ""
    local = Path(mlflow.artifacts.download_artifacts(f"models:/doubler_test/{logged.version}"))
    assert not (local / "code").exists(), sorted(p.name for p in local.iterdir())
    loaded = mlflow.pyfunc.load_model(f"models:/doubler_test/{logged.version}")
    np.testing.assert_array_equal(loaded.predict(pd.DataFrame({"x": [1.0, 2.5]})), [2.0, 5.0])
    assert registry.champion_version("doubler_test") == logged.version
