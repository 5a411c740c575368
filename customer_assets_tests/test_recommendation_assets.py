"""Recommendation assets on a real built home: DuckDB warehouse, dbt, MLflow sqlite registry, Dagster runs."""

import datetime as dt
import json

import dagster as dg
import polars as pl
import pytest

from customer_assets.defs.recommendation.assets import (
    GATE_CHECK,
    MODEL_NAME,
    parse_exposure_cap,
)
from customer_assets.definitions import build_definitions
from customer_assets.ml.recommend import ExposureCap
from customer_assets.ml.recommend.recipes import fit_recipe, weighted_interactions
from customer_assets.mlops import registry
from customer_assets.warehouse.client import Warehouse
from customer_assets_tests.conftest import RECOMMEND_K, as_of_partition, copy_home, RegistryInUse

models = RegistryInUse()  # the registry of the home this module's fixtures chose

pytestmark = pytest.mark.slow

K = RECOMMEND_K  # the shared home is built with CUSTOMER_ML_RECOMMEND_K=K
WEAK = {"CUSTOMER_ML_RECOMMEND_ALGORITHM": "nmf",
        "CUSTOMER_ML_RECOMMEND_MODEL_PARAMS": json.dumps({"nmf": {"n_components": 1, "max_iter": 5}})}
SEEN_SQL = """
    SELECT DISTINCT o.customer_id, i.product_id
    FROM staging.stg_orders o JOIN staging.stg_order_items i ON i.order_id = o.order_id
    WHERE o.status = 'completed' AND o.order_date <= ?"""


@pytest.fixture(scope="module")
def built(shared_home, tmp_path_factory):
    """A private copy of the shared home (built with CUSTOMER_ML_RECOMMEND_K=K): these tests register champions
    and rescore the recommendations."""
    home = copy_home(shared_home, tmp_path_factory.mktemp("recommend") / "home")
    settings = home.settings
    models.use(settings)
    day = as_of_partition(settings)
    return settings, home.instance, home.results, day


def _warehouse(settings) -> Warehouse:
    return Warehouse(duckdb_path=settings.duckdb_path)


def _materializations(results, key: str) -> list[dict]:
    return [{k: v.value for k, v in e.event_specific_data.materialization.metadata.items()}
            for r in results for e in r.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key == dg.AssetKey.from_user_string(key)]


def _checks(results, key: str) -> dict:
    return {e.event_specific_data.check_name: e.event_specific_data for r in results for e in r.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.asset_key == dg.AssetKey.from_user_string(key)}


def _run(settings, instance, day, *keys) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def("build_marts")
    return job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False,
                                  asset_selection=[dg.AssetKey.from_user_string(k) for k in keys])


def _recommendations(settings, day) -> pl.DataFrame:
    return _warehouse(settings).read_table("marts", "product_recommendations", "as_of_date = ?", [day])


def test_tables_exist_with_the_documented_columns_and_checks_pass(built):
    settings, _, results, day = built
    assert all(r.success for r in results)
    recs = _recommendations(settings, day)
    assert recs.columns == ["customer_id", "as_of_date", "rank", "product_id", "score", "strategy", "model_version"]
    similar = _warehouse(settings).read_table("marts", "similar_products")
    assert similar.columns[:4] == ["product_id", "rank", "similar_product_id", "score"]
    assert set(similar.columns) == {"product_id", "rank", "similar_product_id", "score", "as_of_date",
                                    "model_version"}
    for key in ("recommendation_model", "marts/product_recommendations", "marts/similar_products"):
        checks = _checks(results, key)
        assert checks and all(c.passed for c in checks.values()), key
    assert set(recs["strategy"].unique()) <= {"collaborative", "content", "hybrid", "popular"}


