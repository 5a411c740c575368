"""POST /predict/value and GET /retention-targets on the real `bentoml serve` (127.0.0.1, a free port) over the
session's shared home, read only (its online snapshot and MLflow registry), called over HTTP."""

import polars as pl
import pytest
import httpx

from customer_assets.serving import snapshot as snapshots
from customer_assets.serving.models import VALUE
from customer_assets.serving.snapshot_view import load_snapshot
from customer_assets.warehouse.client import Warehouse
from customer_assets_tests.conftest import serving, RegistryInUse

models = RegistryInUse()  # the registry of the home this module's fixtures chose

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(shared_home):
    settings = shared_home.settings
    models.use(settings)
    return settings


@pytest.fixture(scope="module")
def client(home, tmp_path_factory):
    log = tmp_path_factory.mktemp("value-service") / "server.log"
    with serving(home.home, log, CUSTOMER_ML_SERVE_REQUIRED_MODELS=VALUE) as url, \
            httpx.Client(base_url=url, timeout=15.0) as c:
        yield c


@pytest.fixture(scope="module")
def stored(home):
    snap = load_snapshot(snapshots.online_dir(home.home))
    value = Warehouse(duckdb_path=home.duckdb_path).read_table("marts", "customer_value", "as_of_date = ?",
                                                               [snap.as_of])
    return snap, value.sort("customer_id")


def test_value_by_id_is_the_published_row_and_rescored_for_another_horizon(client, stored):
    snap, value = stored
    for row in value.gather([0, 100, value.height - 1]).iter_rows(named=True):
        body = client.post("/predict/value", json={"customer_id": row["customer_id"]}).json()
        assert body["source"] == "snapshot" and body["as_of"] == snap.as_of
        for key in ("p_alive", "p_order", "expected_orders", "expected_value", "clv_12m"):
            assert body[key] == pytest.approx(row[key], rel=1e-9), key
        assert body["horizon_days"] == row["horizon_days"] and body["model_version"] == row["model_version"]
        shorter = client.post("/predict/value", json={"customer_id": row["customer_id"], "horizon_days": 30}).json()
        assert shorter["source"] == "model" and shorter["horizon_days"] == 30
        assert shorter["p_alive"] == pytest.approx(body["p_alive"])
        assert shorter["clv_12m"] == pytest.approx(body["clv_12m"])
        assert shorter["expected_orders"] < body["expected_orders"]


def test_value_from_a_purchase_summary_matches_the_champion(client, stored):
    snap, value = stored
    row = value.filter(pl.col("orders") >= 3).row(0, named=True)
    summary = {k: row[k] for k in ("orders", "days_since_first", "days_since_last", "mean_order_value",
                                   "mean_repeat_value")}
    body = client.post("/predict/value", json={"summary": summary, "customer_id": "label-only"}).json()
    assert body["source"] == "summary" and body["customer_id"] == "label-only"
    assert body["expected_value"] == pytest.approx(row["expected_value"], rel=1e-9)
    model, version = models.load_champion(VALUE)
    assert body["model_version"] == version
    minimal = {"orders": 4, "days_since_first": 300, "days_since_last": 20, "mean_order_value": 50.0}
    expected = model.score(pl.DataFrame([minimal]), 90, as_of=snap.as_of)
    answer = client.post("/predict/value", json={"summary": minimal, "horizon_days": 90}).json()
    assert answer["expected_value"] == pytest.approx(expected["expected_value"][0], rel=1e-9)


BAD = [
    ({}, 400, "customer_id or summary"),
    ({"customer_id": "C9999999"}, 404, "customer_id"),
    ({"summary": {"days_since_first": 10, "days_since_last": 5}}, 400, "summary.orders"),
    ({"summary": {"orders": "3", "days_since_first": 10, "days_since_last": 5}}, 400, "summary.orders"),
    ({"summary": {"orders": 3, "days_since_first": 10, "days_since_last": 20}}, 400, "summary.days_since_last"),
    ({"summary": {"orders": 1, "days_since_first": 10, "days_since_last": 2}}, 400, "summary.days_since_last"),
    ({"summary": {"orders": 2, "days_since_first": 10, "days_since_last": 2, "mean_order_value": -5}}, 400,
     "summary.mean_order_value"),
    ({"summary": {"orders": 2, "days_since_first": 10, "days_since_last": 2, "spend": 5}}, 400, "summary.spend"),
    ({"customer_id": "C0000001", "horizon_days": 0}, 400, "horizon_days"),
    ({"customer_id": "C0000001", "horizon_days": 99999}, 400, "horizon_days"),
]


@pytest.mark.parametrize("payload,status,field", BAD)
def test_bad_value_requests_are_4xx_that_name_the_problem(client, payload, status, field):
    answer = client.post("/predict/value", json=payload)
    assert answer.status_code == status, answer.text
    assert field in answer.json()["error"], answer.text


def test_retention_targets_are_the_published_ranking(client, home, stored):
    snap, _ = stored
    table = Warehouse(duckdb_path=home.duckdb_path).read_table("marts", "retention_targets", "as_of_date = ?",
                                                               [snap.as_of]).sort("rank")
    body = client.get("/retention-targets", params={"limit": 5}).json()
    assert body["as_of"] == snap.as_of and body["count"] == 5 and body["total"] == table.height
    assert [t["customer_id"] for t in body["targets"]] == table["customer_id"].head(5).to_list()
    assert [t["rank"] for t in body["targets"]] == [1, 2, 3, 4, 5]
    first = body["targets"][0]
    assert first["value_at_risk"] == pytest.approx(first["churn_probability"] * first["expected_value"])
    assert len(first["recommended_products"]) == 3 and first["risk_level"] in ("Low", "Medium", "High")
    assert client.get("/retention-targets").json()["count"] == min(50, table.height)
    for limit in ("0", "1001", "ten", "-3"):
        answer = client.get("/retention-targets", params={"limit": limit})
        assert answer.status_code == 400 and answer.json()["field"] == "limit", answer.text


def test_the_value_model_is_listed_and_documented(client):
    listed = {m["name"]: m for m in client.get("/models").json()["models"]}
    assert listed[VALUE]["version"] == models.champion_version(VALUE) and listed[VALUE]["metrics"]["value_mae"] > 0
    paths = client.get("/docs.json").json()["paths"]
    assert "/predict/value" in paths and "/retention-targets" in paths
