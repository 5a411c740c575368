"""When to retrain a model: the decision rules behind the retraining sensors, free of Dagster.

A model is retrained when any trigger holds on the latest monitoring record:
- `new_labels`: at least `threshold` labelled rows have become known since the champion was trained;
- `drift`: the population stability index of a key feature or of the score distribution is above 0.2;
- `metric_floor`: the champion's metric on recently labelled data is on the wrong side of its floor.
A cooldown stops a second request for the same model until `cooldown_hours` have passed, and a monitoring
record that already caused a request never causes another one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

PSI_THRESHOLD = 0.2
DEFAULT_COOLDOWN_HOURS = 24.0
TRIGGERS = ("new_labels", "drift", "metric_floor")


@dataclass(frozen=True)
class Trigger:
    name: str
    reason: str


@dataclass(frozen=True)
class SensorState:
    """What the sensor remembers between ticks (its cursor)."""

    last_request_at: float | None = None  # unix seconds of the last run request
    last_record_id: int | None = None  # monitoring record that caused it

    def to_cursor(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "SensorState":
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(data.get("last_request_at"), data.get("last_record_id"))


def find_triggers(signals: dict, new_labels_threshold: int, psi_threshold: float = PSI_THRESHOLD) -> list[Trigger]:
    """Every trigger that holds for one model's monitoring signals (keys as written by model_monitoring)."""
    triggers = []
    new_rows = signals.get("new_labelled_rows")
    if new_rows is not None and new_rows >= new_labels_threshold:
        triggers.append(
            Trigger(
                "new_labels",
                f"{new_rows} labelled rows since the champion was trained (threshold {new_labels_threshold})",
            )
        )
    drifted = []
    feature_psi = signals.get("key_feature_psi_max")
    if feature_psi is not None and feature_psi > psi_threshold:
        drifted.append(f"feature {signals.get('worst_feature')} PSI {feature_psi:.3f}")
    score_psi = signals.get("score_psi")
    if score_psi is not None and score_psi > psi_threshold:
        drifted.append(f"score distribution PSI {score_psi:.3f}")
    if drifted:
        triggers.append(Trigger("drift", "; ".join(drifted) + f" (> {psi_threshold})"))
    metric, floor = signals.get("recent_metric"), signals.get("metric_floor")
    if metric is not None and floor is not None:
        higher_is_better = signals.get("higher_is_better", True)
        below = metric < floor if higher_is_better else metric > floor
        if below:
            triggers.append(
                Trigger(
                    "metric_floor",
                    f"champion {signals.get('metric_name', 'metric')} {metric:.4f} on recent labels vs floor {floor}",
                )
            )
    return triggers


def in_cooldown(state: SensorState, now: float, cooldown_hours: float) -> bool:
    return state.last_request_at is not None and now - state.last_request_at < cooldown_hours * 3600