def test_every_customer_gets_k_unbought_products(built):
    settings, _, _, day = built
    warehouse = _warehouse(settings)
    recs = _recommendations(settings, day)
    customers = warehouse.query("SELECT customer_id FROM marts.customer_features WHERE as_of_date = ?", [day])
    per_customer = recs.group_by("customer_id").agg(pl.len().alias("n"), pl.col("rank").sort().alias("ranks"),
                                                    pl.col("product_id").n_unique().alias("distinct"))
    assert per_customer.height == customers.height
    assert set(per_customer["customer_id"]) == set(customers["customer_id"])
    assert (per_customer["n"] == K).all() and (per_customer["distinct"] == K).all()
    assert all(r == list(range(1, K + 1)) for r in per_customer["ranks"].to_list())
    seen = warehouse.query(SEEN_SQL, [day])
    assert seen.height > 1000  # the exclusion below is tested against real purchase history
    assert recs.join(seen, on=["customer_id", "product_id"], how="semi").is_empty()
    # Within a customer, scores never increase with rank.
    ordered = recs.sort("customer_id", "rank")
    assert (ordered.group_by("customer_id").agg(pl.col("score").diff().max().alias("rise"))["rise"]
            .fill_null(0) <= 1e-9).all()


def test_customers_without_orders_get_their_countrys_popular_list(built):
    settings, _, _, day = built
    warehouse = _warehouse(settings)
    cold = warehouse.query("""
        SELECT f.customer_id, f.country FROM marts.customer_features f
        WHERE f.as_of_date = ? AND NOT EXISTS (SELECT 1 FROM staging.stg_orders o
                                              WHERE o.customer_id = f.customer_id AND o.status = 'completed')
        ORDER BY f.country, f.customer_id""", [day])
    assert cold.height > 10
    recs = _recommendations(settings, day).join(cold, on="customer_id")
    assert recs["customer_id"].n_unique() == cold.height
    assert (recs["strategy"] == "popular").all()
    lists = recs.sort("rank").group_by("customer_id", "country").agg(pl.col("product_id"))
    per_country = lists.group_by("country").agg(pl.col("product_id").unique().len().alias("lists"))
    assert (per_country["lists"] == 1).all()  # one list per country...
    if per_country.height > 1:  # ...and countries do not all share the global one
        assert lists.unique("country")["product_id"].list.join(",").n_unique() > 1


def test_model_is_registered_as_champion_and_the_decision_matches_the_metrics(built):
    settings, _, results, day = built
    (meta,) = _materializations(results, "recommendation_model")
    assert meta["challenger_promoted"] is True and meta["champion_score"] is None  # first model: no champion
    version = models.champion_version(MODEL_NAME)
    assert version == meta["serving_model_version"]
    assert set(_recommendations(settings, day)["model_version"]) == {version}
    model, loaded_version = models.load_champion(MODEL_NAME)
    assert loaded_version == version and model.report["as_of"] == day
    run = models.client.get_run(meta["mlflow_run_id"])
    assert run.data.metrics["ndcg_at_10"] == pytest.approx(meta["challenger_score"])
    assert run.data.metrics["ndcg_at_10"] > run.data.metrics["baseline.popularity.ndcg_at_10"]
    for name in ("precision_at_10", "recall_at_10", "map_at_10", "coverage", "rating_rmse",
                 "baseline.rating_global_mean.rmse"):
        assert name in run.data.metrics, name
    gate = _checks(results, "recommendation_model")[GATE_CHECK]
    assert gate.passed and gate.metadata["decision"].value["promoted"] is True
    # default exposure cap "auto": the choice, its rule and the validation sweep it was made on are recorded
    choice = meta["exposure_cap_choice"]
    assert choice["setting"] == "auto" and choice["chosen"] == model.report["recipe"]["exposure_cap"]
    assert choice["validation_sweep"] and "precision@10" in choice["rule"]
    chosen_tail = (choice["chosen"] or {}).get("tail", 0)
    assert chosen_tail in {row["tail"] for row in choice["validation_sweep"]}


