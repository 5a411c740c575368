"""Review analytics wired into the graph: real DuckDB file, real dbt, real MLflow sqlite registry."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from customer_assets.definitions import build_definitions
from customer_assets.defs.review import assets as ra
from customer_assets.defs.resources import MlflowResource, WarehouseResource
from customer_assets.ml.text.promotion import labelled_reviews, training_skip_reason
from customer_assets.ml.text.review_tables import customer_sentiment_as_of
from customer_assets.mlops import registry
from customer_assets.warehouse.client import Warehouse
from customer_assets_tests.conftest import SMALL_TOPICS, RegistryInUse, as_of_partition, copy_home

models = RegistryInUse()  # the registry of the home this module's fixtures chose

pytestmark = pytest.mark.slow

REVIEW_TABLE_KEYS = [ra.TOPICS_KEY, ra.SENTIMENT_KEY, ra.PRODUCT_KEY, ra.CUSTOMER_KEY]
EXPECTED_COLUMNS = {
    "review_sentiment": {"review_id", "customer_id", "product_id", "as_of_date", "sentiment_label",
                         "sentiment_score", "topic_id", "aspects"},
    "review_topics": {"as_of_date", "topic_id", "label", "top_terms", "size"},
    "product_sentiment": {"as_of_date", "product_id", "review_count", "average_rating", "positive_share",
                          "neutral_share", "negative_share", "top_aspects_praised", "top_aspects_criticized"},
    "customer_sentiment": {"customer_id", "as_of_date", "avg_sentiment", "last_sentiment"},
}


@pytest.fixture(scope="module")
def built(shared_home, tmp_path_factory):
    """A private copy of the shared home (built with SMALL_TOPICS): a test registers a challenger here (one that
    adds a partition gets a copy of its own). SMALL_TOPICS stays set for the module, as for the build."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SMALL_TOPICS.items():
            patch.setenv(name, value)
        home = copy_home(shared_home, tmp_path_factory.mktemp("reviews") / "home")
        settings = home.settings
        yield settings, home.instance, home.results, dt.date.fromisoformat(as_of_partition(settings))


