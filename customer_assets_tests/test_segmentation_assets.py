"""Segmentation in the asset graph: real DuckDB file, real dbt, real MLflow registry, one built home."""

import datetime as dt
import hashlib

import dagster as dg
import polars as pl
import pytest

from customer_assets.defs.segmentation import assets as seg
from customer_assets.defs.policies import daily_partitions
from customer_assets.defs.resources import build_resources
from customer_assets.ml.segmentation import OUTLIER_NAME, SEGMENT_NAMES, SegmentModel
from customer_assets.warehouse.client import Warehouse
from customer_assets_tests.conftest import SMALL_SEGMENTATION_KNOBS, as_of_partition, copy_home, RegistryInUse

models = RegistryInUse()  # the registry of the home this module's fixtures chose

pytestmark = pytest.mark.slow

SMALL_KNOBS = SMALL_SEGMENTATION_KNOBS  # the shared home is built with them too


@pytest.fixture(scope="module")
def knobs_env():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SMALL_KNOBS.items():
            patch.setenv(name, value)
        patch.delenv("CUSTOMER_ML_SEGMENTATION_PROMOTION_MARGIN", raising=False)
        yield patch


@pytest.fixture(scope="module")
def segmentation_home(shared_home, tmp_path_factory, knobs_env):
    """A private copy of the shared home: these tests retrain and craft partitions."""
    return copy_home(shared_home, tmp_path_factory.mktemp("segmentation") / "home")


def _use(home) -> tuple:
    settings = home.settings
    models.use(settings)
    return settings, home.instance, home.results, dt.date.fromisoformat(as_of_partition(settings))


@pytest.fixture
def built(segmentation_home):
    """The module's copy (its registry is the configured one): read, retrained without promotion, or given a
    crafted partition that the test removes again."""
    return _use(segmentation_home)


@pytest.fixture
def promoted(shared_home, tmp_path, knobs_env):
    """A copy of its own for the test that promotes a new champion: the others assert version 1 serves."""
    return _use(copy_home(shared_home, tmp_path / "home"))


def warehouse_of(settings) -> Warehouse:
    return Warehouse(duckdb_path=settings.duckdb_path, url=settings.warehouse_url)


def materialize(settings, instance, names: list[str], partition_key: str | None = None):
    assets = seg.build_segmentation_assets(daily_partitions(settings))
    selected = [a for a in assets if a.key.to_user_string().split("/")[-1] in names]
    return dg.materialize(assets, selection=selected, partition_key=partition_key, instance=instance,
                          resources=build_resources(settings), raise_on_error=False)


def evaluations(results, check_name: str) -> list:
    """This domain's evaluations of a check (every training asset has a `champion_gate`: keep segmentation's)."""
    return [e.event_specific_data for r in results for e in r.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == check_name
            and (check_name != seg.GATE_CHECK
                 or e.event_specific_data.asset_key == dg.AssetKey("segmentation_model"))]


def training_metadata(result) -> dict:
    [materialization] = result.asset_materializations_for_node("segmentation_model")
    return {k: v.value for k, v in materialization.metadata.items()}


def assert_decision_follows_the_rule(decision: dict) -> None:
    """promoted == the challenger's holdout silhouette beats the champion's by more than the margin."""
    if decision["champion_score"] is None:
        assert decision["promoted"]
        return
    gain = decision["challenger_score"] - decision["champion_score"]
    assert decision["promoted"] == (gain > decision["margin"]), decision
    assert ("champion kept" in decision["reason"]) == (not decision["promoted"])


def test_graph_builds_segment_tables_with_one_row_per_customer(built):
    settings, _, results, as_of = built
    assert all(r.success for r in results)
    warehouse = warehouse_of(settings)
    customers = warehouse.query("SELECT customer_id FROM marts.customer_features WHERE as_of_date = ?", [as_of])
    assert customers.height == settings.synthetic_customers  # every synthetic customer has features

    segments = warehouse.read_table("marts", "customer_segments", "as_of_date = ?", [as_of])
    assert tuple(segments.columns) == seg.SEGMENT_COLUMNS
    assert segments.height == segments["customer_id"].n_unique() == customers.height
    assert set(segments["customer_id"]) == set(customers["customer_id"])
    assert set(segments["segment_name"]) <= {*SEGMENT_NAMES, OUTLIER_NAME}
    assert segments["segment_name"].n_unique() >= 3
    assert segments["model_version"].unique().to_list() == [models.champion_version(seg.MODEL_NAME)]

    profiles = warehouse.read_table("marts", "segment_profiles", "as_of_date = ?", [as_of])
    assert profiles.columns[:5] == ["as_of_date", "segment_id", "segment_name", "size", "share"]
    assert {"mean_monetary", "median_monetary", "mean_recency_days", "median_engagement_score"} <= set(profiles.columns)
    assert profiles["size"].sum() == customers.height and profiles["share"].sum() == pytest.approx(1.0)
    expected_sizes = segments.group_by("segment_id").len().sort("segment_id")
    assert profiles.sort("segment_id")["size"].to_list() == expected_sizes["len"].to_list()

    embedding = warehouse.read_table("marts", "customer_embedding", "as_of_date = ?", [as_of])
    assert tuple(embedding.columns) == seg.EMBEDDING_COLUMNS
    assert embedding.height == embedding["customer_id"].n_unique() == customers.height
    assert embedding["pca_x"].null_count() == 0 and embedding["pca_y"].null_count() == 0
    assert embedding.height - embedding["tsne_x"].null_count() == 150
    names = embedding.join(segments, on="customer_id").select("segment_name", "segment_name_right")
    assert (names["segment_name"] == names["segment_name_right"]).all()

    for check in (seg.GATE_CHECK, seg.STABILITY_CHECK, seg.SHARE_CHECK, seg.SHIFT_CHECK):
        [evaluation] = evaluations(results, check)
        assert evaluation.passed, check
    plots = settings.home / "plots" / "segmentation"
    for name in (f"segment_sizes_over_time_{as_of}.png", f"scatter_pca_{as_of}.png", f"scatter_tsne_{as_of}.png",
                 f"segment_profiles_{as_of}.png"):
        assert (plots / name).stat().st_size > 5_000, name


