"""JSON summaries for people (GET /metrics/predictions, GET /metrics/models), beside Prometheus' /metrics.

The Prometheus counters live in multiprocess files meant for scraping; these are the same events counted in the
worker itself (the service runs one worker), readable without a Prometheus: predictions per model since start and
the distribution of the churn probabilities served, in ten equal bins.
"""

from __future__ import annotations

import datetime as dt
import threading

BINS = 10


class PredictionLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started_at = dt.datetime.now(dt.timezone.utc)
        self._counts: dict[str, int] = {}
        self._churn_bins = [0] * BINS
        self._churn_sum = 0.0

    def count(self, model: str, n: int = 1) -> None:
        with self._lock:
            self._counts[model] = self._counts.get(model, 0) + n

    def churn_probability(self, probability: float) -> None:
        index = min(int(probability * BINS), BINS - 1) if probability >= 0 else 0
        with self._lock:
            self._churn_bins[index] += 1
            self._churn_sum += probability

    def summary(self) -> dict:
        with self._lock:
            served = sum(self._churn_bins)
            return {
                "since": self.started_at.isoformat(timespec="seconds"),
                "predictions": dict(sorted(self._counts.items())),
                "total": sum(self._counts.values()),
                "churn_probability": {
                    "count": served,
                    "mean": self._churn_sum / served if served else None,
                    "bins": [
                        {"from": i / BINS, "to": (i + 1) / BINS, "count": c} for i, c in enumerate(self._churn_bins)
                    ],
                },
            }


def models_summary(state) -> dict:
    """Each loaded champion's version and holdout metrics, and the snapshot it serves."""
    snap = state.snapshot
    return {
        "models": {
            name: {"version": c.version, "metrics": c.holdout_metrics(), "trained_at": c.trained_at}
            for name, c in sorted(state.champions.items())
        },
        "snapshot": None if snap is None else {"version": snap.version, "as_of": snap.as_of},
        "problems": state.problems,
    }
