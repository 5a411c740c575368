"""Batch churn scoring of an uploaded file (POST /batch/churn, GET /batch/{id}, GET /batch/{id}/result).

An upload is the raw request body: CSV (a header row) or Parquet (recognised by its PAR1 magic), either one
`customer_id` column (customers in the online snapshot) or feature rows (the /predict/churn feature payload, one
row each, `customer_id` optional). Its size is capped by the service's body limit (CUSTOMER_ML_SERVE_MAX_BODY_BYTES,
default 2 MiB) and its rows by CUSTOMER_ML_SERVE_BATCH_MAX_ROWS (default 100,000). The file is parsed at once
(a bad file is a 400 before any job exists); scoring runs in one background thread, at most
CUSTOMER_ML_SERVE_BATCH_MAX_JOBS (default 4) queued or running (else 429). Jobs and results live in the process:
every id carries the id of the process that issued it, so after a restart GET /batch/{id} answers 410 and says
that unfinished jobs and results were lost, instead of a bare 404.
"""

from __future__ import annotations

import io
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from customer_assets.config import serve_settings

PARQUET_MAGIC = b"PAR1"
MAX_KEPT_JOBS = 100  # finished jobs kept for GET; the oldest finished ones are dropped beyond this


class BatchError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def max_rows() -> int:
    return serve_settings().batch_max_rows


def max_jobs() -> int:
    return serve_settings().batch_max_jobs


def parse_upload(body: bytes) -> pl.DataFrame:
    """The uploaded table, or a BatchError(400) naming what is wrong with the file."""
    if not body:
        raise BatchError(400, "empty upload: send a CSV or Parquet file as the request body")
    try:
        if body[:4] == PARQUET_MAGIC:
            frame = pl.read_parquet(io.BytesIO(body))
        elif b"\x00" in body[:65536]:
            raise BatchError(400, "not a readable CSV or Parquet file: binary data without Parquet's PAR1 header")
        else:
            frame = pl.read_csv(io.BytesIO(body), infer_schema_length=10_000)
    except BatchError:
        raise
    except Exception as error:  # noqa: BLE001 - any parser failure is the caller's file
        raise BatchError(400, f"not a readable CSV or Parquet file: {str(error).splitlines()[0][:200]}") from None
    if frame.is_empty():
        raise BatchError(400, "the file has no rows")
    if frame.height > max_rows():
        raise BatchError(413, f"{frame.height} rows: at most {max_rows()} per file (CUSTOMER_ML_SERVE_BATCH_MAX_ROWS)")
    if frame.columns == ["customer_id"]:
        return frame.with_columns(pl.col("customer_id").cast(pl.String))
    if len(frame.columns) < 2:
        raise BatchError(400, f"columns {frame.columns}: send a customer_id column or feature columns")
    return frame


def score(state, frame: pl.DataFrame) -> pl.DataFrame:
    """customer_id, churn_probability, risk_level, model_version, error for every row, in file order."""
    from customer_assets.serving.validation import RequestError

    rows = []
    if frame.columns == ["customer_id"]:
        for customer_id in frame["customer_id"]:
            try:
                result = state.churn_by_customer(customer_id).as_dict()
                rows.append({**_row(result), "error": None})
            except RequestError as error:
                rows.append(
                    {
                        "customer_id": customer_id,
                        "churn_probability": None,
                        "risk_level": None,
                        "model_version": None,
                        "error": error.message,
                    }
                )
        return pl.DataFrame(rows, schema=RESULT_SCHEMA)
    ids = frame["customer_id"].cast(pl.String).to_list() if "customer_id" in frame.columns else [None] * frame.height
    payloads = frame.drop("customer_id", strict=False).to_dicts()
    results = state.churn_from_features(payloads, field_prefix="rows[{i}]")
    return pl.DataFrame(
        [{**_row(r.as_dict()), "customer_id": cid, "error": None} for r, cid in zip(results, ids)], schema=RESULT_SCHEMA
    )


RESULT_SCHEMA = {
    "customer_id": pl.String,
    "churn_probability": pl.Float64,
    "risk_level": pl.String,
    "model_version": pl.Int64,
    "error": pl.String,
}


def _row(result: dict) -> dict:
    return {k: result[k] for k in ("customer_id", "churn_probability", "risk_level", "model_version")}


@dataclass
class Job:
    id: str
    rows: int
    status: str = "queued"  # queued -> running -> done | failed
    error: str | None = None
    result: pl.DataFrame | None = field(default=None, repr=False)

    def describe(self) -> dict:
        body = {"id": self.id, "status": self.status, "rows": self.rows, "error": self.error}
        if self.status == "done":
            body["result"] = f"/batch/{self.id}/result"
            body["scored"] = int(self.result["error"].is_null().sum())
        return body


class BatchJobs:
    def __init__(self, state_of) -> None:
        self.state_of = state_of  # () -> the ServingState to score with, read when the job starts
        self.process_id = uuid.uuid4().hex[:12]
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="customer-ml-batch")

    def submit(self, body: bytes) -> Job:
        frame = parse_upload(body)
        with self._lock:
            pending = sum(1 for j in self._jobs.values() if j.status in ("queued", "running"))
            if pending >= max_jobs():
                raise BatchError(
                    429, f"{pending} batch jobs are queued or running (at most {max_jobs()}): retry when one is done"
                )
            job = Job(id=f"{self.process_id}-{uuid.uuid4().hex[:12]}", rows=frame.height)
            self._jobs[job.id] = job
            self._forget_old()
        self._pool.submit(self._run, job, frame)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job
        issuer = job_id.split("-", 1)[0]
        if len(issuer) == 12 and issuer != self.process_id and "-" in job_id:
            raise BatchError(
                410,
                f"job {job_id} was submitted before the service restarted: unfinished jobs and "
                "results are lost on a restart; submit the file again",
            )
        raise BatchError(404, f"no batch job {job_id!r}")

    def _run(self, job: Job, frame: pl.DataFrame) -> None:
        from customer_assets.serving.validation import RequestError

        job.status = "running"
        try:
            job.result = score(self.state_of(), frame)
            job.status = "done"
        except RequestError as error:
            job.error, job.status = error.body()["error"], "failed"
        except Exception as error:  # noqa: BLE001 - a job failure is reported on GET, never raised
            job.error, job.status = f"{type(error).__name__}: {error}", "failed"

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.status in ("done", "failed")]
        for key in finished[: max(0, len(self._jobs) - MAX_KEPT_JOBS)]:
            del self._jobs[key]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
