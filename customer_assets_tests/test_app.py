"""The business app on the session's built home and on an empty one: every page through Streamlit's AppTest,
the data module's paging and snapshot switch, the API-key gate. The real-browser test is test_app_browser.py."""

from __future__ import annotations

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from customer_assets.app import data
from customer_assets.app.pages import PAGES
from customer_assets.config import REPO_ROOT
from customer_assets.serving import snapshot as snapshots

APP = str(REPO_ROOT / "customer_assets" / "app" / "main.py")


def _run_page(monkeypatch, home, page: str, api_key: str = "") -> AppTest:
    monkeypatch.setenv("CUSTOMER_ML_HOME", str(home))
    monkeypatch.setenv("CUSTOMER_ML_API_KEY", api_key)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    if not api_key:
        app.sidebar.radio[0].set_value(page).run()
    return app


def _assert_clean(app: AppTest, page: str) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    assert [h.value for h in app.header] == [page]


@pytest.fixture(scope="module")
def home(shared_home):
    return shared_home.settings.home


@pytest.fixture(scope="module")
def frames(home):
    _, _, tables = snapshots.read_snapshot(snapshots.online_dir(home))
    return tables


def test_overview_counts_the_snapshot(monkeypatch, home, frames):
    app = _run_page(monkeypatch, home, "Overview")
    _assert_clean(app, "Overview")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Customers"] == f"{frames['features'].height:,}"
    high = int((frames["churn_scores"]["churn_probability"] >= data.HIGH_RISK_CUT).sum())
    assert metrics["High-risk customers"] == f"{high:,}"
    assert app.get("plotly_chart"), "segment sizes chart missing"


def test_churn_page_lists_one_page_of_high_risk_customers(monkeypatch, home, frames):
    app = _run_page(monkeypatch, home, "Churn")
    _assert_clean(app, "Churn")
    high = frames["churn_scores"].filter(pl.col("churn_probability") >= data.HIGH_RISK_CUT)
    assert app.subheader[0].value == f"High-risk customers ({high.height:,})"
    shown = app.dataframe[0].value
    assert len(shown) == min(high.height, data.PAGE_SIZE)
    assert (shown["churn_probability"] >= data.HIGH_RISK_CUT).all()
    assert list(shown["churn_probability"]) == sorted(shown["churn_probability"], reverse=True)
    assert app.get("download_button")


def test_churn_filter_by_segment(monkeypatch, home, frames):
    app = _run_page(monkeypatch, home, "Churn")
    segment = app.selectbox(key="churn_segment").options[1]
    app.selectbox(key="churn_segment").set_value(segment).run()
    _assert_clean(app, "Churn")
    shown = app.dataframe[0].value
    assert set(shown["segment"]) <= {segment}
    members = frames["segments"].filter(pl.col("segment_name") == segment)["customer_id"]
    expected = frames["churn_scores"].filter((pl.col("churn_probability") >= data.HIGH_RISK_CUT)
                                            & pl.col("customer_id").is_in(members.implode()))
    assert app.subheader[0].value == f"High-risk customers ({expected.height:,})"


def test_segments_page_profiles_every_segment(monkeypatch, home, frames):
    app = _run_page(monkeypatch, home, "Segments")
    _assert_clean(app, "Segments")
    profiles = app.dataframe[0].value
    assert sorted(profiles["segment"]) == sorted(frames["segments"]["segment_name"].unique().to_list())
    assert profiles["customers"].sum() == frames["segments"].height


def test_customer_page_finds_a_customer_and_rejects_an_unknown_id(monkeypatch, home, frames):
    app = _run_page(monkeypatch, home, "Customer")
    scored = frames["churn_scores"].row(0, named=True)
    app.text_input(key="customer_id").input(scored["customer_id"]).run()
    _assert_clean(app, "Customer")
    assert app.metric[0].value == f"{scored['churn_probability']:.1%}"
    app.text_input(key="customer_id").input("no-such-customer").run()
    assert "No customer 'no-such-customer'" in app.warning[0].value


