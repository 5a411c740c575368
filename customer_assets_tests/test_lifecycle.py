"""The shared champion / challenger lifecycle: one rule, one gate check name, one metadata schema."""

import math
import pickle
import sys
import types

import dagster as dg
import pytest

from customer_assets.mlops import lifecycle, registry
from customer_assets_tests.conftest import make_settings

SHARED_KEYS = {"metric", "serving_version", "serving_score", "baselines", "vs_baseline", "decision"}


def test_decide_follows_one_rule_in_both_directions():
    first = lifecycle.decide("roc_auc", 0.7, None, champion_exists=False)
    assert first.promote and "no champion yet" in first.reason
    broken = lifecycle.decide("roc_auc", 0.6, None, champion_exists=True, champion_error="v3 cannot be loaded: X")
    assert broken.promote and "v3 cannot be loaded" in broken.reason
    silent = lifecycle.decide("silhouette", 0.3, float("nan"), champion_exists=True)
    assert silent.promote and "no finite silhouette" in silent.reason
    assert lifecycle.decide("roc_auc", 0.80, 0.79, champion_exists=True, margin=0.005).promote
    kept = lifecycle.decide("roc_auc", 0.792, 0.79, champion_exists=True, margin=0.005)
    assert not kept.promote and "champion kept" in kept.reason
    assert lifecycle.decide("mae", 0.8, 0.9, champion_exists=True, higher_is_better=False).promote
    assert not lifecycle.decide("mae", 0.9, 0.8, champion_exists=True, higher_is_better=False).promote


def test_a_champion_that_cannot_score_is_reported_not_raised():
    champion = lifecycle.ChampionState(model=object(), version=4)

    def evaluate(model):
        raise KeyError("recency_days")

    evaluation, error = lifecycle.evaluate_champion(champion, evaluate)
    assert evaluation is None and error.startswith("v4 cannot score the current rows: KeyError")
    assert lifecycle.evaluate_champion(lifecycle.ChampionState(None, None), evaluate) == (None, None)
    assert lifecycle.evaluate_champion(champion, lambda model: {"roc_auc": 0.7}) == ({"roc_auc": 0.7}, None)


class Vanishing:  # a model class that is gone by the time the champion is loaded again
    def predict(self, frame):
        return frame


def test_an_unloadable_champion_is_an_error_naming_its_version(tmp_path, monkeypatch):
    settings = make_settings(tmp_path / "home")
    models = registry.ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    assert not lifecycle.load_champion(models, "vanishing_test").exists
    module = types.ModuleType("vanishing_module")
    module.Vanishing = type("Vanishing", (Vanishing,), {"__module__": "vanishing_module"})
    monkeypatch.setitem(sys.modules, "vanishing_module", module)
    model = module.Vanishing()
    pickle.dumps(model)  # picklable while its module exists
    decision = registry.Decision(True, "first", 1.0, None)
    logged = models.log_and_register("vanishing_test", model, {"metrics": {}}, decision)
    assert lifecycle.load_champion(models, "vanishing_test").model is not None
    monkeypatch.delitem(sys.modules, "vanishing_module")
    state = lifecycle.load_champion(models, "vanishing_test")
    assert state.exists and state.model is None and state.version == logged.version
    assert state.error.startswith(f"v{logged.version} cannot be loaded")
    replaced = lifecycle.decide("mae", 1.0, None, champion_exists=state.exists, champion_error=state.error)
    assert replaced.promote and "cannot be loaded" in replaced.reason


def test_gate_check_has_one_name_and_schema():
    decision = lifecycle.decide("ndcg@10", 0.30, None, champion_exists=False)
    good = lifecycle.gate_check(metric="ndcg@10", higher_is_better=True, serving_version=2, serving_score=0.30,
                                baselines={"popularity": 0.12}, decision=decision, extra={"domain_key": 1})
    assert good.check_name == lifecycle.GATE_CHECK and good.passed and good.severity == dg.AssetCheckSeverity.WARN
    assert SHARED_KEYS | {"domain_key"} <= set(good.metadata)
    assert good.metadata["decision"].value["promoted"] is True and good.metadata["serving_version"].value == 2
    worse = lifecycle.gate_check(metric="mae", higher_is_better=False, serving_version=2, serving_score=1.2,
                                 baselines={"naive": 1.0}, decision=decision)
    assert not worse.passed and "does not beat" in worse.description
    nothing = lifecycle.gate_check(metric="mae", higher_is_better=False, serving_version=None, serving_score=None,
                                   baselines={"naive": 1.0}, decision=None)
    assert not nothing.passed and nothing.metadata["serving_version"].value == lifecycle.NO_VERSION
    assert math.isnan(nothing.metadata["serving_score"].value)


def test_every_training_asset_carries_the_shared_gate(settings):
    from customer_assets.definitions import build_definitions

    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    checks = {key.asset_key.to_user_string(): key.name for key in graph.asset_check_keys}
    gated = {asset for asset, name in [(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys]
             if name == lifecycle.GATE_CHECK}
    training = {"churn_model", "segmentation_model", "recommendation_model", "sentiment_model", "value_model"}
    assert training <= gated, (training - gated, checks)
