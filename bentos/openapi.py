"""The OpenAPI document the service serves at /docs.json, made to say what the service really answers.

BentoML generates the document from the APIs and the mounted FastAPI app, but it documents 400/404/500 with a
`detail` string for every BentoML API, drops the `null` of optional fields in their request and response
schemas, and knows nothing of the statuses the Gate middleware or the handlers send (401, 413, 415, 409, 410,
429, 503, 404 on the GET routes). `complete(spec)` rewrites it:

- every error answer has one schema, `Error`: `error` (a readable sentence, always), `field` (the input it
  names, or null), `fields` (every input named by a validation error) and `detail` (pydantic's list of
  validation errors, kept for programs);
- each operation lists exactly the statuses it can send (STATUSES below, checked against the routes: a route
  missing from the table is an error, so a new route cannot go undocumented);
- the request and response schemas of the BentoML APIs are pydantic's own (nullable fields, forbidden extras);
- the document is OpenAPI 3.1 (its schemas are JSON Schema 2020-12, which is what pydantic and FastAPI emit).

The Gate rewrites every 4xx/5xx body into `Error` (bentos.gate.error_body: readable validation errors, and
Starlette's plain-text 404 for a path no route matches wrapped), so the bodies and the document agree;
customer_assets_tests/test_service_openapi.py runs schemathesis against the live service.
"""

from __future__ import annotations

import copy

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bentos import schemas