def test_products_page_shows_similar_products(monkeypatch, home, frames):
    app = _run_page(monkeypatch, home, "Products and reviews")
    _assert_clean(app, "Products and reviews")
    product = app.selectbox(key="product_id").value
    shown = app.dataframe[0].value
    expected = frames["similar_products"].filter(pl.col("product_id") == product).sort("rank").head(10)
    assert list(shown["similar_product_id"]) == expected["similar_product_id"].to_list()


def test_models_page_lists_champions_with_metrics(monkeypatch, home):
    app = _run_page(monkeypatch, home, "Models")
    _assert_clean(app, "Models")
    table = app.dataframe[0].value
    assert "churn_model" in set(table["model"])
    assert table["champion"].notna().all()


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_on_an_empty_home_says_run_make_run(monkeypatch, tmp_path, page):
    app = _run_page(monkeypatch, tmp_path / "empty", page)
    _assert_clean(app, page)
    assert "make run" in app.info[0].value
    assert not (tmp_path / "empty").exists(), "the app must not create anything in the home"


def test_api_key_gate(monkeypatch, home):
    app = _run_page(monkeypatch, home, "Overview", api_key="app-key-123")
    assert not app.header and not app.metric
    app.text_input(key="api_key_input").input("wrong").run()
    assert "not right" in app.error[0].value and not app.metric
    app.text_input(key="api_key_input").input("app-key-123").run()
    assert [h.value for h in app.header] == ["Overview"] and app.metric


def test_new_snapshot_is_picked_up_and_paging_is_bounded(tmp_path):
    online = snapshots.online_dir(tmp_path)
    ids = [f"c{i:04d}" for i in range(130)]
    features = pl.DataFrame({"customer_id": ids, "country": ["DE", "FR"] * 65, "is_active": [True] * 130})
    scores = pl.DataFrame({"customer_id": ids, "churn_probability": [i / 130 for i in range(130)]})
    snapshots.write_snapshot({"features": features}, online, {"as_of": "2026-01-01", "tables": {"features": {}}})
    first = data.current_snapshot(tmp_path)
    rows, total = data.high_risk(first)
    assert not first.has("churn_scores") and rows.empty and total == 0
    snapshots.write_snapshot({"features": features, "churn_scores": scores}, online,
                             {"as_of": "2026-01-02", "tables": {"features": {}, "churn_scores": {}}})
    second = data.current_snapshot(tmp_path)
    assert second.version != first.version and second.as_of == "2026-01-02"
    high = [i for i in range(130) if i / 130 >= data.HIGH_RISK_CUT]
    pages = [data.high_risk(second, page=p, page_size=20) for p in range(4)]
    assert all(total == len(high) for _, total in pages)
    assert [len(rows) for rows, _ in pages] == [20, 20, 20, len(high) - 60]
    assert sum(len(rows) for rows, _ in pages) == len(high)
    rows, total = data.high_risk(second, country="DE")
    assert set(rows["country"]) == {"DE"} and total == sum(1 for i in high if i % 2 == 0)


# --- what issue 13 added: history, calibration, PCA, movement, names and reviews, promotions, the latest run ---


def test_overview_charts_history_and_shows_the_latest_run_with_its_checks(monkeypatch, home, frames):
    import json

    app = _run_page(monkeypatch, home, "Overview")
    _assert_clean(app, "Overview")
    assert [s.value for s in app.subheader][:2] == ["Over time", "Latest run"]
    history = data.history(data.current_snapshot(home))
    assert list(history.columns) == data.HISTORY_COLUMNS and len(history) >= 1
    assert int(history["customers"].iloc[-1]) == frames["features"].height
    assert int(history["high_risk"].iloc[-1]) == int((frames["churn_scores"]["churn_probability"]
                                                      >= data.HIGH_RISK_CUT).sum())
    # customers, rates, high risk, value at risk, segment sizes
    assert len(app.get("plotly_chart")) == 5
    run = json.loads((home / data.RUN_SUMMARY).read_text())
    assert [r["job"] for r in run["runs"]] == ["load_source", "build_marts"] and run["checks"]
    passed = sum(c["passed"] for c in run["checks"])
    assert any(f"Checks: {passed} passed, {len(run['checks']) - passed} not passed" in m.value for m in app.markdown)


