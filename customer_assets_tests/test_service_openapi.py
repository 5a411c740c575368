"""The OpenAPI document describes every status and body the service sends: schemathesis against the real
`bentoml serve` on 127.0.0.1 over a private copy of the shared home (bounded examples, loopback only), plus the
error bodies the review found undocumented, checked by hand against the document."""

import json
import subprocess
import sys
from pathlib import Path

import httpx
import jsonschema
import pytest

from bentos import openapi
from customer_assets.serving import snapshot as snapshots
from customer_assets_tests.conftest import copy_home, serving

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
KEY = "openapi-test-key"  # pragma: allowlist secret


@pytest.fixture(scope="module")
def service(shared_home, tmp_path_factory):
    settings = copy_home(shared_home, tmp_path_factory.mktemp("openapi") / "home").settings
    log = tmp_path_factory.mktemp("openapi-server") / "server.log"
    with serving(settings.home, log, CUSTOMER_ML_API_KEY=KEY) as url:
        yield url, settings


@pytest.fixture(scope="module")
def spec(service):
    url, _ = service
    return httpx.get(f"{url}/docs.json", headers={"X-API-Key": KEY}, timeout=30).json()


def _schemathesis(url: str, spec: dict, workdir: Path, *args: str) -> dict:
    """A bounded schemathesis run (no stateful phase, fixed seed, no example database) of the served document
    (fetched with the key: the docs need it) against `url`; asserts it found nothing."""
    report, document = workdir / "report.json", workdir / "openapi.json"
    document.write_text(json.dumps(spec))
    command = [
        str(SCHEMATHESIS),
        "run",
        str(document),
        "--url",
        url,
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "18",
        "--generation-database",
        "none",
        "--workers",
        "2",
        "--no-color",
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *args,
    ]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(report.read_text())
    assert result["failures"] == [] and result["errors"] == [] and done.returncode == 0, done.stdout[-6000:]
    return result


def test_schemathesis_finds_no_undocumented_status_or_body(service, spec, tmp_path):
    url, _ = service
    result = _schemathesis(url, spec, tmp_path, "--max-examples", "40", "-H", f"X-API-Key: {KEY}")
    operations = result["operations"]
    assert operations["tested"] == operations["total"] == len(openapi.STATUSES), operations
    assert result["complete"] and result["test_cases"]["generated"] >= 500, result["test_cases"]


def test_schemathesis_without_the_key_gets_documented_401s(service, spec, tmp_path):
    url, _ = service
    result = _schemathesis(url, spec, tmp_path, "--max-examples", "3", "--phases", "fuzzing")
    assert result["operations"]["tested"] == len(openapi.STATUSES)


def _validator(spec: dict, schema: dict) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


def _check(spec: dict, method: str, path: str, response: httpx.Response) -> dict:
    """The answer's status is documented for the operation and its body is valid under the documented schema."""
    responses = spec["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in responses, (method, path, status, response.text)
    schema = responses[status]["content"]["application/json"]["schema"]
    body = response.json()
    _validator(spec, schema).validate(body)
    return body


def test_the_reviewed_error_bodies_are_documented(service, spec):
    url, settings = service
    headers = {"X-API-Key": KEY}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        for path in (
            "/predict/churn",
            "/predict/churn/batch",
            "/predict/segment",
            "/predict/sentiment",
            "/recommendations",
            "/similar-products",
            "/predict/value",
        ):
            answer = client.post(path, json={"no_such_field": 1})
            assert answer.status_code == 400, (path, answer.text)
            body = _check(spec, "post", path, answer)
            assert isinstance(body["error"], str) and "no_such_field" in body["error"], body
            assert isinstance(body["detail"], list) and body["fields"], body
        # The error schema is strict enough to catch the old shape (detail a string, no `error`).
        error = spec["components"]["schemas"]["Error"]
        assert not _validator(spec, error).is_valid({"detail": "Extra inputs are not permitted"})

        missing = client.get("/models/no_such_model")
        assert missing.status_code == 404
        assert "no_such_model" in _check(spec, "get", "/models/{name}", missing)["error"]
        bad_pin = client.post("/models/churn_model/load", json={"version": "two"})
        assert bad_pin.status_code == 422
        assert "version" in _check(spec, "post", "/models/{name}/load", bad_pin)["fields"]
        # A path parameter no route matches (a newline in it): Starlette's plain-text 404, answered as Error.
        unmatched = client.get("/models/a%0Ab")
        assert unmatched.status_code == 404 and _check(spec, "get", "/models/{name}", unmatched)["error"]
        for raw in (b"{not json", b"\xff\xfe", "\ufffd\ufffd".encode()):  # FastAPI: 422 or 400 by the error
            broken = client.post("/models/churn_model/load", content=raw, headers={"content-type": "application/json"})
            assert broken.status_code in (400, 422) and _check(spec, "post", "/models/{name}/load", broken)["error"]
        unknown = client.post("/predict/churn", json={"customer_id": "C9999999"})
        assert unknown.status_code == 404 and _check(spec, "post", "/predict/churn", unknown)["field"] == "customer_id"

        # Real answers: a known customer, and a payload answer whose customer_id is null.
        _, _, frames = snapshots.read_snapshot(snapshots.online_dir(settings.home))
        customer = frames["churn_scores"]["customer_id"][0]
        known = client.post("/predict/churn", json={"customer_id": customer})
        assert known.status_code == 200 and _check(spec, "post", "/predict/churn", known)["customer_id"] == customer
        model = client.get("/models/churn_model")
        assert model.status_code == 200 and _check(spec, "get", "/models/{name}", model)["name"] == "churn_model"
        value = client.post(
            "/predict/value", json={"summary": {"orders": 3, "days_since_first": 200, "days_since_last": 20}}
        )
        assert value.status_code == 200 and _check(spec, "post", "/predict/value", value)["customer_id"] is None
    unauthorized = httpx.get(f"{url}/models", timeout=30)
    assert unauthorized.status_code == 401 and _check(spec, "get", "/models", unauthorized)["error"]
    ready = httpx.get(f"{url}/readyz", timeout=30)
    assert ready.status_code == 200 and _check(spec, "get", "/readyz", ready)["ready"] is True


def test_an_undocumented_route_is_an_error():
    spec = {"openapi": "3.0.2", "paths": {"/new": {"get": {"responses": {"200": {"description": "OK"}}}}}}
    with pytest.raises(KeyError, match="GET /new"):
        openapi.complete(spec)
