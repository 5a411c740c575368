"""Live scoring service: a real home (DuckDB, dbt, MLflow sqlite registry, Dagster runs), the online snapshot
published by its asset, and the real `bentoml serve` on a free 127.0.0.1 port, called over HTTP.

The home is a private copy of the session's shared home. The two tests that switch the snapshot or the champion
under load work on a copy and a server of their own (`switching`), so no test depends on running before them.
"""

import json
import shutil
import subprocess
import threading
import time

import dagster as dg
import httpx
import polars as pl
import pytest

from bentos import launch
from bentos.gate import endpoint_label, readable_validation_error
from customer_assets.definitions import build_definitions
from customer_assets.mlops import registry
from customer_assets.serving import snapshot as snapshots
from customer_assets.serving.models import CHURN, MODEL_NAMES, MlflowModelSource
from customer_assets.serving.reload import StateLoader
from customer_assets.serving.snapshot_view import load_snapshot
from customer_assets.serving.validation import RequestError
from customer_assets.warehouse.client import Warehouse
from customer_assets_tests.conftest import as_of_partition, copy_home, make_settings, server_env, serving, RegistryInUse

models = RegistryInUse()  # the registry of the home this module's fixtures chose

pytestmark = pytest.mark.slow

API_KEY = "test-key-0123456789"
POST_ROUTES = ("/predict/churn", "/predict/churn/batch", "/predict/segment", "/recommendations",
               "/similar-products", "/predict/sentiment")


@pytest.fixture(scope="module")
def home(shared_home, tmp_path_factory):
    """A private copy of the shared home: the last tests switch its snapshot and churn champion."""
    settings = copy_home(shared_home, tmp_path_factory.mktemp("service") / "home").settings
    assert all(r.success for r in shared_home.results)
    models.use(settings)
    return settings


def _server_env(settings, **extra) -> dict:
    return server_env(settings.home, **extra)


@pytest.fixture(scope="module")
def servers(home, tmp_path_factory):
    """Two real servers over the same home, started together: one open, one with an API key."""
    logs = tmp_path_factory.mktemp("logs")
    ports = launch.free_port(), launch.free_port()
    open_proc = launch.start(ports[0], _server_env(home), log=logs / "open.log")
    keyed_proc = launch.start(ports[1], _server_env(home, CUSTOMER_ML_API_KEY=API_KEY), log=logs / "keyed.log")
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for url, proc in zip(urls, (open_proc, keyed_proc)):
            launch.wait_ready(url, proc)
        yield {"open": urls[0], "keyed": urls[1], "logs": logs}
    finally:
        launch.stop(open_proc)
        launch.stop(keyed_proc)


@pytest.fixture(scope="module")
def client(servers):
    with httpx.Client(base_url=servers["open"], timeout=15.0) as c:
        yield c


@pytest.fixture(scope="module")
def snap(home):
    return load_snapshot(snapshots.online_dir(home.home))


def _warehouse(settings) -> Warehouse:
    return Warehouse(duckdb_path=settings.duckdb_path)


def _feature_payload(snap, customer_id: str, columns) -> dict:
    row = snap.features.filter(pl.col("customer_id") == customer_id).row(0, named=True)
    return {c: row[c] for c in columns}


# --- the snapshot (pure code) ---------------------------------------------------------------------------


def test_run_all_published_a_snapshot_matching_the_warehouse(home, snap):
    online = snapshots.online_dir(home.home)
    assert (online / "current").is_symlink()
    assert snap.version == snapshots.current_version(online)
    warehouse = _warehouse(home)
    as_of = warehouse.scalar("SELECT max(as_of_date) FROM marts.customer_features")
    assert snap.as_of == as_of.isoformat()
    assert snap.rows["features"] == warehouse.scalar(
        "SELECT count(*) FROM marts.customer_features WHERE as_of_date = ?", [as_of]) == home.synthetic_customers
    for name, table in (("churn_scores", "churn_scores"), ("segments", "customer_segments"),
                        ("recommendations", "product_recommendations"), ("similar_products", "similar_products")):
        assert snap.rows[name] == warehouse.scalar(f"SELECT count(*) FROM marts.{table} WHERE as_of_date = ?",
                                                   [as_of]), name
    assert snap.manifest["champion_versions"] == {name: models.champion_version(name) for name in MODEL_NAMES}
    assert snap.manifest["missing_tables"] == []