def test_run_summary_path_is_the_one_the_cli_writes():
    from customer_assets import cli

    assert cli.RUN_SUMMARY == data.RUN_SUMMARY


def test_churn_page_shows_the_champions_holdout_calibration(monkeypatch, home):
    from customer_assets.config import load_settings

    app = _run_page(monkeypatch, home, "Churn")
    _assert_clean(app, "Churn")
    assert "Calibration (holdout)" in [s.value for s in app.subheader]
    settings = load_settings()
    image, version = data.champion_plot(settings.mlflow_tracking_uri, settings.mlflow_artifact_root, "churn_model",
                                        "churn_calibration.png")
    assert image.startswith(b"\x89PNG")
    assert any(f"churn_model v{version}" in c.value for c in app.caption)


def test_segments_page_pca_scatter_is_a_bounded_sample(monkeypatch, home, frames):
    app = _run_page(monkeypatch, home, "Segments")
    _assert_clean(app, "Segments")
    assert len(app.get("plotly_chart")) == 1
    snap = data.current_snapshot(home)
    scatter = data.segment_scatter(snap, sample=200)
    assert len(scatter) == 200 and set(scatter["segment"]) <= set(frames["segments"]["segment_name"])
    assert scatter[["x", "y"]].notna().all().all() and scatter["x"].std() > 0
    share = scatter.attrs["explained"]
    assert 0 < share[1] <= share[0] < 1
    full = data.segment_scatter(snap)
    assert len(full) == min(data.SCATTER_SAMPLE, frames["segments"].height)
    # the shared home is built for one as-of date: no movement yet, said so
    assert any("One segmentation date so far" in i.value for i in app.info)


def test_customer_page_names_recommendations_and_lists_reviews_with_sentiment(monkeypatch, home, frames):
    snap = data.current_snapshot(home)
    reviewer = data._sql(snap, "SELECT customer_id FROM {app_reviews} r WHERE customer_id IN "
                               "(SELECT CAST(customer_id AS VARCHAR) FROM {recommendations}) LIMIT 1")
    assert not reviewer.empty, "the shared home has reviewers with recommendations"
    customer_id = reviewer["customer_id"][0]
    app = _run_page(monkeypatch, home, "Customer")
    app.text_input(key="customer_id").input(customer_id).run()
    _assert_clean(app, "Customer")
    assert [s.value for s in app.subheader] == ["Features", "Recommendations", "Reviews"]
    recs = app.dataframe[1].value  # features, recommendations, reviews
    assert recs["product_name"].notna().all() and list(recs["rank"]) == sorted(recs["rank"])
    reviews = app.dataframe[2].value
    assert len(reviews) >= 1 and set(reviews["sentiment_label"]) <= {"positive", "neutral", "negative"}
    assert reviews["review_text"].str.len().max() <= 300


def test_models_page_shows_promotion_history_with_reasons(monkeypatch, home):
    app = _run_page(monkeypatch, home, "Models")
    _assert_clean(app, "Models")
    champions, history = app.dataframe[0].value, app.dataframe[1].value
    assert list(history.columns) == data.PROMOTION_COLUMNS
    assert history["decision"].str.len().min() > 0
    for model, version in champions[["model", "version"]].drop_duplicates().itertuples(index=False):
        rows = history[(history["model"] == model) & (history["version"] == version)]
        assert len(rows) == 1 and bool(rows["champion_now"].iloc[0]), (model, version)


def test_products_page_shows_the_products_reviews_aspects_and_topics(monkeypatch, home):
    app = _run_page(monkeypatch, home, "Products and reviews")
    _assert_clean(app, "Products and reviews")
    snap = data.current_snapshot(home)
    product = app.selectbox(key="product_id").value
    name = data._sql(snap, "SELECT product_name FROM {app_products} WHERE product_id = ?", [product])["product_name"][0]
    subheaders = [s.value for s in app.subheader]
    assert subheaders[0] == f"Products similar to {product} - {name}" and subheaders[-1] == "Review topics"
    summary, _ = data.product_sentiment(snap, product)
    if summary is None:
        assert any("No reviews of this product" in i.value for i in app.info)
    else:
        metrics = {m.label: m.value for m in app.metric}
        assert metrics["Reviews"] == f"{summary['review_count']:,}"
        assert any("Aspects praised" in m.value for m in app.markdown)
    topics = app.dataframe[-1].value
    assert len(topics) >= 2 and topics["top_terms"].str.len().min() > 0


def test_models_page_charts_drift_per_feature(monkeypatch, home):
    app = _run_page(monkeypatch, home, "Models")
    _assert_clean(app, "Models")
    assert "Feature drift (PSI)" in [s.value for s in app.subheader]
    drift = data.drift(data.current_snapshot(home))
    assert not drift.empty and drift["psi"].notna().any()  # PSI is null where a feature has no values to bin
    assert len(app.get("plotly_chart")) == 1


def test_pages_work_on_a_snapshot_without_the_app_tables(monkeypatch, tmp_path):
    """A snapshot published before the app tables existed (or a partial home): notes, never a traceback."""
    online = snapshots.online_dir(tmp_path)
    ids = [f"c{i:03d}" for i in range(40)]
    features = pl.DataFrame({"customer_id": ids, "country": ["DE"] * 40, "is_active": [True] * 40,
                             "recency_days": [float(i) for i in range(40)], "frequency": [float(i % 7) for i in range(40)]})
    segments = pl.DataFrame({"customer_id": ids, "segment_id": [i % 2 for i in range(40)],
                             "segment_name": ["Low Value", "High Value"] * 20})
    snapshots.write_snapshot({"features": features, "segments": segments}, online,
                             {"as_of": "2026-01-01", "tables": {"features": {}, "segments": {}}})
    for page, note in (("Overview", "One as-of date so far"), ("Overview", "No run summary"),
                       ("Churn", "No churn scores"), ("Segments", "One segmentation date so far"),
                       ("Models", "No champion"), ("Models", "No drift report"),
                       ("Products and reviews", "No product similarities"), ("Products and reviews", "No reviews")):
        app = _run_page(monkeypatch, tmp_path, page)
        _assert_clean(app, page)
        assert any(note in i.value for i in app.info), (page, [i.value for i in app.info])
    app = _run_page(monkeypatch, tmp_path, "Segments")
    assert len(app.get("plotly_chart")) == 1  # the PCA scatter needs only features and segments
    app = _run_page(monkeypatch, tmp_path, "Customer")
    app.text_input(key="customer_id").input("c001").run()
    _assert_clean(app, "Customer")
    assert any("No reviews in this data" in i.value for i in app.info)


def test_app_tables_history_and_movement_over_two_as_of_dates(tmp_path):
    """The published app tables on a hand-made warehouse with two as-of dates: daily aggregates and the move
    matrix between them, bounded per customer for reviews."""
    import datetime as dt

    from customer_assets.serving import app_tables
    from customer_assets.warehouse.client import Warehouse

    warehouse = Warehouse(duckdb_path=tmp_path / "w.duckdb")
    for sql in (
        "CREATE SCHEMA marts", "CREATE SCHEMA staging",
        ("CREATE TABLE marts.customer_features AS SELECT * FROM (VALUES "
        "('a', DATE '2026-01-01', true), ('b', DATE '2026-01-01', false), "
        "('a', DATE '2026-01-02', true), ('b', DATE '2026-01-02', true), ('c', DATE '2026-01-02', false)) "
        "t(customer_id, as_of_date, is_active)"),
        ("CREATE TABLE marts.churn_scores AS SELECT * FROM (VALUES "
        "('a', DATE '2026-01-01', 0.9), ('b', DATE '2026-01-01', 0.1), ('a', DATE '2026-01-02', 0.2), "
        "('b', DATE '2026-01-02', 0.7), ('c', DATE '2026-01-02', 0.6)) t(customer_id, as_of_date, churn_probability)"),
        ("CREATE TABLE marts.customer_segments AS SELECT * FROM (VALUES "
        "('a', DATE '2026-01-01', 'High Value'), ('b', DATE '2026-01-01', 'Low Value'), "
        "('a', DATE '2026-01-02', 'Low Value'), ('b', DATE '2026-01-02', 'Low Value'), "
        "('c', DATE '2026-01-02', 'Inactive')) t(customer_id, as_of_date, segment_name)"),
        "CREATE TABLE staging.stg_products AS SELECT 'P1' AS product_id, 'Lamp' AS product_name, 'Home' AS category",
        ("CREATE TABLE staging.stg_reviews AS SELECT 'r' || i AS review_id, 'x' || repeat('y', 400) AS review_text "
        "FROM range(8) t(i)"),
        ("CREATE TABLE marts.review_sentiment AS SELECT 'r' || i AS review_id, 'a' AS customer_id, 'P1' AS product_id, "
        "DATE '2026-01-02' AS as_of_date, DATE '2025-12-01' + CAST(i AS INTEGER) AS review_date, "
        "TIMESTAMP '2025-12-01' + INTERVAL (i) DAY AS review_ts, 5 AS rating, 'positive' AS sentiment_label, "
        "0.5 AS sentiment_score FROM range(8) t(i)"),
    ):
        warehouse.execute(sql)
    frames, info, skipped = app_tables.read_app_tables(warehouse, dt.date(2026, 1, 2), snapshots._query)
    assert set(info) == {f"app_{n}" for n in ("history", "segment_history", "segment_moves", "products", "reviews",
                                              "product_sentiment_monthly")}
    assert skipped == {"topics": "marts.review_topics not built", "product_sentiment": "marts.product_sentiment not built",
                       "drift": "marts.drift_report not built"}
    monthly = frames["app_product_sentiment_monthly"]
    assert monthly["reviews"].sum() == 8 and monthly["month"].to_list() == [dt.date(2025, 12, 1)]
    history = frames["app_history"].sort("as_of_date")
    assert history["customers"].to_list() == [2, 3]
    assert history["active_share"].to_list() == pytest.approx([0.5, 2 / 3])
    assert history["high_risk"].to_list() == [1, 2]
    assert "value_at_risk" not in history.columns  # no retention_targets in this warehouse
    moves = {(r["from_segment"], r["to_segment"]): r["customers"] for r in frames["app_segment_moves"].to_dicts()}
    assert moves == {("High Value", "Low Value"): 1, ("Low Value", "Low Value"): 1}  # c is new: not a move
    reviews = frames["app_reviews"]
    assert reviews.height == app_tables.REVIEWS_PER_CUSTOMER
    assert reviews["review_date"].min() == dt.date(2025, 12, 4)  # the latest five of eight
    assert reviews["review_text"].str.len_chars().max() == app_tables.REVIEW_CHARS
    # the as-of date bounds everything: on the first day there is no earlier date to move from
    frames, _, _ = app_tables.read_app_tables(warehouse, dt.date(2026, 1, 1), snapshots._query)
    assert frames["app_segment_moves"].is_empty() and frames["app_history"].height == 1
    # published beside the service's tables, never read by the service (read_snapshot loads `tables` only)
    published = snapshots.publish(warehouse, tmp_path / "online")
    assert set(published.manifest["app_tables"]) == set(info) and published.manifest["app_tables_skipped"] == skipped
    assert all((published.path / f"{name}.parquet").is_file() for name in info)
    _, manifest, read = snapshots.read_snapshot(tmp_path / "online")
    assert not any(name.startswith("app_") for name in read) and not set(manifest["tables"]) & set(info)
    assert data.history(data.current_snapshot(tmp_path))["customers"].tolist() == [2, 3]
