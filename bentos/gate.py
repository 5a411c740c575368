"""ASGI middleware in front of every route: API key, body size limit, request metrics, readable 400s.

- API key: when CUSTOMER_ML_API_KEY is set, every path except the probes and the metrics
  (OPEN_PATHS: /healthz, /livez, /readyz, /metrics) needs `X-API-Key: <key>` or `Authorization: Bearer <key>`,
  else 401. The docs at / need it too.
- Body size: a request body above CUSTOMER_ML_SERVE_MAX_BODY_BYTES (default 2 MiB) is a 413, checked on the
  declared Content-Length and on the bytes actually read (chunked bodies).
- Metrics: customer_ml_requests_total{endpoint,status} and customer_ml_request_latency_seconds{endpoint};
  unknown paths count as endpoint="other" so a scanner cannot blow up the label set.
- BentoML answers invalid input with a 400 whose `detail` is pydantic's error list (FastAPI's routes with a 422):
  the body is rewritten so `error` says which field and why (`customer_id: Field required`), `fields` lists them,
  `detail` stays; every error body is then the `Error` schema of the OpenAPI document.
- GET /docs.json: BentoML's OpenAPI document completed by bentos.openapi (every status and error body).
"""

from __future__ import annotations

import hmac
import json
import time

from customer_assets.config import serve_settings

OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
POST_ROUTES = frozenset(
    {
        "/predict/churn",
        "/predict/churn/batch",
        "/predict/segment",
        "/recommendations",
        "/similar-products",
        "/predict/sentiment",
        "/predict/value",
    }
)
JSON_TYPES = ("application/json", "")
ENDPOINTS = frozenset(
    {
        "/predict/churn",
        "/predict/churn/batch",
        "/predict/segment",
        "/recommendations",
        "/similar-products",
        "/predict/sentiment",
        "/models",
        "/healthz",
        "/livez",
        "/readyz",
        "/metrics",
        "/",
        "/docs.json",
        "/schema.json",
        "/predict/value",
        "/retention-targets",
    }
)


def endpoint_label(path: str) -> str:
    if path in ENDPOINTS:
        return path
    if path.startswith("/models/") and path.count("/") == 2:
        return "/models/{name}"
    return "other"


def max_body_bytes() -> int:
    return serve_settings().max_body_bytes


def _field_name(loc) -> str:
    parts = []
    for part in loc or ():
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part in ("body", "root") or str(part).startswith(("function-", "constrained-")):
            continue
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)


def readable_validation_error(body: dict) -> dict:
    """{"error": "k: Input should be less than or equal to 100", "fields": ["k"], "detail": [...]}"""
    if isinstance(body, dict) and "field" in body:  # the service's own 400: already names its field
        return body
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail and all(isinstance(d, dict) and "msg" in d for d in detail):
        fields, messages = [], []
        for item in detail:
            name = _field_name(item.get("loc"))
            msg = str(item["msg"]).removeprefix("Value error, ")
            if not name and "customer_id" in msg and "features" in msg:
                name = "customer_id or features"
            elif not name and "customer_id" in msg and "summary" in msg:
                name = "customer_id or summary"
            fields.append(name or "body")
            messages.append(f"{name or 'body'}: {msg}")
        return {"error": "invalid request: " + "; ".join(messages), "fields": fields, "detail": detail}
    if isinstance(detail, list) and len(detail) == 1 and isinstance(detail[0], dict) and "error" in detail[0]:
        detail = detail[0]["error"]
    if isinstance(body, list) and body and isinstance(body[0], dict) and "error" in body[0]:
        detail = body[0]["error"]
    text = str(body.get("error") if isinstance(body, dict) and body.get("error") else detail)
    return {"error": "invalid request body: " + text, "fields": ["body"]}


# The service registers a function answering (status, body) for GET /readyz: BentoML's own probe route answers
# a bare 503 and cannot be overridden by a mounted app, and a readiness answer should say what is missing.
_readiness = None


def provide_readiness(answer) -> None:
    global _readiness
    _readiness = answer