def test_write_snapshot_switches_current_and_keeps_the_last_versions(tmp_path):
    frames = {"features": pl.DataFrame({"customer_id": ["a", "b"], "x": [1.0, 2.0]})}
    published = [snapshots.write_snapshot(frames, tmp_path, {"as_of": "2026-01-01", "tables": {"features": {}}},
                                          keep=2) for _ in range(4)]
    assert snapshots.current_version(tmp_path) == published[-1].version
    assert sorted(p.name for p in tmp_path.glob("v-*")) == [p.version for p in published[-2:]]
    version, manifest, read = snapshots.read_snapshot(tmp_path)
    assert version == published[-1].version and manifest["as_of"] == "2026-01-01"
    assert read["features"].equals(frames["features"])
    with pytest.raises(snapshots.SnapshotError, match="features is empty"):
        snapshots.write_snapshot({"features": frames["features"].clear()}, tmp_path, {}, keep=2)
    with pytest.raises(snapshots.SnapshotError, match="no online snapshot"):
        snapshots.read_snapshot(tmp_path / "nothing")
    assert not list(tmp_path.glob(".staging-*")) and not list(tmp_path.glob(".current-*"))


def test_state_loader_loads_swaps_and_survives_a_broken_snapshot(home, tmp_path):
    online = tmp_path / "online"
    shutil.copytree(snapshots.online_dir(home.home), online, symlinks=True)
    loader = StateLoader(online, MlflowModelSource(home.mlflow_tracking_uri, home.mlflow_artifact_root))
    assert loader.state.missing(MODEL_NAMES) == ["online snapshot", *MODEL_NAMES]
    assert loader.refresh() is True
    state = loader.state
    assert state.missing(MODEL_NAMES) == [] and state.problems == {}
    assert loader.refresh() is False and loader.state is state  # nothing moved: the same object keeps serving

    churn_model, version = models.load_champion(CHURN)
    customer = sorted(state.feature_rows)[7]
    row = state.snapshot.features.filter(pl.col("customer_id") == customer)
    expected = churn_model.explain(row, top_k=3)
    got = state.churn_by_customer(customer)
    assert got.churn_probability == pytest.approx(expected["churn_probability"][0])
    assert got.top_reasons == expected["top_reasons"][0].to_list() and got.model_version == version
    with pytest.raises(RequestError) as unknown:
        state.churn_by_customer("nobody")
    assert unknown.value.status == 404 and unknown.value.field == "customer_id"

    # A pointer to a version that cannot be read: the old state keeps serving and the problem is reported.
    snapshots.switch_current(online, online / "v-broken")
    assert loader.refresh() is False
    assert loader.state.snapshot is state.snapshot and "snapshot" in loader.state.problems
    assert loader.state.churn_by_customer(customer).churn_probability == got.churn_probability

    # A new, smaller snapshot is swapped in whole.
    frames = {"features": state.snapshot.features.filter(pl.col("customer_id") != customer)}
    published = snapshots.write_snapshot(frames, online, {"as_of": state.snapshot.as_of,
                                                          "tables": {"features": {}}}, keep=3)
    assert loader.refresh() is True
    assert loader.state.snapshot.version == published.version and "snapshot" not in loader.state.problems
    with pytest.raises(RequestError):
        loader.state.churn_by_customer(customer)
    assert loader.state.champions[CHURN] is state.champions[CHURN]  # unchanged champions are reused


