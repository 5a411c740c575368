"""Pinning a model version over HTTP (rollback) on the real `bentoml serve`, over a private copy of the shared home
with a second registered churn_model version: pin, serve under load with zero failed requests, unpin, bad pins."""

import threading

import httpx
import pytest

from customer_assets.serving import snapshot as snapshots
from customer_assets.serving.models import CHURN
from customer_assets_tests.conftest import copy_home, serving, RegistryInUse

models = RegistryInUse()  # the registry of the home this module's fixtures chose


@pytest.fixture(scope="module")
def home(shared_home, tmp_path_factory):
    settings = copy_home(shared_home, tmp_path_factory.mktemp("pins") / "home").settings
    models.use(settings)
    champion = models.champion_version(CHURN)
    details = models.client.get_model_version(CHURN, str(champion))
    extra = models.client.create_model_version(CHURN, source=details.source, run_id=details.run_id)
    return settings, champion, int(extra.version)


@pytest.fixture(scope="module")
def client(home, tmp_path_factory):
    settings, _, _ = home
    log = tmp_path_factory.mktemp("pins-server") / "server.log"
    with serving(settings.home, log, CUSTOMER_ML_SERVE_REQUIRED_MODELS=CHURN) as url, \
            httpx.Client(base_url=url, timeout=30.0) as c:
        yield c


def _served(client) -> tuple[int, dict]:
    body = client.get("/models").json()
    return next(m["version"] for m in body["models"] if m["name"] == CHURN), body["pinned"]


def test_pin_under_load_then_unpin_without_a_failed_request(client, home):
    settings, champion, extra = home
    _, _, frames = snapshots.read_snapshot(snapshots.online_dir(settings.home))
    customers = frames["churn_scores"]["customer_id"].head(20).to_list()
    assert _served(client) == (champion, {})
    failures, answered, stop = [], [0], threading.Event()

    def hammer():
        with httpx.Client(base_url=str(client.base_url), timeout=30.0) as own:
            i = 0
            while not stop.is_set():
                response = own.post("/predict/churn", json={"customer_id": customers[i % len(customers)]})
                if response.status_code != 200:
                    failures.append((response.status_code, response.text))
                answered[0] += 1
                i += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(2):
            pinned = client.post(f"/models/{CHURN}/load", json={"version": extra})
            assert pinned.status_code == 200, pinned.text
            assert pinned.json()["serving"]["version"] == extra
            assert _served(client) == (extra, {CHURN: extra})
            unpinned = client.delete(f"/models/{CHURN}/pin")
            assert unpinned.status_code == 200, unpinned.text
            assert _served(client) == (champion, {})
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert answered[0] > 0 and failures == []


def test_bad_pins_answer_4xx_with_a_reason_and_keep_serving(client, home):
    _, champion, _ = home
    missing = client.post(f"/models/{CHURN}/load", json={"version": 999})
    assert missing.status_code == 404 and "999" in missing.json()["error"]
    assert _served(client) == (champion, {})
    unknown = client.post("/models/no_such_model/load", json={"version": 1})
    assert unknown.status_code == 404 and "no_such_model" in unknown.json()["error"]
    for body in ({"version": 0}, {"version": "two"}, {}, {"version": 1, "extra": True}):
        response = client.post(f"/models/{CHURN}/load", json=body)
        assert 400 <= response.status_code < 500 and response.text, body
    not_pinned = client.delete(f"/models/{CHURN}/pin")
    assert not_pinned.status_code == 404 and "not pinned" in not_pinned.json()["error"]
    assert client.post("/predict/churn", json={"customer_id": "C9999999"}).status_code == 404
