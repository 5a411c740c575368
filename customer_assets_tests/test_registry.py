"""MLflow registry helpers against real sqlite tracking stores."""

import os
from pathlib import Path

import mlflow

from customer_assets.mlops import registry
from customer_assets.mlops.registry import Decision, ModelRegistry
from customer_assets_tests.conftest import make_settings


def _registry(settings) -> ModelRegistry:
    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)


def test_two_homes_side_by_side_share_no_process_state(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    environ, global_uri = dict(os.environ), mlflow.get_tracking_uri()
    first, second = make_settings(tmp_path / "a"), make_settings(tmp_path / "b")
    assert first.mlflow_tracking_uri != second.mlflow_tracking_uri
    a, b = _registry(first), _registry(second)
    logged = a.log_and_register("twin_test", Doubler(), {"metrics": {"mae": 0.0}}, Decision(True, "a", 0.0, None))
    assert a.champion_version("twin_test") == logged.version and b.champion_version("twin_test") is None
    assert a.load_champion("twin_test")[1] == logged.version and b.load_champion("twin_test") is None
    # Neither registry set MLflow's process-wide tracking URI or any variable a later home would read.
    assert mlflow.get_tracking_uri() == global_uri and dict(os.environ) == environ
    assert make_settings(tmp_path / "b").mlflow_tracking_uri == second.mlflow_tracking_uri


def test_a_tracking_uri_chosen_by_the_user_is_kept(tmp_path, monkeypatch):
    chosen = f"sqlite:///{tmp_path / 'chosen.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", chosen)
    settings = make_settings(tmp_path / "home")
    assert settings.mlflow_tracking_uri == chosen
    assert _registry(settings).client.tracking_uri == chosen and os.environ["MLFLOW_TRACKING_URI"] == chosen


class Doubler:  # module level: a pickled model's class must be importable
    def predict(self, frame):
        return frame["x"].to_numpy() * 2


def test_a_logged_version_carries_no_package_copy_and_loads_through_pyfunc(tmp_path):
    import numpy as np
    import pandas as pd

    models = _registry(make_settings(tmp_path / "home"))
    decision = Decision(True, "first version", 1.0, None)
    logged = models.log_and_register("doubler_test", Doubler(), {"metrics": {"mae": 0.0}}, decision)
    version = models.client.get_model_version("doubler_test", str(logged.version))
    assert version.tags[registry.PACKAGE_TAG] == registry.PACKAGE_VERSION != ""
    source = models.client.get_model_version_download_uri("doubler_test", str(logged.version))
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp_path / "download")))
    assert not (local / "code").exists(), sorted(p.name for p in local.iterdir())
    loaded = mlflow.pyfunc.load_model(str(local))
    np.testing.assert_array_equal(loaded.predict(pd.DataFrame({"x": [1.0, 2.5]})), [2.0, 5.0])
    assert models.champion_version("doubler_test") == logged.version