REF = "#/components/schemas/{model}"

ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "description": "Every error answer of the service (4xx and 5xx).",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What is wrong, naming the input (`k: Input should be ...`)."},
        "field": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "The input it names."},
        "fields": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Every input named by a validation error.",
        },
        "detail": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ValidationError"},
            "description": "pydantic's validation errors, for programs.",
        },
    },
}
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "title": "ValidationError",
    "required": ["loc", "msg", "type"],
    "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
        "type": {"type": "string"},
        "input": {},
        "ctx": {"type": "object"},
        "url": {"type": "string"},
    },
}
READINESS_SCHEMA = {
    "type": "object",
    "title": "Readiness",
    "required": ["ready", "blocking", "served_models", "missing_models", "problems"],
    "properties": {
        "ready": {"type": "boolean"},
        "blocking": {
            "type": "array",
            "items": {"type": "string"},
            "description": "What is required (CUSTOMER_ML_SERVE_REQUIRED_MODELS) and not loaded.",
        },
        "served_models": {"type": "array", "items": {"type": "string"}},
        "missing_models": {"type": "array", "items": {"type": "string"}},
        "problems": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
BATCH_JOB_SCHEMA = {
    "type": "object",
    "title": "BatchJob",
    "required": ["id", "status"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "rows": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "error": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
}
PIN_ANSWER_SCHEMA = {
    "type": "object",
    "title": "PinAnswer",
    "required": ["name", "pinned", "serving"],
    "properties": {
        "name": {"type": "string"},
        "pinned": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "serving": {"anyOf": [{"$ref": "#/components/schemas/ModelInfo"}, {"type": "null"}]},
    },
}

REASONS = {
    400: "Invalid input (names the field)",
    401: "Missing or wrong API key (when CUSTOMER_ML_API_KEY is set)",
    404: "Not found (customer, product, model, version or job)",
    409: "The batch job is not done",
    410: "The batch job is from before a restart",
    413: "Body or batch too large",
    415: "Not JSON (send Content-Type: application/json)",
    422: "Invalid path, query or body",
    429: "Too many batch jobs queued or running",
    500: "Internal error (a bug: never for bad input)",
    503: "Not loaded yet (snapshot or model)",
}

# The BentoML APIs (POST, JSON body): their request and response models.
BENTO_APIS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "/predict/churn": (schemas.ChurnRequest, schemas.ChurnResponse),
    "/predict/churn/batch": (schemas.ChurnBatchRequest, schemas.ChurnBatchResponse),
    "/predict/segment": (schemas.SegmentRequest, schemas.SegmentResponse),
    "/recommendations": (schemas.RecommendationRequest, schemas.RecommendationResponse),
    "/similar-products": (schemas.SimilarProductsRequest, schemas.SimilarProductsResponse),
    "/predict/sentiment": (schemas.SentimentRequest, schemas.SentimentResponse),
    "/predict/value": (schemas.ValueRequest, schemas.ValueResponse),
}
_BENTO_STATUSES = (200, 400, 401, 404, 413, 415, 500, 503)
_PROBE = (200,)
# (method, path) -> every status the operation can answer. 401 only when an API key is configured; the probes
# and /metrics are always open (bentos.gate.OPEN_PATHS).
STATUSES: dict[tuple[str, str], tuple[int, ...]] = {
    **{("post", path): _BENTO_STATUSES for path in BENTO_APIS},
    ("get", "/healthz"): _PROBE,
    ("get", "/livez"): _PROBE,
    ("get", "/readyz"): (200, 503),
    ("get", "/metrics"): _PROBE,
    ("get", "/retention-targets"): (200, 400, 401, 503),
    ("get", "/models"): (200, 401),
    ("get", "/models/{name}"): (200, 401, 404),
    ("post", "/models/{name}/load"): (200, 400, 401, 404, 413, 422),
    ("delete", "/models/{name}/pin"): (200, 401, 404),
    ("post", "/batch/churn"): (202, 400, 401, 413, 429),
    ("get", "/batch/{job_id}"): (200, 401, 404, 410),
    ("get", "/batch/{job_id}/result"): (200, 401, 404, 409, 410),
    ("get", "/metrics/predictions"): (200, 401),
    ("get", "/metrics/models"): (200, 401),
}
# Success bodies that are not JSON, or whose JSON schema BentoML/FastAPI left empty.
SUCCESS_CONTENT = {
    ("get", "/healthz"): {"text/plain": {"schema": {"type": "string"}}},
    ("get", "/livez"): {"text/plain": {"schema": {"type": "string"}}},
    ("get", "/metrics"): {"text/plain": {"schema": {"type": "string"}}},
    ("get", "/readyz"): {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}},
    ("get", "/models/{name}"): {"application/json": {"schema": {"$ref": "#/components/schemas/ModelInfo"}}},
    ("post", "/models/{name}/load"): {"application/json": {"schema": {"$ref": "#/components/schemas/PinAnswer"}}},
    ("delete", "/models/{name}/pin"): {"application/json": {"schema": {"$ref": "#/components/schemas/PinAnswer"}}},
    ("post", "/batch/churn"): {"application/json": {"schema": {"$ref": "#/components/schemas/BatchJob"}}},
    ("get", "/batch/{job_id}"): {"application/json": {"schema": {"$ref": "#/components/schemas/BatchJob"}}},
    ("get", "/batch/{job_id}/result"): {"text/csv": {"schema": {"type": "string"}}},
    ("get", "/metrics/predictions"): {"application/json": {"schema": {"type": "object"}}},
    ("get", "/metrics/models"): {"application/json": {"schema": {"type": "object"}}},
}
BATCH_BODY = {
    "required": True,
    "description": "A CSV or Parquet file: a customer_id column or feature columns.",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}
METHODS = ("get", "post", "put", "patch", "delete")


def _error_response(status: int) -> dict:
    return {
        "description": REASONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _pydantic_schemas() -> tuple[dict, dict]:
    """({(model, mode): {"$ref": ...}}, {name: schema}) for every BentoML API model."""
    models = [(request, "validation") for request, _ in BENTO_APIS.values()]
    models += [(response, "serialization") for _, response in BENTO_APIS.values()]
    refs, top = models_json_schema(models, ref_template=REF)
    return refs, top.get("$defs", {})


def complete(spec: dict) -> dict:
    """A copy of BentoML's document (`spec`) describing every status and body the service sends."""
    spec = copy.deepcopy(spec)
    spec["openapi"] = "3.1.0"
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    refs, definitions = _pydantic_schemas()
    components.update(definitions)
    for name in ("InvalidArgument", "NotFound", "InternalServerError", "HTTPValidationError"):
        components.pop(name, None)
    for name in [n for n in components if n.endswith("IODescriptor")]:
        components.pop(name)
    components.update(
        {
            "Error": ERROR_SCHEMA,
            "ValidationError": VALIDATION_ERROR_SCHEMA,
            "Readiness": READINESS_SCHEMA,
            "BatchJob": BATCH_JOB_SCHEMA,
            "PinAnswer": PIN_ANSWER_SCHEMA,
        }
    )
    spec.setdefault("components", {})["securitySchemes"] = {
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "bearer": {"type": "http", "scheme": "bearer"},
    }

    seen = set()
    for path, item in spec.get("paths", {}).items():
        for method in [m for m in item if m in METHODS]:
            key = (method, path)
            if key not in STATUSES:
                raise KeyError(f"{method.upper()} {path} is served but bentos/openapi.py does not document it")
            seen.add(key)
            operation = item[method]
            old = operation.get("responses", {})
            responses = {}
            for status in STATUSES[key]:
                if status in (200, 202):
                    success = copy.deepcopy(old.get(str(status)) or {"description": "OK"})
                    success["description"] = "OK" if status == 200 else "Accepted"
                    if key in SUCCESS_CONTENT:
                        success["content"] = SUCCESS_CONTENT[key]
                    responses[str(status)] = success
                else:
                    responses[str(status)] = _error_response(status)
            if method == "post" and path in BENTO_APIS:
                request, response = BENTO_APIS[path]
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": refs[(request, "validation")]}},
                }
                responses["200"]["content"] = {"application/json": {"schema": refs[(response, "serialization")]}}
            if key == ("post", "/batch/churn"):
                operation["requestBody"] = BATCH_BODY
            if 401 in STATUSES[key]:
                operation["security"] = [{"apiKey": []}, {"bearer": []}, {}]
            operation["responses"] = responses
    missing = set(STATUSES) - seen
    if missing:
        raise KeyError(f"documented but not served: {sorted(missing)}")
    return spec