def test_model_registered_as_champion_with_comparison_and_plots(built):
    settings, _, results, as_of = built
    assert models.champion_version(seg.MODEL_NAME) == 1
    model, version = models.load_champion(seg.MODEL_NAME)
    assert isinstance(model, SegmentModel) and version == 1
    features = seg.read_features(warehouse_of(settings), as_of)
    table = warehouse_of(settings).read_table("marts", "customer_segments", "as_of_date = ?", [as_of])
    reassigned = model.assign(features).join(table, on="customer_id")
    assert (reassigned["segment_name"] == reassigned["segment_name_right"]).all()

    [materialization] = [m for r in results for m in r.asset_materializations_for_node("segmentation_model")]
    metadata = materialization.metadata
    assert "| kmeans |" in metadata["comparison"].value and "| dbscan |" in metadata["comparison"].value
    assert metadata["decision"].value["promoted"] is True

    client = models.client
    run_id = metadata["mlflow_run_id"].value
    run = client.get_run(run_id)
    assert run.data.params["chosen_algorithm"] == metadata["chosen_algorithm"].value
    assert "holdout.silhouette" in run.data.metrics and "stability_ari" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run_id)} | {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {"report.json", "comparison.json"} <= artifacts
    assert sum(p.endswith(".png") for p in artifacts) == 2
    assert client.get_model_version(seg.MODEL_NAME, "1").tags["decision"].startswith("no champion yet")


def test_holdout_is_a_stable_hash_of_the_customer_id(built):
    settings, _, _, as_of = built
    features = seg.read_features(warehouse_of(settings), as_of)
    expected = [int(hashlib.md5(c.encode()).hexdigest()[:8], 16) % 100 for c in features["customer_id"][:50]]
    assert features["holdout_bucket"][:50].to_list() == expected
    assert 0.04 < (features["holdout_bucket"] < 10).mean() < 0.16


def test_second_training_on_the_same_data_keeps_the_champion(built):
    settings, instance, _, _ = built
    result = materialize(settings, instance, ["segmentation_model"])
    assert result.success
    decision = training_metadata(result)["decision"]
    assert decision["champion_score"] == pytest.approx(decision["challenger_score"])
    assert decision["promoted"] is False and decision["serving_version"] == 1
    assert_decision_follows_the_rule(decision)
    assert models.champion_version(seg.MODEL_NAME) == 1
    [gate] = evaluations([result], seg.GATE_CHECK)
    assert gate.passed and gate.metadata["decision"].value["serving_version"] == 1


def test_negative_margin_promotes_and_rescoring_replaces_the_partition(promoted, knobs_env):
    settings, instance, _, as_of = promoted
    knobs_env.setenv("CUSTOMER_ML_SEGMENTATION_PROMOTION_MARGIN", "-1")
    try:
        trained = materialize(settings, instance, ["segmentation_model"])
    finally:
        knobs_env.delenv("CUSTOMER_ML_SEGMENTATION_PROMOTION_MARGIN")
    assert trained.success
    decision = training_metadata(trained)["decision"]
    assert decision["promoted"] is True
    assert_decision_follows_the_rule(decision)
    new_champion = models.champion_version(seg.MODEL_NAME)
    assert new_champion == decision["challenger_version"] > 1

    warehouse = warehouse_of(settings)
    totals = "SELECT count(*), count(DISTINCT customer_id) FROM marts.{} WHERE as_of_date = ?"
    before = {t: warehouse.query(totals.format(t), [as_of]).row(0) for t in ("customer_segments", "customer_embedding")}
    for _ in range(2):
        scored = materialize(settings, instance, ["customer_segments", "segment_profiles", "customer_embedding"],
                             partition_key=as_of.isoformat())
        assert scored.success
    for table, counts in before.items():
        assert warehouse.query(totals.format(table), [as_of]).row(0) == counts
    assert warehouse.scalar("SELECT count(DISTINCT as_of_date) FROM marts.customer_segments") == 1
    versions = warehouse.query("SELECT DISTINCT model_version FROM marts.customer_segments WHERE as_of_date = ?",
                               [as_of])
    assert versions["model_version"].to_list() == [new_champion]
    profile_rows = warehouse.scalar("SELECT count(*) FROM marts.segment_profiles WHERE as_of_date = ?", [as_of])
    assert profile_rows == warehouse.scalar(
        "SELECT count(DISTINCT segment_id) FROM marts.customer_segments WHERE as_of_date = ?", [as_of])


def test_share_shift_warns_against_a_crafted_previous_partition(built):
    settings, instance, _, as_of = built
    warehouse = warehouse_of(settings)
    previous_day = as_of - dt.timedelta(days=1)
    current = warehouse.read_table("marts", "customer_segments", "as_of_date = ?", [as_of])
    everyone_inactive = current.with_columns(as_of_date=pl.lit(previous_day), segment_id=pl.lit(0, pl.Int32),
                                             segment_name=pl.lit("Inactive"))
    warehouse.replace_partitions("marts", "customer_segments", everyone_inactive, "as_of_date", previous_day,
                                 previous_day)
    try:
        result = materialize(settings, instance, ["customer_segments"], partition_key=as_of.isoformat())
    finally:
        warehouse.execute("DELETE FROM marts.customer_segments WHERE as_of_date = ?", [previous_day])
    assert result.success  # a warning, not a failure
    [shift] = evaluations([result], seg.SHIFT_CHECK)
    assert not shift.passed and shift.severity == dg.AssetCheckSeverity.WARN
    moved = {row["segment_name"] for row in shift.metadata["shifts"].value}
    assert "Inactive" in moved and len(moved) == current["segment_name"].n_unique()


def test_share_check_fails_on_a_crafted_table():
    labels = pl.DataFrame({
        "customer_id": [f"c{i}" for i in range(200)],
        "segment_id": [0] * 100 + [1] * 97 + [2] * 3,
        "segment_name": ["Inactive"] * 100 + ["Low Value"] * 97 + ["Premium"] * 3,
    })
    failed = seg.segment_share_check(labels, min_share=0.02)
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.WARN
    assert [v["segment_name"] for v in failed.metadata["violations"].value] == ["Premium"]
    assert seg.segment_share_check(labels, min_share=0.01).passed
    # DBSCAN noise is not a segment: a small Outlier group never fails the check.
    noisy = labels.with_columns(segment_id=pl.when(pl.col("segment_id") == 2).then(-1).otherwise(pl.col("segment_id")),
                                segment_name=pl.col("segment_name").replace("Premium", OUTLIER_NAME))
    assert seg.segment_share_check(noisy, min_share=0.02).passed


def _evaluation(silhouette: float, baseline: float) -> dict:
    return {"algorithm": "kmeans", "primary_metric": "silhouette", "primary_metric_higher_is_better": True,
            "metrics": {"silhouette": silhouette}, "baseline": {"silhouette": baseline}}


def test_promotion_rule_vetoes_an_unstable_or_baseline_losing_challenger():
    strong, champion = _evaluation(0.50, 0.20), _evaluation(0.40, 0.20)
    assert seg.promotion_decision(strong, champion, 0.95, margin=0.01).promote
    assert not seg.promotion_decision(_evaluation(0.405, 0.2), champion, 0.95, margin=0.01).promote
    unstable = seg.promotion_decision(strong, champion, 0.55, margin=0.01)
    assert not unstable.promote and "stability" in unstable.reason
    below_baseline = seg.promotion_decision(_evaluation(0.50, 0.60), champion, 0.95, margin=0.01)
    assert not below_baseline.promote and "baseline" in below_baseline.reason
    assert seg.promotion_decision(_evaluation(0.10, 0.60), None, 0.30, margin=0.01).promote  # nothing serves yet
    assert seg.promotion_decision(strong, None, 0.95, margin=0.01, champion_error="column gone").promote