def test_weak_challenger_leaves_the_champion_serving(built, monkeypatch):
    settings, instance, _, day = built
    before = models.champion_version(MODEL_NAME)
    for name, value in WEAK.items():
        monkeypatch.setenv(name, value)
    result = _run(settings, instance, day, "recommendation_model")
    assert result.success
    (meta,) = _materializations([result], "recommendation_model")
    assert meta["challenger_promoted"] is False
    assert meta["challenger_score"] < meta["champion_score"]
    assert "champion kept" in meta["decision_reason"]
    # The champion already knows history up to the as-of day, so it keeps serving as the same version.
    assert meta["registered_new_version"] is False
    assert models.champion_version(MODEL_NAME) == before == meta["serving_model_version"]
    run = models.client.get_run(meta["mlflow_run_id"])
    assert run.data.tags["registered"] == "false" and "champion kept" in run.data.tags["decision"]
    gate = _checks([result], "recommendation_model")[GATE_CHECK]
    assert gate.passed and gate.metadata["decision"].value["promoted"] is False
    assert gate.metadata["champion_metrics"].value["ndcg@10"] == pytest.approx(meta["champion_score"])


def test_stronger_challenger_replaces_a_weak_champion(built):
    settings, instance, _, day = built
    warehouse = _warehouse(settings)
    # Register a deliberately weak champion (rank-1 NMF) as if an earlier run had promoted it.
    lines = warehouse.query("""SELECT o.customer_id, i.product_id, i.quantity, o.order_ts AS ts
        FROM staging.stg_orders o JOIN staging.stg_order_items i ON i.order_id = o.order_id
        WHERE o.status = 'completed'""")
    products = warehouse.query("SELECT product_id, product_name AS name, category, description, price "
                               "FROM staging.stg_products")
    recipe = {"algorithm": "nmf", "model_params": {"nmf": {"n_components": 1, "max_iter": 5}},
              "new_product_weight": 0.0, "half_life_days": 180.0, "rating_weight": 0.0, "seed": 0}
    weak = fit_recipe(recipe, weighted_interactions(lines, lines[:0], lines["ts"].max(), recipe), products, K)
    weak.report.update({"recipe": recipe, "as_of": "2026-01-01"})
    weak_version = models.log_and_register(MODEL_NAME, weak, weak.report,
                                             registry.Decision(True, "test: weak champion", 0.0, None)).version
    assert models.champion_version(MODEL_NAME) == weak_version

    result = _run(settings, instance, day, "recommendation_model", "marts/product_recommendations")
    assert result.success
    (meta,) = _materializations([result], "recommendation_model")
    assert meta["challenger_promoted"] is True
    assert meta["challenger_score"] > meta["champion_score"]
    new_version = models.champion_version(MODEL_NAME)
    assert new_version == meta["serving_model_version"] > weak_version
    model, _ = models.load_champion(MODEL_NAME)
    assert model.report["recipe"]["algorithm"] != "nmf" and model.report["as_of"] == day
    assert set(_recommendations(settings, day)["model_version"]) == {new_version}


def test_rerunning_a_partition_replaces_it_without_duplicates(built):
    settings, instance, _, day = built
    warehouse = _warehouse(settings)
    counts = "SELECT count(*), count(DISTINCT customer_id || '|' || CAST(rank AS VARCHAR)) FROM marts.{}"
    before = warehouse.query(counts.format("product_recommendations")).row(0)
    similar_before = warehouse.query(counts.replace("customer_id", "product_id").format("similar_products")).row(0)
    for _ in range(2):
        assert _run(settings, instance, day, "marts/product_recommendations", "marts/similar_products").success
    after = warehouse.query(counts.format("product_recommendations")).row(0)
    similar_after = warehouse.query(counts.replace("customer_id", "product_id").format("similar_products")).row(0)
    assert before == after and after[0] == after[1]
    assert similar_before == similar_after and similar_after[0] == similar_after[1]


def test_similar_products_cover_the_catalog(built):
    settings, _, _, day = built
    warehouse = _warehouse(settings)
    similar = warehouse.read_table("marts", "similar_products", "as_of_date = ?", [day])
    catalog = warehouse.query("SELECT product_id FROM staging.stg_products")
    assert set(similar["product_id"]) == set(catalog["product_id"])
    assert (similar["product_id"] != similar["similar_product_id"]).all()
    assert similar.group_by("product_id").len()["len"].max() <= K
    assert similar["similar_product_id"].is_in(catalog["product_id"].implode()).all()