def test_feature_payload_validation_names_the_field(home, snap):
    loader = StateLoader(snapshots.online_dir(home.home),
                         MlflowModelSource(home.mlflow_tracking_uri, home.mlflow_artifact_root))
    loader.refresh()
    state = loader.state
    columns = state.champions[CHURN].model.input_columns
    good = _feature_payload(snap, sorted(state.feature_rows)[3], columns)
    assert 0 <= state.churn_from_features([good])[0].churn_probability <= 1
    cases = [({**good, "recency_days": "12"}, "features.recency_days", "number"),
             ({**good, "recency_days": True}, "features.recency_days", "number"),
             ({**good, "recency_dayz": 1.0}, "features.recency_dayz", "unknown feature"),
             ({k: v for k, v in good.items() if k != "monetary"}, "features.monetary", "missing"),
             ({**good, "return_rate": 3.0}, "features.return_rate", "out of range"),
             ({**good, "recency_days": -5.0}, "features.recency_days", "out of range"),
             ({**good, "country": 7}, "features.country", "string"),
             ({**good, "monetary": float("nan")}, "features.monetary", "out of range"),
             ({**good, "monetary": float("inf")}, "features.monetary", "out of range")]
    for payload, field, words in cases:
        with pytest.raises(RequestError) as error:
            state.churn_from_features([payload])
        assert error.value.status == 400 and error.value.field == field and words in error.value.message


def test_gate_helpers():
    assert endpoint_label("/predict/churn") == "/predict/churn"
    assert endpoint_label("/models/churn_model") == "/models/{name}"
    assert endpoint_label("/wp-admin/x.php") == "other"
    body = {"error": "1 validation error", "detail": [{"type": "missing", "loc": ["customers", 2, "customer_id"],
                                                       "msg": "Field required"}]}
    out = readable_validation_error(body)
    assert out["fields"] == ["customers[2].customer_id"] and "customers[2].customer_id: Field required" in out["error"]


# --- the running service --------------------------------------------------------------------------------


def test_probes_docs_and_openapi(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    root = client.get("/")
    assert root.status_code == 200 and "text/html" in root.headers["content-type"]
    spec = client.get("/docs.json").json()
    for path in (*POST_ROUTES, "/models", "/models/{name}", "/healthz", "/readyz"):
        assert path in spec["paths"], path


def test_churn_by_id_is_the_champion_on_the_snapshot_and_matches_the_scored_table(home, client, snap):
    model, version = models.load_champion(CHURN)
    scores = _warehouse(home).read_table("marts", "churn_scores", "as_of_date = ?", [snap.as_of])
    for customer in scores["customer_id"].sort().gather([0, 50, 100, 200]).to_list():
        answer = client.post("/predict/churn", json={"customer_id": customer})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) >= {"customer_id", "churn_probability", "risk_level", "top_reasons", "model_version"}
        stored = scores.filter(pl.col("customer_id") == customer).row(0, named=True)
        assert body["customer_id"] == customer and body["model_version"] == version == stored["model_version"]
        assert body["churn_probability"] == pytest.approx(stored["churn_probability"], abs=1e-9)
        assert body["risk_level"] == stored["risk_level"] and body["top_reasons"] == list(stored["top_reasons"])
        assert body["as_of"] == snap.as_of
        # The same features sent as a payload give the same answer.
        payload = _feature_payload(snap, customer, model.input_columns)
        by_payload = client.post("/predict/churn", json={"features": payload, "customer_id": customer}).json()
        assert by_payload["churn_probability"] == pytest.approx(body["churn_probability"], abs=1e-9)
        assert by_payload["as_of"] is None


def test_churn_unknown_customer_is_404(client):
    answer = client.post("/predict/churn", json={"customer_id": "C9999999"})
    assert answer.status_code == 404
    assert answer.json()["field"] == "customer_id" and "C9999999" in answer.json()["error"]


