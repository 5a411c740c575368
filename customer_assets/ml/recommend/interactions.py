"""Interaction tables and the sparse customer x product matrix built from them.

Implicit feedback comes from order items (quantity, damped by recency); explicit feedback comes from review
ratings. Everything downstream works on contiguous integer indices; `IdIndex` maps external ids (str or int)
to and from those indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
import scipy.sparse as sp

ID_COLUMNS = ("customer_id", "product_id")
SECONDS_PER_DAY = 86_400.0


def _require_frame(frame: object, name: str) -> pl.DataFrame:
    if not isinstance(frame, pl.DataFrame):
        raise ValueError(f"{name} must be a polars DataFrame, got {type(frame).__name__}")
    return frame


def _require_columns(frame: pl.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}; it has {frame.columns}")


def _check_ids(frame: pl.DataFrame, name: str) -> None:
    for column in ID_COLUMNS:
        dtype = frame.schema[column]
        if not (dtype.is_integer() or dtype == pl.String):
            raise ValueError(f"{name}.{column} must hold str or int ids, got {dtype}")
        if frame[column].null_count():
            raise ValueError(f"{name}.{column} has {frame[column].null_count()} null ids")


def _numeric_column(frame: pl.DataFrame, column: str, name: str) -> None:
    if not frame.schema[column].is_numeric():
        raise ValueError(f"{name}.{column} must be numeric, got {frame.schema[column]}")
    values = frame[column].cast(pl.Float64)
    if values.null_count() or not np.isfinite(values.to_numpy()).all():
        raise ValueError(f"{name}.{column} has null, NaN or infinite values")


def normalise_ts(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """ts as Datetime(us); integer ts are read as Unix seconds (the usual export format)."""
    if "ts" not in frame.columns:
        return frame
    dtype = frame.schema["ts"]
    if dtype.is_integer() or dtype.is_float():
        ts = pl.from_epoch(pl.col("ts").cast(pl.Int64), time_unit="s")
    elif dtype == pl.Date or isinstance(dtype, pl.Datetime):
        ts = pl.col("ts").cast(pl.Datetime("us"))
    else:
        raise ValueError(f"{name}.ts must be a date, datetime or Unix seconds, got {dtype}")
    frame = frame.with_columns(ts.cast(pl.Datetime("us")).alias("ts"))
    if frame["ts"].null_count():
        raise ValueError(f"{name}.ts has {frame['ts'].null_count()} null values")
    return frame


def validate_interactions(interactions: pl.DataFrame, name: str = "interactions") -> pl.DataFrame:
    """Checked, de-duplicated interactions: one row per (customer, product), weights summed, latest ts kept."""
    frame = _require_frame(interactions, name)
    _require_columns(frame, ("customer_id", "product_id", "weight"), name)
    if frame.height == 0:
        raise ValueError(f"{name} is empty")
    _check_ids(frame, name)
    _numeric_column(frame, "weight", name)
    if (frame["weight"] < 0).any():
        raise ValueError(f"{name}.weight must be >= 0")
    frame = normalise_ts(frame, name)
    aggregations = [pl.col("weight").cast(pl.Float64).sum()]
    if "ts" in frame.columns:
        aggregations.append(pl.col("ts").max())
    return frame.filter(pl.col("weight") > 0).group_by(list(ID_COLUMNS)).agg(aggregations).sort(list(ID_COLUMNS))


def interactions_from_order_items(
    order_items: pl.DataFrame,
    as_of: datetime | None = None,
    half_life_days: float = 180.0,
) -> pl.DataFrame:
    """Implicit interactions from order items (customer_id, product_id, quantity, ts).

    weight = log1p(quantity) * 0.5 ** (age_days / half_life_days): repeat purchases count, bulk orders do not
    dominate, and old purchases fade. Rows after `as_of` are dropped so a back-dated build cannot leak.
    """
    frame = _require_frame(order_items, "order_items")
    _require_columns(frame, ("customer_id", "product_id", "quantity", "ts"), "order_items")
    _check_ids(frame, "order_items")
    _numeric_column(frame, "quantity", "order_items")
    if half_life_days <= 0:
        raise ValueError("half_life_days must be > 0")
    frame = normalise_ts(frame, "order_items").filter(pl.col("quantity") > 0)
    if as_of is None:
        as_of = frame["ts"].max()
    frame = frame.filter(pl.col("ts") <= pl.lit(as_of).cast(pl.Datetime("us")))
    age_days = (pl.lit(as_of).cast(pl.Datetime("us")) - pl.col("ts")).dt.total_seconds() / SECONDS_PER_DAY
    weighted = frame.with_columns(
        weight=pl.col("quantity").cast(pl.Float64).log1p() * (0.5 ** (age_days / half_life_days))
    )
    return validate_interactions(weighted.select("customer_id", "product_id", "weight", "ts"), "order_items")


def validate_ratings(ratings: pl.DataFrame, name: str = "ratings") -> pl.DataFrame:
    """Explicit ratings (customer_id, product_id, rating[, ts]); a repeated pair keeps its latest rating."""
    frame = _require_frame(ratings, name)
    _require_columns(frame, ("customer_id", "product_id", "rating"), name)
    if frame.height == 0:
        raise ValueError(f"{name} is empty")
    _check_ids(frame, name)
    _numeric_column(frame, "rating", name)
    frame = normalise_ts(frame, name)
    if "ts" in frame.columns:
        frame = frame.sort("ts")
    return (
        frame.with_columns(pl.col("rating").cast(pl.Float64))
        .unique(subset=list(ID_COLUMNS), keep="last", maintain_order=True)
        .sort(list(ID_COLUMNS))
    )


@dataclass
class IdIndex:
    """Sorted unique external ids <-> contiguous integer positions."""

    ids: pl.Series

    @classmethod
    def from_values(cls, *columns: pl.Series) -> IdIndex:
        dtypes = {c.dtype for c in columns}
        if len(dtypes) > 1:
            # Mixed str/int id columns (e.g. products table with str ids): compare as strings.
            columns = tuple(c.cast(pl.String) for c in columns)
        merged = pl.concat([c.rename("id") for c in columns]).unique().sort()
        return cls(merged)

    def __len__(self) -> int:
        return self.ids.len()

    def lookup(self, values: pl.Series | list | np.ndarray) -> np.ndarray:
        """Positions of `values` (int64), -1 for ids the index does not hold."""
        query = pl.Series("id", values) if not isinstance(values, pl.Series) else values.rename("id")
        if query.dtype != self.ids.dtype:
            query = query.cast(self.ids.dtype, strict=False)
        table = pl.DataFrame({"id": self.ids, "position": np.arange(len(self), dtype=np.int64)})
        joined = pl.DataFrame({"id": query}).join(table, on="id", how="left", maintain_order="left")
        return joined["position"].fill_null(-1).to_numpy().astype(np.int64, copy=False)

    def take(self, positions: np.ndarray) -> pl.Series:
        return self.ids.gather(pl.Series(positions.astype(np.int64, copy=False)))


def interaction_matrix(interactions: pl.DataFrame, customers: IdIndex, products: IdIndex) -> sp.csr_matrix:
    """customers x products CSR (float32) of summed weights; rows/cols for unknown ids are dropped."""
    rows = customers.lookup(interactions["customer_id"])
    cols = products.lookup(interactions["product_id"])
    keep = (rows >= 0) & (cols >= 0)
    weights = interactions["weight"].to_numpy().astype(np.float32)
    matrix = sp.csr_matrix(
        (weights[keep], (rows[keep], cols[keep])), shape=(len(customers), len(products)), dtype=np.float32
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix
