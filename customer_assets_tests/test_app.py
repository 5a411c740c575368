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