def test_churn_batch(client, snap):
    ids = sorted(snap.features["customer_id"].to_list())[:20]
    model_columns = client.get("/models/churn_model").json()
    assert model_columns["version"] >= 1
    payload = _feature_payload(snap, ids[0], models.load_champion(CHURN)[0].input_columns)
    rows = [{"customer_id": c} for c in ids] + [{"features": payload}]
    answer = client.post("/predict/churn/batch", json={"customers": rows})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["count"] == 21 and [p["customer_id"] for p in body["predictions"][:20]] == ids
    assert body["predictions"][20]["churn_probability"] == pytest.approx(body["predictions"][0]["churn_probability"])
    assert client.post("/predict/churn/batch", json={"customers": [{"customer_id": ids[0]}] * 1000}).status_code == 200
    too_many = client.post("/predict/churn/batch", json={"customers": [{"customer_id": ids[0]}] * 1001})
    assert too_many.status_code == 413 and too_many.json()["field"] == "customers"
    unknown = client.post("/predict/churn/batch", json={"customers": [{"customer_id": ids[0]},
                                                                      {"customer_id": "nobody"}]})
    assert unknown.status_code == 404 and "customers[1].customer_id='nobody'" in unknown.json()["error"]
    bad_row = client.post("/predict/churn/batch", json={"customers": [{"features": payload},
                                                                      {"features": {**payload, "monetary": "x"}}]})
    assert bad_row.status_code == 400 and bad_row.json()["field"] == "customers[1].features.monetary"
    empty = client.post("/predict/churn/batch", json={"customers": []})
    assert empty.status_code == 400 and "customers" in empty.json()["error"]


def test_segment_by_id_and_payload(home, client, snap):
    segments = _warehouse(home).read_table("marts", "customer_segments", "as_of_date = ?", [snap.as_of])
    model, version = models.load_champion("customer_segmentation")
    for customer in segments["customer_id"].sort().gather([1, 99, 300]).to_list():
        body = client.post("/predict/segment", json={"customer_id": customer}).json()
        stored = segments.filter(pl.col("customer_id") == customer).row(0, named=True)
        assert (body["segment_id"], body["segment_name"], body["model_version"]) == (
            stored["segment_id"], stored["segment_name"], version)
        payload = _feature_payload(snap, customer, model.feature_columns)
        again = client.post("/predict/segment", json={"features": payload}).json()
        assert (again["segment_id"], again["customer_id"]) == (body["segment_id"], None)
    assert client.post("/predict/segment", json={"customer_id": "nobody"}).status_code == 404


def test_recommendations(home, client, snap):
    warehouse = _warehouse(home)
    recs = warehouse.read_table("marts", "product_recommendations", "as_of_date = ?", [snap.as_of])
    bought = warehouse.query(snapshots.PURCHASES_SQL, [snap.as_of])
    customer = recs.filter(pl.col("strategy") != "popular")["customer_id"].unique().sort()[10]
    mine = set(bought.filter(pl.col("customer_id") == customer)["product_id"].to_list())

    five = client.post("/recommendations", json={"customer_id": customer, "k": 5}).json()
    stored = recs.filter(pl.col("customer_id") == customer).sort("rank")["product_id"].to_list()
    assert five["source"] == "snapshot" and [i["product_id"] for i in five["items"]] == stored[:5]

    many = client.post("/recommendations", json={"customer_id": customer, "k": 40}).json()
    products = [i["product_id"] for i in many["items"]]
    assert many["source"] == "model" and len(products) == len(set(products)) == 40
    assert not set(products) & mine and [i["rank"] for i in many["items"]] == list(range(1, 41))

    cold = client.post("/recommendations", json={"customer_id": "brand-new", "k": 10}).json()
    assert cold["source"] == "cold_start" and len(cold["items"]) == 10 and cold["known_customer"] is False
    country = snap.features["country"].drop_nulls().mode().sort()[0]
    by_country = client.post("/recommendations", json={"customer_id": "brand-new", "k": 10, "country": country})
    assert by_country.status_code == 200 and len(by_country.json()["items"]) == 10

    for k in (0, 101, "ten", 2.5):
        answer = client.post("/recommendations", json={"customer_id": customer, "k": k})
        assert answer.status_code == 400 and answer.json()["fields"] == ["k"], (k, answer.text)


