"""MLflow registry helpers against real sqlite tracking stores."""

import os

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