def test_exposure_cap_setting_is_validated():
    assert parse_exposure_cap("auto") == "auto" and parse_exposure_cap("off") is None
    assert parse_exposure_cap("4") == {"tail": 4, "fair_share": 1.0}
    assert parse_exposure_cap(" 3:2.5 ") == {"tail": 3, "fair_share": 2.5}
    for bad in ("-1", "three", "3:0", "3:x"):
        with pytest.raises(ValueError, match="CUSTOMER_ML_RECOMMEND_EXPOSURE_CAP"):
            parse_exposure_cap(bad)


def test_a_fixed_exposure_cap_travels_with_the_recipe_and_spreads_the_last_slots(built, monkeypatch):
    settings, instance, _, day = built
    # fair share 2: room for twice the tail slots, so (almost) no list runs out of candidates under the cap
    tail, head, share = 4, K - 4, 2.0
    monkeypatch.setenv("CUSTOMER_ML_RECOMMEND_EXPOSURE_CAP", f"{tail}:{share}")
    # A cap trades a little accuracy for reach, so it may lose on ndcg: serve it regardless for this test.
    monkeypatch.setenv("CUSTOMER_ML_RECOMMEND_PROMOTION_MARGIN", "-1")
    result = _run(settings, instance, day, "recommendation_model", "marts/product_recommendations")
    assert result.success
    (model_meta,) = _materializations([result], "recommendation_model")
    assert model_meta["challenger_promoted"] is True
    assert model_meta["serving_recipe"]["exposure_cap"] == {"tail": tail, "fair_share": share}
    assert model_meta["exposure_cap_choice"]["setting"] == {"tail": tail, "fair_share": share}
    model, version = models.load_champion(MODEL_NAME)
    assert model.report["recipe"]["exposure_cap"] == {"tail": tail, "fair_share": share}
    assert model.exposure == ExposureCap(tail, share)
    (recs_meta,) = _materializations([result], "marts/product_recommendations")
    assert recs_meta["exposure_cap"] == {"tail": tail, "fair_share": share}

    recs = _recommendations(settings, day)
    assert set(recs["model_version"]) == {version}
    assert (recs.group_by("customer_id").len()["len"] == K).all()
    served = recs["customer_id"].unique()
    warm_ids = served.filter(pl.Series(model.customers.lookup(served) >= 0))
    warm = recs.filter(pl.col("customer_id").is_in(warm_ids.implode()))
    cap = ExposureCap(tail, share).cap(warm_ids.len(), len(model.items))
    tail_exposure = warm.filter(pl.col("rank") > head).group_by("product_id").len()["len"]
    # The uncapped ranking of the same model, for the same customers, piles the last slots onto few items.
    model.exposure = None
    plain = model.recommend(warm_ids, k=K)
    plain_tail = plain.filter(pl.col("rank") > head).group_by("product_id").len()["len"]
    assert plain_tail.max() > cap
    assert tail_exposure.max() <= cap
    assert warm["product_id"].n_unique() > plain["product_id"].n_unique()
    # the head slots are the uncapped model's own best items
    first = warm.filter(pl.col("rank") <= head).sort("customer_id", "rank")
    assert first.select("customer_id", "product_id").equals(
        plain.filter(pl.col("rank") <= head).sort("customer_id", "rank").select("customer_id", "product_id"))


