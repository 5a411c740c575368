"""Prometheus metrics of the live service, added to the registry BentoML's /metrics serves.

Created on first use inside the worker process (never at import): BentoML's workers run prometheus_client in
multiprocess mode and set PROMETHEUS_MULTIPROC_DIR during start-up, and metrics created before that would be
missing from /metrics. Names are a contract with the dashboards and alert rules: do not rename them.
"""

from __future__ import annotations

import threading

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PROBABILITY_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))

_lock = threading.Lock()
_metrics = None


class Metrics:
    def __init__(self):
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "customer_ml_requests_total", "HTTP requests by endpoint and status code", ["endpoint", "status"]
        )
        self.latency = Histogram(
            "customer_ml_request_latency_seconds",
            "Request latency by endpoint (seconds)",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
        )
        self.predictions = Counter("customer_ml_predictions_total", "Predictions served, by model", ["model"])
        self.churn_probability = Histogram(
            "customer_ml_churn_probability", "Churn probabilities served", buckets=PROBABILITY_BUCKETS
        )
        self.snapshot_churn_rate = Gauge(
            "customer_ml_snapshot_churn_rate",
            "Share of customers with churn_probability >= 0.5 in the loaded snapshot",
            multiprocess_mode="mostrecent",
        )
        self.model_metric = Gauge(
            "customer_ml_model_metric",
            "The loaded champion's registered holdout metric",
            ["model", "metric"],
            multiprocess_mode="mostrecent",
        )
        self.snapshot_age = Gauge(
            "customer_ml_snapshot_age_seconds",
            "Age of the loaded online snapshot (seconds)",
            multiprocess_mode="mostrecent",
        )


def metrics() -> Metrics:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics
