"""GET /metrics/predictions and /metrics/models: JSON summaries of the real `bentoml serve` over the shared home
(read only), checked against the predictions this test makes and the champions registered in MLflow."""

import httpx
import pytest

from customer_assets.serving import snapshot as snapshots
from customer_assets.serving.models import CHURN, MODEL_NAMES
from customer_assets_tests.conftest import serving, RegistryInUse

models = RegistryInUse()  # the registry of the home this module's fixtures chose

API_KEY = "summaries-key-123"


@pytest.fixture(scope="module")
def home(shared_home):
    settings = shared_home.settings
    models.use(settings)
    return settings


@pytest.fixture(scope="module")
def base_url(home, tmp_path_factory):
    log = tmp_path_factory.mktemp("summaries") / "server.log"
    with serving(home.home, log, CUSTOMER_ML_API_KEY=API_KEY, CUSTOMER_ML_SERVE_REQUIRED_MODELS=CHURN) as url:
        yield url


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
        version = models.champion_version(name)
        if version is None:
            assert name not in body["models"]
            continue
        assert body["models"][name]["version"] == version
        registered = models.version_metrics(name, version)
        for metric, value in body["models"][name]["metrics"].items():
            assert registered[metric] == pytest.approx(value)
    assert body["models"][CHURN]["metrics"], "the churn champion has holdout metrics"


# --- batch scoring of an uploaded file ------------------------------------------------------------------------


def _wait_done(client, job_id: str) -> dict:
    import time

    for _ in range(600):
        body = client.get(f"/batch/{job_id}").json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    pytest.fail(f"batch job {job_id} did not finish: {body}")


def test_batch_of_customer_ids_csv_and_feature_rows_parquet(client, home):
    import io

    import polars as pl

    _, _, frames = snapshots.read_snapshot(snapshots.online_dir(home.home))
    scores = frames["churn_scores"].head(25)
    ids = [*scores["customer_id"].to_list(), "C9999999"]
    upload = pl.DataFrame({"customer_id": ids}).write_csv().encode()
    submitted = client.post("/batch/churn", content=upload, headers={"Content-Type": "text/csv"})
    assert submitted.status_code == 202, submitted.text
    done = _wait_done(client, submitted.json()["id"])
    assert done["status"] == "done" and done["rows"] == 26 and done["scored"] == 25
    result = pl.read_csv(io.BytesIO(client.get(done["result"]).content))
    assert result["customer_id"].to_list() == ids
    expected = dict(zip(scores["customer_id"], scores["churn_probability"]))
    for row in result.head(25).iter_rows(named=True):
        single = client.post("/predict/churn", json={"customer_id": row["customer_id"]}).json()
        assert row["churn_probability"] == pytest.approx(single["churn_probability"])
        assert row["churn_probability"] == pytest.approx(expected[row["customer_id"]], abs=1e-6)
    assert "unknown customer" in result.row(25, named=True)["error"]

    features = frames["features"].filter(pl.col("customer_id").is_in(scores["customer_id"].head(5).implode()))
    buffer = io.BytesIO()
    features.drop("as_of_date", "is_active").write_parquet(buffer)
    submitted = client.post("/batch/churn", content=buffer.getvalue(),
                            headers={"Content-Type": "application/octet-stream"})
    assert submitted.status_code == 202, submitted.text
    done = _wait_done(client, submitted.json()["id"])
    assert done["status"] == "done", done
    result = pl.read_csv(io.BytesIO(client.get(done["result"]).content))
    assert result["customer_id"].to_list() == features["customer_id"].to_list()
    assert result["churn_probability"].is_between(0, 1).all()


def test_batch_rejects_bad_files_with_reasons(client, base_url):
    bad = {
        b"": "empty upload",
        b"\x00\x01garbage\xff\xfe": "not a readable",
        b"customer_id\n": "no rows",
        b"PAR1 this is not parquet": "not a readable",
        b"colour\nred\n": "customer_id column",
    }
    for body, reason in bad.items():
        response = client.post("/batch/churn", content=body)
        assert response.status_code == 400, (body, response.text)
        assert reason in response.json()["error"], (body, response.json())
    too_big = b"customer_id\n" + b"C0000001\n" * 300_000  # over the 2 MiB body limit
    assert client.post("/batch/churn", content=too_big).status_code == 413


def test_batch_ids_unknown_and_from_before_a_restart(client):
    assert client.get("/batch/nonsense").status_code == 404
    restarted = client.get("/batch/0123456789ab-feedfacecafe")
    assert restarted.status_code == 410 and "restart" in restarted.json()["error"]


def test_batch_job_with_an_unknown_feature_fails_and_says_which(client):
    upload = b"customer_id,recency_days,not_a_feature\nC1,3,1\n"
    submitted = client.post("/batch/churn", content=upload)
    assert submitted.status_code == 202, submitted.text
    done = _wait_done(client, submitted.json()["id"])
    assert done["status"] == "failed" and "not_a_feature" in done["error"]
    assert client.get(f"/batch/{done['id']}/result").status_code == 409