class Gate:
    def __init__(self, app, api_key: str | None = None, max_body: int | None = None):
        self.app = app
        self.api_key = (api_key if api_key is not None else serve_settings().api_key) or None
        self.max_body = max_body or max_body_bytes()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from bentos.telemetry import metrics  # noqa: PLC0415 - see telemetry: created inside the worker

        path = scope.get("path", "")
        endpoint = endpoint_label(path)
        started = time.perf_counter()
        status = {"code": 500}

        async def record(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            if self.api_key and path not in OPEN_PATHS and not self._authorized(scope):
                await _json(
                    record,
                    401,
                    {"error": "missing or wrong API key: send X-API-Key: <key> or Authorization: Bearer <key>"},
                    extra_headers=[(b"www-authenticate", b'Bearer realm="customer-ml"')],
                )
                return
            if path == "/readyz" and scope.get("method") == "GET" and _readiness is not None:
                code, payload = _readiness()
                await _json(record, code, payload)
                return
            if scope.get("method") in ("POST", "PUT", "PATCH"):
                declared = _header(scope, b"content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_body:
                    await _json(
                        record,
                        413,
                        {
                            "error": f"body: {declared} bytes is above the limit of {self.max_body} bytes",
                            "field": "body",
                        },
                    )
                    return
                body, too_big = await _read_body(receive, self.max_body)
                if too_big:
                    await _json(
                        record, 413, {"error": f"body: above the limit of {self.max_body} bytes", "field": "body"}
                    )
                    return
                media_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
                if path in POST_ROUTES and media_type not in JSON_TYPES and not media_type.endswith("+json"):
                    await _json(
                        record,
                        415,
                        {
                            "error": f"body: send JSON with Content-Type: application/json (got {media_type})",
                            "field": "body",
                        },
                    )
                    return
                receive = _replay(body, receive)
                await self.app(scope, receive, _RewriteBadRequest(record))
            elif path == "/docs.json" and scope.get("method") == "GET":
                await self.app(scope, receive, _RewriteBody(record, _completed_spec, statuses=(200,)))
            else:
                await self.app(scope, receive, _RewriteBadRequest(record))
        finally:
            m = metrics()
            m.requests.labels(endpoint=endpoint, status=str(status["code"])).inc()
            m.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)

    def _authorized(self, scope) -> bool:
        given = _header(scope, b"x-api-key")
        if given is None:
            auth = _header(scope, b"authorization") or ""
            if auth[:7].lower() == "bearer ":
                given = auth[7:].strip()
        return given is not None and hmac.compare_digest(given.encode(), self.api_key.encode())


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _read_body(receive, limit: int) -> tuple[bytes, bool]:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes, receive):
    sent = {"done": False}

    async def replayed():
        if not sent["done"]:
            sent["done"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _json(send, status: int, payload: dict, extra_headers=()):
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data, "more_body": False})


def _completed_spec(raw: bytes, status: int) -> dict:
    from bentos.openapi import complete  # noqa: PLC0415

    global _spec_cache
    spec = json.loads(raw)
    if _spec_cache is None or _spec_cache[0] != spec:
        _spec_cache = (spec, complete(spec))
    return _spec_cache[1]


_spec_cache = None


class _RewriteBody:
    """Buffers a response with one of `statuses` and sends `rewrite(body, status)` instead (a JSON body); passes
    anything else through."""

    def __init__(self, send, rewrite, statuses=range(400, 600)):
        self.send = send
        self.rewrite = rewrite
        self.statuses = statuses
        self.start = None
        self.chunks = []

    async def __call__(self, message):
        if message["type"] == "http.response.start":
            if message["status"] in self.statuses:
                self.start = message
                return
            return await self.send(message)
        if self.start is None or message["type"] != "http.response.body":
            return await self.send(message)
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        data = json.dumps(self.rewrite(b"".join(self.chunks), self.start["status"])).encode()
        headers = [
            (k, v) for k, v in self.start.get("headers", []) if k.lower() not in (b"content-length", b"content-type")
        ]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": data, "more_body": False})


def error_body(raw: bytes, status: int) -> dict:
    """Every error answer as the document's `Error` ({"error": str, ...}): validation errors made readable,
    the service's own errors as they are, anything else (Starlette's plain-text 404 for a path no route matches,
    a 405) wrapped."""
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if status in (400, 422) and isinstance(payload, (dict, list)):
        payload = readable_validation_error(payload)
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return payload
    text = raw.decode("utf-8", "replace").strip() if payload is None else json.dumps(payload)
    return {"error": text or f"HTTP {status}", "field": None}


def _RewriteBadRequest(send) -> _RewriteBody:  # noqa: N802 - reads as the wrapper it returns
    """Every 4xx/5xx answer sent back as the `Error` schema (error_body)."""
    return _RewriteBody(send, error_body)