@pytest.fixture
def changed(shared_home, tmp_path):
    """A copy of its own for a test that adds a partition: the others assert the built home has one as-of day."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SMALL_TOPICS.items():
            patch.setenv(name, value)
        home = copy_home(shared_home, tmp_path / "home")
        settings = home.settings
        yield settings, home.instance, home.results, dt.date.fromisoformat(as_of_partition(settings))


def warehouse_of(settings) -> Warehouse:
    return Warehouse(duckdb_path=settings.duckdb_path, url=settings.warehouse_url)


def use_registry(settings) -> None:
    models.use(settings)


def materializations(result, key: dg.AssetKey) -> list:
    return [e.event_specific_data.materialization for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
            and e.event_specific_data.materialization.asset_key == key]


def gate_evaluations(result) -> list:
    return [e.event_specific_data for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == ra.GATE_CHECK
            and e.event_specific_data.asset_key == ra.MODEL_KEY]  # every training asset has a champion_gate


def run_selection(settings, instance, keys, partition_key: str):
    job = build_definitions(settings).resolve_job_def("build_marts")
    return job.execute_in_process(instance=instance, partition_key=partition_key, asset_selection=keys)


def test_review_tables_exist_with_their_columns_and_every_review(built):
    settings, _, results, as_of = built
    assert all(r.success for r in results)
    warehouse = warehouse_of(settings)
    for table, columns in EXPECTED_COLUMNS.items():
        frame = warehouse.read_table("marts", table)
        assert columns <= set(frame.columns), table
        assert frame.height > 0 and frame["as_of_date"].unique().to_list() == [as_of], table
    reviews = warehouse.query("SELECT review_id, rating FROM staging.stg_reviews WHERE review_date <= ?", [as_of])
    scored = warehouse.read_table("marts", "review_sentiment")
    assert sorted(scored["review_id"]) == sorted(reviews["review_id"])
    assert set(scored["sentiment_label"].drop_nulls()) <= {"negative", "neutral", "positive"}
    assert scored["sentiment_score"].abs().max() <= 1
    # Synthetic texts agree with their ratings: the scores must follow the stars.
    by_rating = scored.group_by("rating").agg(pl.col("sentiment_score").mean()).sort("rating")
    assert by_rating.filter(pl.col("rating") >= 4)["sentiment_score"].min() > 0.3
    assert by_rating.filter(pl.col("rating") <= 2)["sentiment_score"].max() < -0.3
    # Aspects are "aspect:label" strings; the synthetic texts mention all four default aspects.
    pairs = scored["aspects"].explode().drop_nulls()
    assert {p.split(":")[0] for p in pairs} == {"quality", "price", "shipping", "service"}
    assert {p.split(":")[1] for p in pairs} <= {"negative", "neutral", "positive"}

    topics = warehouse.read_table("marts", "review_topics")
    assert 3 <= topics.height <= 5 and topics["topic_id"].n_unique() == topics.height
    assert topics["size"].sum() == scored["topic_id"].drop_nulls().len()
    assert set(scored["topic_id"].drop_nulls()) <= set(topics["topic_id"])

    products = warehouse.read_table("marts", "product_sentiment")
    assert products.height == scored["product_id"].drop_nulls().n_unique()
    shares = products.select(pl.sum_horizontal("positive_share", "neutral_share", "negative_share")).to_series()
    assert (shares - 1).abs().max() < 1e-9
    assert products.filter(pl.col("top_aspects_criticized").list.len() > 0).height > 0
    # A product's counts match its scored reviews.
    one = products.sort("review_count", descending=True).row(0, named=True)
    mine = scored.filter(pl.col("product_id") == one["product_id"])
    assert one["review_count"] == mine.height
    assert one["average_rating"] == pytest.approx(mine["rating"].mean())


def test_customer_sentiment_joins_onto_customer_features(built):
    settings, _, _, as_of = built
    warehouse = warehouse_of(settings)
    joined = warehouse.query(
        "SELECT f.customer_id, f.review_count, s.avg_sentiment, s.last_sentiment "
        "FROM marts.customer_features f LEFT JOIN marts.customer_sentiment s "
        "ON s.customer_id = f.customer_id AND s.as_of_date = f.as_of_date WHERE f.as_of_date = ?", [as_of])
    with_sentiment = joined.filter(pl.col("avg_sentiment").is_not_null())
    assert with_sentiment.height > 100
    assert with_sentiment["review_count"].min() >= 1
    assert joined.filter(pl.col("avg_sentiment").is_null())["review_count"].fill_null(0).max() == 0
    # last_sentiment is the score of the customer's latest review.
    customer = with_sentiment.row(0, named=True)["customer_id"]
    latest = warehouse.query(
        "SELECT sentiment_score FROM marts.review_sentiment WHERE customer_id = ? AND as_of_date = ? "
        "ORDER BY review_ts DESC, review_id DESC LIMIT 1", [customer, as_of]).item()
    assert with_sentiment.row(0, named=True)["last_sentiment"] == pytest.approx(latest)


def test_model_is_champion_and_consistent_with_its_report(built, tmp_path):
    settings, _, results, _ = built
    use_registry(settings)
    assert models.champion_version(ra.MODEL_NAME) == 1
    version = models.client.get_model_version_by_alias(ra.MODEL_NAME, registry.CHAMPION)
    report = json.loads(Path(models.client.download_artifacts(version.run_id, "report.json", str(tmp_path))).read_text())
    engines = report["engines"]
    # The trained engine must win on these labelled reviews (the gate below says it beats the VADER baseline).
    assert report["champion"] == "tfidf_logreg", engines
    # ...and the report's champion is the engine its own metrics rank first (the decision follows the numbers).
    assert report["champion"] == max(engines, key=lambda name: engines[name]["macro_f1"]), engines
    assert engines["tfidf_logreg"]["macro_f1"] > engines["vader"]["macro_f1"]
    assert report["binary_accuracy_gain_over_vader"] >= 0
    assert report["metrics"]["macro_f1"] == engines["tfidf_logreg"]["macro_f1"]
    assert report["comparison"]["champion"] is None and "no champion yet" in report["comparison"]["decision"]

    build = results[-1]
    [materialization] = materializations(build, ra.MODEL_KEY)
    metadata = materialization.metadata
    assert metadata["promoted"].value is True and metadata["model_version"].value == 1
    [gate] = gate_evaluations(build)
    assert gate.passed and "beats the baseline vader" in gate.metadata["reason"].value

    model, loaded_version = models.load_champion(ra.MODEL_NAME)
    assert loaded_version == 1 and model.champion == report["champion"]
    labels = model.predict(["Terrible quality, it broke after two days.", "Great product, fast delivery!"])
    assert labels["sentiment_label"].to_list() == ["negative", "positive"]


def test_rerunning_a_partition_replaces_it_without_duplicates(changed):
    settings, instance, _, as_of = changed
    warehouse = warehouse_of(settings)
    count = "SELECT count(*) AS n, count(DISTINCT review_id) AS d FROM marts.review_sentiment WHERE as_of_date = ?"
    before = {table: warehouse.row_count("marts", table) for table in EXPECTED_COLUMNS}
    first = warehouse.query(count, [as_of]).row(0)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SMALL_TOPICS.items():
            patch.setenv(name, value)
        earlier = as_of - dt.timedelta(days=60)
        for day in (as_of, as_of, earlier):
            assert run_selection(settings, instance, REVIEW_TABLE_KEYS, day.isoformat()).success
    assert warehouse.query(count, [as_of]).row(0) == first and first[0] == first[1]
    # The earlier day is its own partition, built from the reviews dated up to it only.
    old = warehouse.query(count, [earlier]).row(0)
    assert 0 < old[0] < first[0] and old[0] == old[1]
    assert warehouse.scalar("SELECT max(review_date) FROM marts.review_sentiment WHERE as_of_date = ?",
                            [earlier]) <= earlier
    for table in EXPECTED_COLUMNS:
        grew = warehouse.row_count("marts", table) - before[table]
        assert grew == warehouse.scalar(f"SELECT count(*) FROM marts.{table} WHERE as_of_date = ?", [earlier])


def test_weak_challenger_leaves_the_champion_in_place(built, monkeypatch):
    settings, instance, _, as_of = built
    use_registry(settings)
    champion_before = models.champion_version(ra.MODEL_NAME)
    # A deliberately weak challenger: trained on 5% of the reviews with almost no regularisation budget.
    monkeypatch.setenv("CUSTOMER_ML_REVIEW_REGULARISATION_C", "1e-6")
    monkeypatch.setenv("CUSTOMER_ML_REVIEW_HOLDOUT_FRACTION", "0.95")
    result = run_selection(settings, instance, [ra.MODEL_KEY], as_of.isoformat())
    assert result.success
    [materialization] = materializations(result, ra.MODEL_KEY)
    metadata = materialization.metadata
    assert metadata["promoted"].value is False and "champion kept" in metadata["decision"].value
    assert metadata["model_version"].value == champion_before + 1
    use_registry(settings)
    assert models.champion_version(ra.MODEL_NAME) == champion_before
    [gate] = gate_evaluations(result)
    assert gate.passed
    champion = gate.metadata["champion_metrics"].value
    challenger = gate.metadata["challenger_metrics"].value
    assert champion["macro_f1"] > challenger["macro_f1"] + 0.05
    assert gate.metadata["serving_metrics"].value == champion
    # Compared only on holdout rows the champion never trained on.
    assert "never trained on" in gate.metadata["compared_on"].value


def test_empty_reviews_give_empty_tables_and_a_note(tmp_path):
    home = tmp_path / "home"
    assets = ra.build_review_assets(dg.DailyPartitionsDefinition(start_date="2026-01-01"))
    resources = {"warehouse": WarehouseResource(home=str(home)),
                 "mlflow": MlflowResource(tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
                                          artifact_root=str(home / "mlartifacts"))}
    result = dg.materialize(assets, partition_key="2026-03-01", resources=resources,
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    [trained] = materializations(result, ra.MODEL_KEY)
    assert trained.metadata["trained"].value is False
    assert "no sentiment model trained" in trained.metadata["note"].value
    warehouse = Warehouse(duckdb_path=home / "warehouse.duckdb")
    for table, columns in EXPECTED_COLUMNS.items():
        frame = warehouse.read_table("marts", table)
        assert frame.is_empty() and columns <= set(frame.columns), table
    [scored] = materializations(result, ra.SENTIMENT_KEY)
    assert "no reviews up to 2026-03-01" in scored.metadata["notes"].value


def test_too_few_or_one_class_reviews_skip_training():
    knobs = ra.ReviewKnobs(min_reviews=50)
    base = {"review_id": [f"R{i}" for i in range(60)], "rating": [5] * 60, "review_text": ["Lovely, works well"] * 60}
    one_class = pl.DataFrame(base)
    assert "same sentiment class (positive)" in training_skip_reason(labelled_reviews(one_class, knobs), knobs)
    few = one_class.head(10).with_columns(rating=pl.Series([1, 5] * 5))
    assert "only 10 review(s)" in training_skip_reason(labelled_reviews(few, knobs), knobs)
    # Reviews without letters or rating are not labelled data.
    blank = one_class.with_columns(review_text=pl.lit("12345"))
    assert labelled_reviews(blank, knobs).is_empty()


def test_customer_sentiment_is_point_in_time():
    rows = pl.DataFrame({
        "review_id": ["a", "b", "c"], "customer_id": ["C1", "C1", "C1"],
        "review_date": [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)],
        "review_ts": [dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1), dt.datetime(2026, 3, 1)],
        "sentiment_score": [0.8, -0.4, -1.0],
    })
    february = customer_sentiment_as_of(rows, dt.date(2026, 2, 15)).row(0, named=True)
    assert february["avg_sentiment"] == pytest.approx(0.2) and february["last_sentiment"] == pytest.approx(-0.4)
    assert customer_sentiment_as_of(rows, dt.date(2025, 12, 31)).is_empty()


def test_knobs_come_from_the_environment_and_are_checked(monkeypatch):
    monkeypatch.setenv("CUSTOMER_ML_REVIEW_LANGUAGE", "German")
    monkeypatch.setenv("CUSTOMER_ML_REVIEW_TOPICS_K_MAX", "6")
    knobs = ra.review_knobs()
    assert knobs.language == "german" and knobs.topics_k_max == 6 and knobs.min_reviews == 50
    monkeypatch.setenv("CUSTOMER_ML_REVIEW_LANGUAGE", "klingon")
    with pytest.raises(ValueError, match="CUSTOMER_ML_REVIEW_LANGUAGE"):
        ra.review_knobs()
    monkeypatch.setenv("CUSTOMER_ML_REVIEW_LANGUAGE", "english")
    monkeypatch.setenv("CUSTOMER_ML_REVIEW_TOPICS_K_MIN", "9")
    with pytest.raises(ValueError, match="TOPICS_K_MIN"):
        ra.review_knobs()