def test_similar_products(home, client, snap):
    similar = _warehouse(home).read_table("marts", "similar_products", "as_of_date = ?", [snap.as_of])
    product = similar["product_id"].sort()[0]
    body = client.post("/similar-products", json={"product_id": product, "k": 3}).json()
    stored = similar.filter(pl.col("product_id") == product).sort("rank")["similar_product_id"].to_list()
    assert body["source"] == "snapshot" and [i["product_id"] for i in body["items"]] == stored[:3]
    live = client.post("/similar-products", json={"product_id": product, "k": 30}).json()
    assert live["source"] == "model" and len(live["items"]) == 30 and product not in {
        i["product_id"] for i in live["items"]}
    missing = client.post("/similar-products", json={"product_id": "P-NOPE", "k": 3})
    assert missing.status_code == 404 and missing.json()["field"] == "product_id"


def test_sentiment(client):
    body = client.post("/predict/sentiment", json={"texts": [
        "Absolutely love it, excellent quality and fast delivery. Great product!",
        "Terrible. Broke after one day, awful quality, waste of money. Very disappointed.",
        "12345 !!!"]}).json()
    labels = [p["label"] for p in body["predictions"]]
    assert labels[0] == "positive" and labels[1] == "negative" and labels[2] is None
    assert body["predictions"][0]["score"] > 0 > body["predictions"][1]["score"]
    for texts in ([], ["x"] * 101, ["x" * 5001], [3]):
        answer = client.post("/predict/sentiment", json={"texts": texts})
        assert answer.status_code == 400 and "texts" in answer.json()["error"], answer.text


def test_models(client):
    listed = client.get("/models").json()
    by_name = {m["name"]: m for m in listed["models"]}
    assert set(by_name) == set(MODEL_NAMES) and listed["problems"] == {}
    for name, info in by_name.items():
        assert info["version"] == models.champion_version(name)
        assert info["trained_at"] and info["metrics"]
    assert by_name[CHURN]["metrics"]["roc_auc"] == pytest.approx(
        models.version_metrics(CHURN, by_name[CHURN]["version"])["roc_auc"])
    assert client.get("/models/product_recommender").json()["name"] == "product_recommender"
    unknown = client.get("/models/nope")
    assert unknown.status_code == 404 and unknown.json()["field"] == "name"


BAD_INPUTS = [
    ("/predict/churn", b"{not json", "body"),
    ("/predict/churn", b"[1, 2]", "body"),
    ("/predict/churn", b"{}", "customer_id or features"),
    ("/predict/churn", json.dumps({"customer_id": 42}).encode(), "customer_id"),
    ("/predict/churn", json.dumps({"customer_id": ""}).encode(), "customer_id"),
    ("/predict/churn", json.dumps({"customer_id": "x" * 129}).encode(), "customer_id"),
    ("/predict/churn", json.dumps({"customer_id": "C0000001", "cusomer": 1}).encode(), "cusomer"),
    ("/predict/churn", json.dumps({"features": {"recency_days": 1}}).encode(), "features."),
    ("/predict/churn", json.dumps({"features": [1, 2]}).encode(), "features"),
    ("/predict/churn/batch", json.dumps({"customers": "C1"}).encode(), "customers"),
    ("/predict/churn/batch", json.dumps({"customers": [{"customer_id": None}]}).encode(), "customers[0]"),
    ("/predict/segment", json.dumps({"features": {"monetary": "lots"}}).encode(), "features."),
    ("/recommendations", json.dumps({"k": 5}).encode(), "customer_id"),
    ("/recommendations", json.dumps({"customer_id": "C0000001", "k": -1}).encode(), "k"),
    ("/recommendations", b'{"customer_id": "C0000001", "k": 1000000000000000000000000000000}', "k"),
    ("/recommendations", json.dumps({"customer_id": "   "}).encode(), "customer_id"),
    ("/similar-products", json.dumps({"product_id": ["P1"]}).encode(), "product_id"),
    ("/predict/sentiment", json.dumps({"texts": "one text"}).encode(), "texts"),
    ("/predict/sentiment", json.dumps({"text": ["a"]}).encode(), "text"),
]


