"""Request validation: pydantic schemas, turned into a `RequestError` that names the field.

The service's request models (bentos/schemas.py) are pydantic; the constrained types they share with the pure
serving code are declared here (`K`, `HorizonDays`, `Limit`), so the HTTP schema and a Python caller check the
same rule. A feature payload is a free-form object whose fields depend on the loaded champion, so its schema is
built from the champion: `feature_schema(numeric, categorical, rules)` is a pydantic model with one field per
input column (a finite number within the snapshot's range, or a string; null for unknown), unknown fields
forbidden. `feature_frame` validates each payload with it and types the rows as the model libraries expect;
the first problem is a 400 naming `<prefix>.<column>`.
"""

from __future__ import annotations

import functools
import math
from typing import Annotated, Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

ID = "customer_id"
MAX_K = 100
MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
MAX_HORIZON_DAYS = 3650
MAX_ABS_FEATURE = 1e12

K = Annotated[int, Field(ge=1, le=MAX_K, strict=True, description=f"How many items, 1 to {MAX_K}.")]
HorizonDays = Annotated[int, Field(ge=1, le=MAX_HORIZON_DAYS, strict=True)]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]  # a query parameter: parsed from its text


class RequestError(Exception):
    """A request the service cannot answer as asked: `status` is the HTTP status, `field` names the input."""

    def __init__(self, status: int, field: str | None, message: str):
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message

    def body(self) -> dict:
        prefix = f"{self.field}: " if self.field else ""
        return {"error": prefix + self.message, "field": self.field}


@functools.cache
def _adapter(kind) -> TypeAdapter:
    return TypeAdapter(kind)


def check_horizon_days(value: int) -> int:
    """`value` checked by the same `HorizonDays` the service's ValueRequest declares."""
    try:
        return _adapter(HorizonDays).validate_python(value)
    except ValidationError as error:
        raise RequestError(400, "horizon_days", f"must be from 1 to {MAX_HORIZON_DAYS}") from error


def parse_limit(text: str | None) -> int:
    """A `limit` query parameter (text) as a `Limit`: unset is the default, anything else a 400 naming it."""
    if text is None or text == "":
        return DEFAULT_LIMIT
    try:
        return _adapter(Limit).validate_python(text)
    except ValidationError as error:
        if error.errors()[0]["type"] in ("greater_than_equal", "less_than_equal"):
            message = f"must be from 1 to {MAX_LIMIT}, got {int(text)}"
        else:
            message = f"must be a whole number from 1 to {MAX_LIMIT}, got {text!r}"
        raise RequestError(400, "limit", message) from None


# --- feature payloads -------------------------------------------------------------------------------------


def feature_rules(features: pl.DataFrame) -> dict[str, tuple[float, float]]:
    """Allowed range per numeric feature: never negative where the snapshot holds no negative value, and rates
    (`*_rate`) within [0, 1] where the snapshot's are."""
    rules = {}
    for column, dtype in features.schema.items():
        if column == ID or not dtype.is_numeric():
            continue
        values = features[column].cast(pl.Float64).drop_nulls().drop_nans()
        if values.is_empty():
            continue
        low = 0.0 if values.min() >= 0 else -math.inf
        high = 1.0 if column.endswith("_rate") and values.max() <= 1 else math.inf
        rules[column] = (low, high)
    return rules


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


@functools.lru_cache(maxsize=32)
def feature_schema(
    numeric: tuple[str, ...], categorical: tuple[str, ...], rules: tuple[tuple[str, float, float], ...] = ()
) -> type[BaseModel]:
    """A pydantic model of one feature payload. Fields are positional names aliased to the column names, so a
    column may be called anything (`json`, `copy`, ...) without clashing with BaseModel's own attributes."""
    bounds = {name: (low, high) for name, low, high in rules}
    fields: dict[str, Any] = {}
    for i, column in enumerate(numeric):
        low, high = bounds.get(column, (-math.inf, math.inf))
        number = Annotated[
            float,
            Field(ge=max(low, -MAX_ABS_FEATURE), le=min(high, MAX_ABS_FEATURE), allow_inf_nan=False),
        ]
        fields[f"n{i}"] = (number | None, Field(alias=column))
    for i, column in enumerate(categorical):
        fields[f"c{i}"] = (str | None, Field(alias=column))
    return create_model("FeaturePayload", __base__=_Payload, **fields)


_TYPE_ERRORS = {"float_type": "a number", "string_type": "a string"}
_RANGE_ERRORS = {"finite_number", "greater_than_equal", "less_than_equal"}


def _problem(
    error: ValidationError, payload, where: str, order: dict[str, int], rules: dict[str, tuple[float, float]]
) -> RequestError:
    """The first problem of a payload, in the order unknown fields, missing fields, then by column."""
    if not isinstance(payload, dict):
        return RequestError(400, where, "must be an object of feature name -> value")
    problems = error.errors()
    unknown = sorted(str(p["loc"][0]) for p in problems if p["type"] == "extra_forbidden")
    if unknown:
        return RequestError(
            400, f"{where}.{unknown[0]}", f"unknown feature (the model uses: {', '.join(sorted(order))})"
        )
    missing = sorted(str(p["loc"][0]) for p in problems if p["type"] == "missing")
    if missing:
        return RequestError(
            400,
            f"{where}.{missing[0]}",
            f"missing feature{'s' if len(missing) > 1 else ''} {', '.join(missing)} (send null for an unknown value)",
        )
    first = min(problems, key=lambda p: order.get(str(p["loc"][0]), len(order)))
    column = str(first["loc"][0])
    name, value = f"{where}.{column}", first["input"]
    if first["type"] in _RANGE_ERRORS:
        value = float(value)
        if not math.isfinite(value) or abs(value) > MAX_ABS_FEATURE:
            return RequestError(400, name, f"out of range: {value}")
        low, high = rules.get(column, (-math.inf, math.inf))
        return RequestError(400, name, f"out of range: {value} (allowed {low} to {high})")
    kind = _TYPE_ERRORS.get(first["type"], "a valid value")
    return RequestError(400, name, f"must be {kind} or null, got {type(value).__name__}")


def feature_frame(
    payloads: list,
    numeric: list[str],
    categorical: list[str],
    rules: dict[str, tuple[float, float]],
    prefix: str,
    customer_ids: list | None = None,
) -> pl.DataFrame:
    """A typed frame (customer_id, numeric as Float64, categorical as String) from JSON feature payloads, each
    validated by `feature_schema`; the first invalid payload raises a 400 naming `<prefix>.<column>` (`{i}` in
    `prefix` is the payload's index)."""
    schema = feature_schema(tuple(numeric), tuple(categorical), tuple((c, *rules[c]) for c in numeric if c in rules))
    order = {c: i for i, c in enumerate([*numeric, *categorical])}
    columns: dict[str, list] = {c: [] for c in order}
    for index, payload in enumerate(payloads):
        try:
            schema.model_validate(payload)
        except ValidationError as error:
            raise _problem(error, payload, prefix.replace("{i}", str(index)), order, rules) from None
        for column in order:
            columns[column].append(payload[column])
    data = {ID: pl.Series(ID, customer_ids if customer_ids else [None] * len(payloads), dtype=pl.String)}
    data.update({c: pl.Series(c, columns[c], dtype=pl.Float64) for c in numeric})
    data.update({c: pl.Series(c, columns[c], dtype=pl.String) for c in categorical})
    return pl.DataFrame(data)
