"""Customer value and the retention worklist in the live service (pure Python over a `ServingState`).

- By id: the row of `marts.customer_value` in the online snapshot, when it was scored by the loaded champion at
  the asked horizon; otherwise the loaded champion rescores the purchase summary stored in that row (so a new
  champion or another horizon never needs a new snapshot).
- By purchase summary (orders, days_since_first, days_since_last, optional mean_order_value /
  mean_repeat_value): the loaded champion scores it as of the snapshot's as-of date (the model's own without a
  snapshot). Impossible summaries are a 400 naming the field.
- The worklist: the first `limit` rows of `marts.retention_targets` in the snapshot (ranked by value at risk).
"""

from __future__ import annotations

import math

import polars as pl

from customer_assets.serving.models import VALUE
from customer_assets.serving.snapshot_view import ID
from customer_assets.serving.state import ServingState
from customer_assets.serving.validation import RequestError, check_horizon_days

DEFAULT_HORIZON_DAYS = 90
CLV_MONTHS = 12
SUMMARY_FIELDS = ("orders", "days_since_first", "days_since_last", "mean_order_value", "mean_repeat_value")
TARGET_FIELDS = (
    "rank",
    "customer_id",
    "value_at_risk",
    "churn_probability",
    "churn_probability_source",
    "risk_level",
    "top_reasons",
    "segment_name",
    "expected_value",
    "clv_12m",
    "p_alive",
    "recommended_products",
    "horizon_days",
    "churn_model_version",
    "value_model_version",
)


def annual_discount() -> float:
    from customer_assets.config import ValueKnobs, read_section  # the value section's own setting

    return read_section(ValueKnobs).annual_discount


def _number(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _scored(champion, summary: pl.DataFrame, horizon: int, as_of, customer_id, source: str, as_of_text) -> dict:
    try:
        row = champion.model.score(
            summary, horizon, months=CLV_MONTHS, annual_discount=annual_discount(), as_of=as_of
        ).row(0, named=True)
    except ValueError as error:
        message = str(error).removesuffix(" (row 0)")
        found = [(message.find(name), name) for name in SUMMARY_FIELDS if name in message]
        named = min(found)[1] if found else None
        raise RequestError(400, f"summary.{named}" if named else "summary", message) from error
    return {
        "customer_id": customer_id,
        "p_alive": row["p_alive"],
        "p_order": row["p_order"],
        "expected_orders": row["expected_orders"],
        "expected_order_value": row["expected_order_value"],
        "expected_value": row["expected_value"],
        "horizon_days": horizon,
        "clv_12m": row["clv"],
        "model_version": champion.version,
        "as_of": as_of_text,
        "source": source,
    }


def _horizon(state: ServingState, horizon_days: int | None) -> int:
    if horizon_days is not None:
        return check_horizon_days(horizon_days)
    snap = state.snapshot
    if snap is not None and snap.value is not None and snap.value.height:
        return int(snap.value["horizon_days"][0])
    return DEFAULT_HORIZON_DAYS


def value_by_customer(state: ServingState, customer_id: str, horizon_days: int | None = None) -> dict:
    snap = state.require_snapshot()
    if snap.value is None:
        raise RequestError(
            503,
            None,
            f"snapshot {snap.version} holds no customer value (marts.customer_value was "
            "not built when it was published)",
        )
    index = snap.value_index.get(customer_id)
    if index is None:
        raise RequestError(
            404,
            "customer_id",
            f"unknown customer {customer_id!r}: no completed order by {snap.as_of} "
            "in the online snapshot (send a purchase summary instead)",
        )
    row = snap.value.row(index, named=True)
    horizon = _horizon(state, horizon_days)
    champion = state.champions.get(VALUE)
    if champion is not None and (champion.version != row["model_version"] or horizon != row["horizon_days"]):
        summary = pl.DataFrame(
            {name: [row[name]] for name in SUMMARY_FIELDS}, schema={name: pl.Float64 for name in SUMMARY_FIELDS}
        )
        return _scored(champion, summary, horizon, snap.as_of, customer_id, "model", snap.as_of)
    if horizon != row["horizon_days"]:
        state.champion(VALUE)  # 503: another horizon needs the model
    return {
        "customer_id": customer_id,
        "p_alive": row["p_alive"],
        "p_order": row["p_order"],
        "expected_orders": row["expected_orders"],
        "expected_order_value": row["expected_order_value"],
        "expected_value": row["expected_value"],
        "horizon_days": int(row["horizon_days"]),
        "clv_12m": row["clv_12m"],
        "model_version": int(row["model_version"]),
        "as_of": snap.as_of,
        "source": "snapshot",
    }


def value_from_summary(
    state: ServingState, summary: dict, horizon_days: int | None = None, customer_id: str | None = None
) -> dict:
    champion = state.champion(VALUE)
    horizon = _horizon(state, horizon_days)
    frame = pl.DataFrame(
        {name: [summary.get(name)] for name in SUMMARY_FIELDS}, schema={name: pl.Float64 for name in SUMMARY_FIELDS}
    )
    snap = state.snapshot
    as_of = snap.as_of if snap is not None else champion.model.as_of
    return _scored(champion, frame, horizon, as_of, customer_id, "summary", str(as_of))


def retention_targets(state: ServingState, limit: int) -> dict:
    snap = state.require_snapshot()
    if snap.targets is None:
        raise RequestError(
            503,
            None,
            f"snapshot {snap.version} holds no retention worklist (marts.retention_targets "
            "was not built when it was published)",
        )
    rows = []
    for row in snap.targets.head(limit).iter_rows(named=True):
        item = {name: row.get(name) for name in TARGET_FIELDS}
        for name in ("value_at_risk", "churn_probability", "expected_value", "clv_12m", "p_alive"):
            item[name] = _number(item[name])
        item["top_reasons"] = list(item["top_reasons"] or [])
        item["recommended_products"] = list(item["recommended_products"] or [])
        item[ID] = str(item[ID])
        rows.append(item)
    return {"as_of": snap.as_of, "limit": limit, "count": len(rows), "total": snap.targets.height, "targets": rows}
