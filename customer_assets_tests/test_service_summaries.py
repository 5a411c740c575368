"""GET /metrics/predictions and /metrics/models: JSON summaries of the real `bentoml serve` over the shared home
(read only), checked against the predictions this test makes and the champions registered in MLflow."""

import httpx
import pytest

from bentos import launch
from customer_assets.mlops import registry
from customer_assets.serving import snapshot as snapshots
from customer_assets.serving.state import CHURN, MODEL_NAMES

API_KEY = "summaries-key-123"


@pytest.fixture(scope="module")
def home(shared_home):
    settings = shared_home.settings
    registry.configure(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    return settings


@pytest.fixture(scope="module")
def base_url(home, tmp_path_factory):
    port = launch.free_port()
    env = {"CUSTOMER_ML_HOME": str(home.home), "CUSTOMER_ML_SERVE_POLL_SECONDS": "0.5",
           "CUSTOMER_ML_API_KEY": API_KEY, "MLFLOW_TRACKING_URI": "", "CUSTOMER_ML_SERVE_REQUIRED_MODELS": CHURN}
    proc = launch.start(port, env, log=tmp_path_factory.mktemp("summaries") / "server.log")
    try:
        url = f"http://127.0.0.1:{port}"
        launch.wait_ready(url, proc)
        yield url
    finally:
        launch.stop(proc)


@pytest.fixture(scope="module")
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=15.0, headers={"X-API-Key": API_KEY}) as c:
        yield c


def test_summaries_need_the_key(base_url):
    for path in ("/metrics/predictions", "/metrics/models"):
        assert httpx.get(base_url + path, timeout=15).status_code == 401


def test_prediction_summary_counts_what_was_served(client, home):
    _, _, frames = snapshots.read_snapshot(snapshots.online_dir(home.home))
    scores = frames["churn_scores"].head(7)
    before = client.get("/metrics/predictions").json()
    served = []
    for customer_id in scores["customer_id"]:
        response = client.post("/predict/churn", json={"customer_id": customer_id})
        assert response.status_code == 200, response.text
        served.append(response.json()["churn_probability"])
    assert client.post("/predict/churn", json={"customer_id": "C9999999"}).status_code == 404
    after = client.get("/metrics/predictions").json()
    assert after["predictions"][CHURN] - before["predictions"].get(CHURN, 0) == len(served)
    assert after["churn_probability"]["count"] - before["churn_probability"]["count"] == len(served)
    added = [a["count"] - b["count"] for a, b in zip(after["churn_probability"]["bins"],
                                                     before["churn_probability"]["bins"])]
    expected = [0] * 10
    for p in served:
        expected[min(int(p * 10), 9)] += 1
    assert added == expected
    assert after["total"] == sum(after["predictions"].values())


def test_model_summary_matches_the_registry(client):
    body = client.get("/metrics/models").json()
    assert body["snapshot"]["version"]
    for name in MODEL_NAMES:
        version = registry.champion_version(name)
        if version is None:
            assert name not in body["models"]
            continue
        assert body["models"][name]["version"] == version
        registered = registry.version_metrics(name, version)
        for metric, value in body["models"][name]["metrics"].items():
            assert registered[metric] == pytest.approx(value)
    assert body["models"][CHURN]["metrics"], "the churn champion has holdout metrics"
