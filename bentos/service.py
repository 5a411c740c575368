"""customer-ml live scoring: a BentoML service over the champion models and the published online snapshot.

    bentoml serve bentos.service:CustomerML --host 127.0.0.1 --port 3001      (or `make serve`)

The service never opens the warehouse (DuckDB allows one writer or several readers, never both): it reads the
online snapshot that the `online_snapshot` asset publishes under $CUSTOMER_ML_HOME/online/, and loads the
champions from the MLflow registry by alias. A poller (every CUSTOMER_ML_SERVE_POLL_SECONDS, default 5) looks at
the snapshot's `current` pointer and the `champion` aliases and swaps in a fully built new state when either
moved (customer_assets.serving.reload), so a new snapshot or champion is picked up without a restart and
without failing a request.

POST /predict/churn, /predict/churn/batch (<= CUSTOMER_ML_SERVE_MAX_BATCH_ROWS rows, default 1000),
/predict/segment, /recommendations, /similar-products, /predict/sentiment, /predict/value; GET
/retention-targets?limit=N (the ranked worklist, 1-1000, default 50), /models, /models/{name},
/metrics/predictions and /metrics/models (JSON summaries for people); POST /models/{name}/load {"version": N}
pins a registered version (rollback) until DELETE /models/{name}/pin (pins are per process: a restart serves
the champions again); POST /batch/churn (CSV/Parquet body, see bentos/batch.py) -> job id, GET /batch/{id},
GET /batch/{id}/result,
/healthz, /readyz (200 once the snapshot and every required champion are loaded; names missing models), /metrics.
Errors: 400 invalid input (names the field), 401 API key, 404 unknown customer/product/model, 413 too large,
503 not loaded yet. Never a 500 for bad input.
"""

from __future__ import annotations

import dataclasses
import logging

import bentoml
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from bentos.batch import BatchError, BatchJobs
from bentos.gate import Gate, provide_readiness
from bentos.schemas import (
    MAX_BATCH_ROWS,
    ChurnBatchRequest,
    ChurnBatchResponse,
    ChurnRequest,
    ChurnResponse,
    ModelsResponse,
    PinRequest,
    RecommendationRequest,
    RecommendationResponse,
    RetentionTargetsResponse,
    SegmentRequest,
    SegmentResponse,
    SentimentRequest,
    SentimentResponse,
    SimilarProductsRequest,
    SimilarProductsResponse,
    ValueRequest,
    ValueResponse,
)
from bentos.summaries import PredictionLog, models_summary
from customer_assets.serving.pins import PinnedModelSource

logger = logging.getLogger("customer_ml.service")

# GET routes live in a FastAPI app mounted beside the BentoML APIs (BentoML APIs are POST only).
reads = FastAPI(title="customer-ml models", docs_url=None, redoc_url=None, openapi_url=None)


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": (f"{field}: " if field else "") + message, "field": field}, status_code=status)


def _failure(error) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


@bentoml.service(
    name="customer_ml",
    workers=1,
    traffic={"timeout": 30, "max_concurrency": 256},
    http={"port": 3001},
)
@bentoml.asgi_app(reads, path="/")
class CustomerML:
    def __init__(self) -> None:
        from bentos.telemetry import metrics
        from customer_assets.config import load_settings
        from customer_assets.serving import snapshot as snapshots
        from customer_assets.serving.models import LazyMlflowModelSource
        from customer_assets.serving.reload import Poller, StateLoader, poll_seconds, required_models

        settings = load_settings()
        self.required = required_models()
        self.metrics = metrics()
        self.prediction_log = PredictionLog()
        self.pins = PinnedModelSource(
            LazyMlflowModelSource(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
        )
        self.loader = StateLoader(snapshots.online_dir(settings.home), self.pins)
        self.batches = BatchJobs(lambda: self.loader.state)
        # The first load runs in the poller too: /healthz answers at once, /readyz once everything is loaded.
        self.poller = Poller(self.loader, poll_seconds(), on_refresh=self._update_gauges).start()
        provide_readiness(self._readiness)
        logger.info("customer-ml service: home %s, polling every %ss", settings.home, self.poller.interval)

    # --- lifecycle ------------------------------------------------------------------------------------

    def __is_ready__(self) -> bool:
        return not self.loader.state.missing(self.required)

    @bentoml.on_shutdown
    def _stop(self) -> None:
        self.poller.stop()
        self.batches.shutdown()

    def _update_gauges(self, state) -> None:
        m = self.metrics
        if state.snapshot is not None:
            if state.snapshot.churn_rate is not None:
                m.snapshot_churn_rate.set(state.snapshot.churn_rate)
            age = state.snapshot.age_seconds()
            if age is not None:
                m.snapshot_age.set(age)
        for name, champion in state.champions.items():
            for metric, value in champion.holdout_metrics().items():
                m.model_metric.labels(model=name, metric=metric).set(value)

    def _count(self, model: str, n: int = 1) -> None:
        self.metrics.predictions.labels(model=model).inc(n)
        self.prediction_log.count(model, n)

    def _answer(self, lookup, response_type, model: str, predictions: int = 1):
        """One lookup on the loaded state: a RequestError becomes its 4xx; an answer counts its predictions."""
        from customer_assets.serving.validation import RequestError

        try:
            result = lookup(self.loader.state)
        except RequestError as error:
            return _failure(error)
        self._count(model, predictions)
        return response_type(**result)

    def _churn_out(self, results) -> list[dict]:
        for result in results:
            self.metrics.churn_probability.observe(result.churn_probability)
            self.prediction_log.churn_probability(result.churn_probability)
        self._count("churn_model", len(results))
        return [r.as_dict() for r in results]

    # --- churn ----------------------------------------------------------------------------------------

    @bentoml.api(route="/predict/churn")
    def predict_churn(self, request: ChurnRequest, /) -> ChurnResponse:
        """Churn risk of one customer: by `customer_id` (features from the online snapshot, scored by the
        loaded champion) or from a `features` payload. 404 when the customer is not in the snapshot."""
        from customer_assets.serving.validation import RequestError

        state = self.loader.state
        try:
            if request.features is not None:
                result = state.churn_from_features([request.features])[0]
                result = dataclasses.replace(result, customer_id=request.customer_id)
            else:
                result = state.churn_by_customer(request.customer_id)
        except RequestError as error:
            return _failure(error)
        return ChurnResponse(**self._churn_out([result])[0])

    @bentoml.api(route="/predict/churn/batch")
    def predict_churn_batch(self, request: ChurnBatchRequest, /) -> ChurnBatchResponse:
        """Churn risk of up to CUSTOMER_ML_SERVE_MAX_BATCH_ROWS (1000) rows, each a customer_id or a features
        payload; 413 above the limit; 404 naming the first unknown customers."""
        from customer_assets.serving.models import CHURN
        from customer_assets.serving.validation import RequestError

        rows = request.customers
        if len(rows) > MAX_BATCH_ROWS:
            return _error(413, f"{len(rows)} rows is above the limit of {MAX_BATCH_ROWS} per request", "customers")
        state = self.loader.state
        try:
            champion = state.champion(CHURN)
            results = [None] * len(rows)
            unknown = []
            for i, row in enumerate(rows):
                if row.features is None:
                    try:
                        results[i] = state.churn_by_customer(row.customer_id, f"customers[{i}].customer_id")
                    except RequestError as error:
                        if error.status != 404:
                            raise
                        unknown.append(f"customers[{i}].customer_id={row.customer_id!r}")
            if unknown:
                more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
                return _error(404, f"unknown customers: {', '.join(unknown[:5])}{more}", "customers")
            payload_rows = [i for i, row in enumerate(rows) if row.features is not None]
            if payload_rows:
                scored = _scored_payloads(state, [rows[i].features for i in payload_rows], payload_rows)
                for i, result in zip(payload_rows, scored):
                    results[i] = dataclasses.replace(result, customer_id=rows[i].customer_id)
        except RequestError as error:
            return _failure(error)
        out = self._churn_out(results)
        return ChurnBatchResponse(
            predictions=[ChurnResponse(**r) for r in out], count=len(out), model_version=champion.version
        )

    # --- segments -------------------------------------------------------------------------------------

    @bentoml.api(route="/predict/segment")
    def predict_segment(self, request: SegmentRequest, /) -> SegmentResponse:
        """Segment of one customer by `customer_id` (snapshot features) or from a `features` payload."""

        def lookup(state):
            if request.features is not None:
                return state.segment_from_features(request.features, request.customer_id)
            return state.segment_by_customer(request.customer_id)

        return self._answer(lookup, SegmentResponse, "customer_segmentation")

    # --- recommendations ------------------------------------------------------------------------------

    @bentoml.api(route="/recommendations")
    def recommendations(self, request: RecommendationRequest, /) -> RecommendationResponse:
        """Top-k products (k 1-100) a customer has not bought; a customer unknown to the model gets the
        popular list of their country (from the snapshot, or `country`), else the global one."""
        return self._answer(
            lambda state: state.recommend(request.customer_id, request.k, request.country),
            RecommendationResponse,
            "product_recommender",
        )

    @bentoml.api(route="/similar-products")
    def similar_products(self, request: SimilarProductsRequest, /) -> SimilarProductsResponse:
        """The k (1-100) products most similar to `product_id`; 404 for a product outside the catalog."""
        return self._answer(
            lambda state: state.similar_products(request.product_id, request.k),
            SimilarProductsResponse,
            "product_recommender",
        )

    # --- sentiment ------------------------------------------------------------------------------------

    @bentoml.api(route="/predict/sentiment")
    def predict_sentiment(self, request: SentimentRequest, /) -> SentimentResponse:
        """Sentiment (negative / neutral / positive and a score in [-1, 1]) of 1 to 100 texts."""
        return self._answer(
            lambda state: state.sentiment(request.texts),
            SentimentResponse,
            "review_sentiment",
            predictions=len(request.texts),
        )

    # --- customer value -------------------------------------------------------------------------------

    @bentoml.api(route="/predict/value")
    def predict_value(self, request: ValueRequest, /) -> ValueResponse:
        """P(alive), expected orders and value over `horizon_days` (default: the snapshot's churn window) and
        12-month CLV of one customer: by `customer_id` (the snapshot's row, rescored by the loaded champion when
        it is newer or the horizon differs) or from a purchase `summary`. 404 for a customer without orders in
        the snapshot; 400 naming the field for an impossible summary."""
        from customer_assets.serving import value

        def lookup(state):
            if request.summary is not None:
                return value.value_from_summary(
                    state, request.summary.model_dump(), request.horizon_days, request.customer_id
                )
            return value.value_by_customer(state, request.customer_id, request.horizon_days)

        return self._answer(lookup, ValueResponse, "customer_value_model")

    # --- reads ----------------------------------------------------------------------------------------

    @reads.get("/retention-targets", response_model=RetentionTargetsResponse)
    def retention_targets(self, limit: str | None = None):
        """The first `limit` (1-1000, default 50) customers of the retention worklist in the online snapshot,
        ranked by value at risk = P(churn) x expected value; 400 for a bad limit, 503 without a worklist."""
        from customer_assets.serving import value
        from customer_assets.serving.validation import RequestError, parse_limit

        try:
            return value.retention_targets(self.loader.state, parse_limit(limit))
        except RequestError as error:
            return _failure(error)

    @reads.get("/models", response_model=ModelsResponse)
    def list_models(self):
        """Every loaded champion (name, version, metrics, trained at) and the loaded snapshot."""
        state = self.loader.state
        snap = state.snapshot
        return {
            "models": [c.describe() for c in state.champions.values()],
            "snapshot": None
            if snap is None
            else {
                "version": snap.version,
                "as_of": snap.as_of,
                "created_at": snap.manifest.get("created_at"),
                "rows": snap.rows,
            },
            "problems": state.problems,
            "pinned": self.pins.pins(),
        }

    @reads.post("/models/{name}/load")
    def pin_model(self, name: str, request: PinRequest):
        """Serve registered version `version` of `name` instead of its champion (rollback) until DELETE
        /models/{name}/pin. The version is loaded before this answers; 404 for an unknown model or a version that
        cannot be loaded (the previous one keeps serving)."""
        from customer_assets.serving.models import MODEL_NAMES

        if name not in MODEL_NAMES:
            return _error(404, f"unknown model {name!r} (models: {', '.join(MODEL_NAMES)})", "name")
        previous = self.pins.pins().get(name)
        self.pins.pin(name, request.version)
        self.loader.refresh()
        champion = self.loader.state.champions.get(name)
        if champion is None or champion.version != request.version:
            problem = self.loader.state.problems.get(name, "it could not be loaded")
            if previous is None:
                self.pins.unpin(name)
            else:
                self.pins.pin(name, previous)
            self.loader.refresh()
            return _error(404, f"version {request.version} of {name} is not served: {problem}", "version")
        self._update_gauges(self.loader.state)
        return {"name": name, "pinned": request.version, "serving": champion.describe()}

    @reads.delete("/models/{name}/pin")
    def unpin_model(self, name: str):
        """Back to the champion alias for `name`; 404 when it was not pinned."""
        if self.pins.unpin(name) is None:
            return _error(404, f"{name!r} is not pinned", "name")
        self.loader.refresh()
        self._update_gauges(self.loader.state)
        champion = self.loader.state.champions.get(name)
        return {"name": name, "pinned": None, "serving": None if champion is None else champion.describe()}

    @reads.post("/batch/churn", status_code=202)
    async def submit_batch(self, request: Request):
        """Score an uploaded CSV/Parquet file (the raw body) in the background; answers the job id (202)."""
        try:
            job = self.batches.submit(await request.body())
        except BatchError as error:
            return _error(error.status, error.message, "file")
        return JSONResponse(job.describe(), status_code=202)

    @reads.get("/batch/{job_id}")
    def batch_status(self, job_id: str):
        """The job's status; when done, `result` is the path of its CSV. 410 for a job from before a restart."""
        try:
            return self.batches.get(job_id).describe()
        except BatchError as error:
            return _error(error.status, error.message, "job_id")

    @reads.get("/batch/{job_id}/result")
    def batch_result(self, job_id: str):
        """The scored rows as CSV (customer_id, churn_probability, risk_level, model_version, error)."""
        try:
            job = self.batches.get(job_id)
        except BatchError as error:
            return _error(error.status, error.message, "job_id")
        if job.status != "done":
            return _error(409, f"job {job_id} is {job.status}" + (f": {job.error}" if job.error else ""), "job_id")
        return Response(job.result.write_csv(), media_type="text/csv")

    @reads.get("/metrics/predictions")
    def prediction_summary(self):
        """Predictions per model since start and the churn probabilities served (ten bins), as JSON."""
        return self.prediction_log.summary()

    @reads.get("/metrics/models")
    def model_summary(self):
        """Each loaded champion's version and holdout metrics and the snapshot served, as JSON."""
        return models_summary(self.loader.state)

    def _readiness(self) -> tuple[int, dict]:
        """GET /readyz (answered by the Gate middleware): 200 once the snapshot and every required model
        (CUSTOMER_ML_SERVE_REQUIRED_MODELS, default none) are loaded; the body names the models served and
        those missing, so a model that could not train leaves the service ready with the others and says
        which is absent. 503 with the same body otherwise."""
        from customer_assets.serving.models import MODEL_NAMES

        state = self.loader.state
        blocking = state.missing(self.required)
        unavailable = sorted(set(state.missing(MODEL_NAMES)) - {"online snapshot"})
        body = {
            "ready": not blocking,
            "blocking": blocking,
            "served_models": sorted(state.champions),
            "missing_models": unavailable,
            "problems": {**state.problems, **state.build_problems},
        }
        return (200 if not blocking else 503), body

    @reads.get("/models/{name}")
    def get_model(self, name: str):
        """One loaded champion; 404 for a model name the service does not serve or has not loaded."""
        champion = self.loader.state.champions.get(name)
        if champion is None:
            from customer_assets.serving.models import MODEL_NAMES

            known = ", ".join(MODEL_NAMES)
            return _error(404, f"no loaded model {name!r} (served models: {known})", "name")
        return champion.describe()


def _scored_payloads(state, payloads, positions):
    from customer_assets.serving.validation import RequestError

    try:
        return state.churn_from_features(payloads, field_prefix="customers[{i}].features")
    except RequestError as error:
        # The library validates per batch; point at the row in the caller's numbering.
        if error.field and error.field.startswith("customers["):
            index = int(error.field.split("[", 1)[1].split("]", 1)[0])
            error.field = error.field.replace(f"customers[{index}]", f"customers[{positions[index]}]", 1)
        raise


CustomerML.add_asgi_middleware(Gate)  # type: ignore[attr-defined]  # bentoml.service wraps the class