def test_a_champion_older_than_the_day_still_excludes_every_later_purchase(built):
    settings, instance, _, day = built
    warehouse = _warehouse(settings)
    lines = warehouse.query("""SELECT o.customer_id, i.product_id, i.quantity, o.order_ts AS ts
        FROM staging.stg_orders o JOIN staging.stg_order_items i ON i.order_id = o.order_id
        WHERE o.status = 'completed'""")
    products = warehouse.query("SELECT product_id, product_name AS name, category, description, price "
                               "FROM staging.stg_products")
    # A champion fitted 120 days before the partition day: it has never seen the purchases since.
    until = lines["ts"].max() - dt.timedelta(days=120)
    recipe = {"algorithm": "itemknn", "model_params": {}, "new_product_weight": 0.0, "half_life_days": 180.0,
              "rating_weight": 0.0, "seed": 0, "exposure_cap": {"tail": 4, "fair_share": 2.0}}
    old = fit_recipe(recipe, weighted_interactions(lines.filter(pl.col("ts") <= until), lines[:0], until, recipe), products, K)
    old.report.update({"recipe": recipe, "as_of": str(until.date())})
    version = models.log_and_register(MODEL_NAME, old, old.report,
                                        registry.Decision(True, "test: older champion", 0.0, None)).version
    seen = warehouse.query(SEEN_SQL, [day])
    later = seen.join(old.seen_pairs(seen["customer_id"].unique()), on=["customer_id", "product_id"], how="anti")
    assert later.height > 100  # the exclusion below is tested against purchases the model never saw

    result = _run(settings, instance, day, "marts/product_recommendations")
    assert result.success and all(c.passed for c in _checks([result], "marts/product_recommendations").values())
    recs = _recommendations(settings, day)
    assert set(recs["model_version"]) == {version}
    assert recs.join(seen, on=["customer_id", "product_id"], how="semi").is_empty()
    per_customer = recs.group_by("customer_id").agg(pl.len().alias("n"), pl.col("rank").sort().alias("ranks"))
    assert (per_customer["n"] == K).all()
    assert all(r == list(range(1, K + 1)) for r in per_customer["ranks"].to_list())
    # the capped last slots survive: the model was asked for exactly k items per customer
    (meta,) = _materializations([result], "marts/product_recommendations")
    assert meta["exposure_cap"] == {"tail": 4, "fair_share": 2.0}


def test_popularity_itself_serves_when_the_fitted_recipe_does_not_beat_it(shared_home, tmp_path_factory,
                                                                          monkeypatch):
    """When the fitted recipe loses to popularity on the holdout, popularity is the challenger: it is registered,
    takes the champion alias (nothing serves yet), passes the gate as the baseline itself, and every customer's
    list is the popular one."""
    import customer_assets.defs.recommendation.assets as assets

    home = copy_home(shared_home, tmp_path_factory.mktemp("recommend_popularity") / "home")
    settings, day = home.settings, as_of_partition(home.settings)
    models.use(settings)
    models.client.delete_registered_model_alias(MODEL_NAME, "champion")
    real_evaluate = assets.evaluate_recipe

    def fitted_recipes_lose(recipe, split, k):
        model, evaluation = real_evaluate(recipe, split, k)
        if recipe["algorithm"] != assets.POPULARITY:  # the fitted recipe scores half of popularity
            evaluation = {**evaluation, "model": {m: v * 0.5 if "@" in m else v
                                                  for m, v in evaluation["popularity"].items()}}
        return model, evaluation

    monkeypatch.setattr(assets, "evaluate_recipe", fitted_recipes_lose)
    result = _run(settings, home.instance, day, "recommendation_model", "marts/product_recommendations")
    assert result.success
    (meta,) = _materializations([result], "recommendation_model")
    assert "does not beat popularity" in meta["challenger_note"]
    assert meta["challenger_recipe"]["algorithm"] == assets.POPULARITY and meta["challenger_promoted"] is True
    gate = _checks([result], "recommendation_model")[GATE_CHECK]
    assert gate.passed and "popularity itself" in gate.metadata["vs_baseline"].value
    model, version = models.load_champion(MODEL_NAME)
    assert model.collaborative is None and model.report["recipe"]["algorithm"] == assets.POPULARITY
    recommendations = _recommendations(settings, day)
    assert recommendations.height > 0 and set(recommendations["strategy"]) == {"popular"}
    assert set(recommendations["model_version"]) == {version}