@pytest.mark.parametrize("path,body,field", BAD_INPUTS)
def test_bad_input_is_a_4xx_that_names_the_field(client, path, body, field):
    answer = client.post(path, content=body, headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text
    assert field in answer.json()["error"], answer.text


def test_oversized_bodies_wrong_media_type_and_methods(client):
    big = b'{"customer_id": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    declared = client.post("/predict/churn", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json()["field"] == "body"

    def chunks():
        for _ in range(48):
            yield b"x" * 65536

    chunked = client.post("/predict/churn", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    form = client.post("/predict/churn", content=b"customer_id=C0000001",
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and "application/json" in form.json()["error"]
    assert client.get("/predict/churn").status_code == 405
    assert client.post("/no/such/route", json={}).status_code == 404


def test_api_key(servers):
    with httpx.Client(base_url=servers["keyed"], timeout=15.0) as keyed:
        for path in POST_ROUTES:
            answer = keyed.post(path, json={"customer_id": "C0000001"})
            assert answer.status_code == 401 and "API key" in answer.json()["error"], path
        for path in ("/models", "/models/churn_model", "/", "/docs.json"):
            assert keyed.get(path).status_code == 401, path
        wrong = keyed.post("/predict/churn", json={"customer_id": "C0000001"}, headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
        for headers in ({"X-API-Key": API_KEY}, {"Authorization": f"Bearer {API_KEY}"}):
            assert keyed.post("/predict/churn", json={"customer_id": "C0000001"}, headers=headers).status_code == 200
            assert keyed.get("/models", headers=headers).status_code == 200
        for path in ("/healthz", "/readyz", "/metrics"):
            assert keyed.get(path).status_code == 200, path


def _samples(text: str) -> dict[tuple, float]:
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics(home, client, snap):
    before = _samples(client.get("/metrics").text)
    key_404 = ("customer_ml_requests_total", (("endpoint", "/predict/churn"), ("status", "404")))
    key_pred = ("customer_ml_predictions_total", (("model", CHURN),))
    for _ in range(3):
        client.post("/predict/churn", json={"customer_id": "nobody"})
    client.post("/predict/churn/batch", json={"customers": [{"customer_id": snap.features["customer_id"][0]}] * 5})
    after = _samples(client.get("/metrics").text)
    assert after[key_404] - before.get(key_404, 0) == 3
    assert after[key_pred] - before.get(key_pred, 0) == 5
    assert after[("customer_ml_churn_probability_count", ())] >= 5
    assert after[("customer_ml_request_latency_seconds_count", (("endpoint", "/predict/churn"),))] >= 3
    scores = _warehouse(home).read_table("marts", "churn_scores", "as_of_date = ?", [snap.as_of])
    assert after[("customer_ml_snapshot_churn_rate", ())] == pytest.approx(
        float((scores["churn_probability"] >= 0.5).mean()))
    version = models.champion_version(CHURN)
    assert after[("customer_ml_model_metric", (("metric", "roc_auc"), ("model", CHURN)))] == pytest.approx(
        models.version_metrics(CHURN, version)["roc_auc"])
    assert after[("customer_ml_snapshot_age_seconds", ())] >= 0
    assert any(name == "bentoml_service_request_total" for name, _ in after)  # BentoML's own, same registry


def test_bentoml_build_works_offline(tmp_path):
    env = {"BENTOML_HOME": str(tmp_path / "bentoml"), "DO_NOT_TRACK": "true"}
    import os

    done = subprocess.run([str(launch.BENTOML), "build", "-f", "bentos/bentofile.yaml", ".", "-o", "tag"],
                          cwd=launch.REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    built = next((tmp_path / "bentoml" / "bentos" / "customer_ml").glob("*/bento.yaml"))
    text = built.read_text()
    assert "service: bentos.service:CustomerML" in text and "/predict/churn" in text
    assert (built.parent / "src" / "customer_assets" / "serving" / "state.py").is_file()


def test_not_ready_without_a_snapshot_until_one_is_published(home, tmp_path):
    """A home whose registry has every champion but no online snapshot: alive, not ready, 503 with the reason;
    ready without a restart once a snapshot appears."""
    bare = tmp_path / "home"
    bare.mkdir()
    shutil.copy(home.home / "mlflow.db", bare / "mlflow.db")  # artifacts stay where the registry says
    port = launch.free_port()
    proc = launch.start(port, _server_env(make_settings(bare)), log=tmp_path / "server.log")
    try:
        url = f"http://127.0.0.1:{port}"
        launch.wait_ready(url, proc, path="/healthz")
        with httpx.Client(base_url=url, timeout=15.0) as c:
            deadline = time.monotonic() + 60
            while not c.get("/models").json()["models"] and time.monotonic() < deadline:
                time.sleep(0.2)  # the champions load in the background
            listed = c.get("/models").json()
            assert {m["name"] for m in listed["models"]} == set(MODEL_NAMES)
            assert listed["snapshot"] is None and "no online snapshot" in listed["problems"]["snapshot"]
            assert c.get("/readyz").status_code == 503
            answer = c.post("/predict/churn", json={"customer_id": "C0000001"})
            assert answer.status_code == 503 and "snapshot" in answer.json()["error"]
            sentiment = c.post("/predict/sentiment", json={"texts": ["fine"]})
            assert sentiment.status_code == 200  # needs no snapshot
            shutil.copytree(snapshots.online_dir(home.home), snapshots.online_dir(bare), symlinks=True)
            launch.wait_ready(url, proc, timeout=60)
            assert c.post("/predict/churn", json={"customer_id": "C0000001"}).status_code == 200
    finally:
        launch.stop(proc)
    assert proc.poll() is not None


# --- switches under load (a home and a server of their own) ---------------------------------------------


@pytest.fixture(scope="module")
def switching(shared_home, tmp_path_factory):
    """A copy of the shared home and a real server over it for the tests that switch its snapshot or champion:
    the module's home and servers stay as published, whatever order the tests run in."""
    settings = copy_home(shared_home, tmp_path_factory.mktemp("switching") / "home").settings
    with serving(settings.home, tmp_path_factory.mktemp("switching_logs") / "server.log") as url:
        with httpx.Client(base_url=url, timeout=15.0) as c:
            yield settings, c, load_snapshot(snapshots.online_dir(settings.home))


@pytest.fixture
def switching_registry(switching, home):
    """The switching home's MLflow registry for one test; the module's again afterwards (the others read it)."""
    settings = switching[0]
    models.use(settings)
    try:
        yield
    finally:
        models.use(home)


class Load:
    """Requests from a thread until stopped (bounded in count and time); every non-200 is a failure."""

    def __init__(self, url: str, customers: list[str], max_requests: int = 20000, max_seconds: float = 180):
        self.url, self.customers = url, customers
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.ok, self.failures, self.versions = 0, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)

    def _run(self):
        started = time.monotonic()
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            i = 0
            while not self._stop.is_set() and i < self.max_requests and time.monotonic() - started < self.max_seconds:
                customer = self.customers[i % len(self.customers)]
                calls = [("/predict/churn", {"customer_id": customer}),
                         ("/recommendations", {"customer_id": customer, "k": 5}),
                         ("/predict/segment", {"customer_id": customer})]
                path, body = calls[i % len(calls)]
                try:
                    answer = client.post(path, json=body)
                    if answer.status_code == 200:
                        self.ok += 1
                        if path == "/predict/churn":
                            self.versions.append(answer.json()["model_version"])
                    else:
                        self.failures.append((path, answer.status_code, answer.text[:200]))
                except httpx.HTTPError as error:
                    self.failures.append((path, "error", repr(error)))
                i += 1

    def wait_for(self, condition, timeout: float = 60.0):
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError("the service did not pick up the change in time")


def test_snapshot_switch_under_load_fails_no_request(switching):
    home, client, snap = switching
    online = snapshots.online_dir(home.home)
    customers = sorted(snap.features["customer_id"].to_list())
    dropped, kept = customers[-1], customers[:50]
    with Load(client.base_url, kept) as load:
        load.wait_for(lambda: load.ok > 30)
        # 1) The real asset publishes a new version (read from DuckDB while the service keeps serving).
        job = build_definitions(home).resolve_job_def("build_marts")
        result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=as_of_partition(home),
                                        asset_selection=[dg.AssetKey("online_snapshot")])
        assert result.success
        first = snapshots.current_version(online)
        assert first != snap.version
        load.wait_for(lambda: client.get("/models").json()["snapshot"]["version"] == first)
        # 2) A snapshot without one customer: after the switch that customer is unknown.
        _, manifest, frames = snapshots.read_snapshot(online)
        frames = {name: f.filter(pl.col("customer_id") != dropped) if "customer_id" in f.columns else f
                  for name, f in frames.items()}
        second = snapshots.write_snapshot(frames, online, {k: v for k, v in manifest.items()
                                                           if k not in ("version", "created_at", "format")})
        load.wait_for(lambda: client.get("/models").json()["snapshot"]["version"] == second.version)
        served = load.ok
        load.wait_for(lambda: load.ok > served + 30)
    assert load.failures == [], load.failures[:5]
    assert client.post("/predict/churn", json={"customer_id": dropped}).status_code == 404
    assert client.post("/predict/churn", json={"customer_id": kept[0]}).status_code == 200
    assert len(list(online.glob("v-*"))) == snapshots.DEFAULT_KEEP_VERSIONS


def test_champion_switch_under_load_fails_no_request(switching, switching_registry):
    home, client, snap = switching
    from customer_assets.defs.churn.assets import read_training_set
    from customer_assets.ml.churn import train_churn_model

    old_version = models.champion_version(CHURN)
    training = read_training_set(_warehouse(home))
    challenger = train_churn_model(training, label="churned", id_column="customer_id", seed=1,
                                   time_column="cutoff_date", families=("lightgbm",), search_budget_seconds=0,
                                   imbalance=("class_weight",), n_splits=2, max_trials_per_family=1)
    customers = sorted(snap.features["customer_id"].to_list())[:50]
    with Load(client.base_url, customers) as load:
        load.wait_for(lambda: load.ok > 30)
        logged = models.log_and_register(CHURN, challenger, {"metrics": {"roc_auc": 0.5}},
                                           registry.Decision(True, "test: switch the champion", 0.5, None))
        assert logged.promoted and logged.version == old_version + 1
        load.wait_for(lambda: client.get("/models/churn_model").json()["version"] == logged.version)
        served = load.ok
        load.wait_for(lambda: load.ok > served + 30)
    assert load.failures == [], load.failures[:5]
    assert set(load.versions) == {old_version, logged.version}
    # Answers now come from the new champion, computed from the snapshot's features.
    online = snapshots.online_dir(home.home)
    features = load_snapshot(online).features
    customer = customers[5]
    expected = challenger.explain(features.filter(pl.col("customer_id") == customer), top_k=3)
    body = client.post("/predict/churn", json={"customer_id": customer}).json()
    assert body["model_version"] == logged.version
    assert body["churn_probability"] == pytest.approx(expected["churn_probability"][0], abs=1e-9)
    assert body["top_reasons"] == expected["top_reasons"][0].to_list()
