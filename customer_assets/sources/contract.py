"""The input contract: canonical tables, their columns and types, and the checks bad input must fail.

Validation is pure Polars and reports every violation with the file, the column and example rows, so a
user can fix the file without guessing. Nothing is written anywhere until all tables pass.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

ORDER_STATUSES = ("completed", "cancelled", "returned")
EXAMPLE_ROWS = 5
# Dates outside this window are export bugs (a 1900 or 0001 placeholder, a day/month swap into the future),
# not history: they would create a partition per day back to the placeholder year.
EARLIEST_DATE = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    required: bool = True
    unique: bool = False
    min_value: float | None = None
    max_value: float | None = None
    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ForeignKey:
    column: str
    parent_table: str
    parent_column: str


@dataclass(frozen=True)
class TableContract:
    name: str
    columns: tuple[Column, ...]
    optional_table: bool = False
    timestamp_column: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


CONTRACTS: dict[str, TableContract] = {
    t.name: t
    for t in (
        TableContract(
            "customers",
            (
                Column("customer_id", pl.String, unique=True),
                Column("signup_date", pl.Date, required=False),
                Column("country", pl.String, required=False),
            ),
        ),
        TableContract(
            "products",
            (
                Column("product_id", pl.String, unique=True),
                Column("name", pl.String, required=False),
                Column("category", pl.String, required=False),
                Column("description", pl.String, required=False),
                Column("price", pl.Float64, required=False, min_value=0),
            ),
        ),
        TableContract(
            "orders",
            (
                Column("order_id", pl.String, unique=True),
                Column("customer_id", pl.String),
                Column("order_ts", pl.Datetime("us")),
                Column("status", pl.String, required=False, allowed=ORDER_STATUSES),
            ),
            timestamp_column="order_ts",
            foreign_keys=(ForeignKey("customer_id", "customers", "customer_id"),),
        ),
        TableContract(
            "order_items",
            (
                Column("order_id", pl.String),
                Column("product_id", pl.String),
                Column("quantity", pl.Int64, min_value=0),
                Column("unit_price", pl.Float64, min_value=0),
            ),
            foreign_keys=(
                ForeignKey("order_id", "orders", "order_id"),
                ForeignKey("product_id", "products", "product_id"),
            ),
        ),
        TableContract(
            "reviews",
            (
                Column("review_id", pl.String, unique=True),
                Column("customer_id", pl.String),
                Column("rating", pl.Int64, min_value=1, max_value=5),
                Column("review_ts", pl.Datetime("us")),
                Column("product_id", pl.String, required=False),
                Column("review_text", pl.String, required=False),
            ),
            optional_table=True,
            timestamp_column="review_ts",
            foreign_keys=(
                ForeignKey("customer_id", "customers", "customer_id"),
                ForeignKey("product_id", "products", "product_id"),
            ),
        ),
        TableContract(
            "events",
            (
                Column("customer_id", pl.String),
                Column("event_ts", pl.Datetime("us")),
                Column("event_type", pl.String),
                Column("session_id", pl.String, required=False),
            ),
            optional_table=True,
            timestamp_column="event_ts",
            foreign_keys=(ForeignKey("customer_id", "customers", "customer_id"),),
        ),
    )
}

TABLE_ORDER = ("customers", "products", "orders", "order_items", "reviews", "events")


@dataclass(frozen=True)
class Violation:
    table: str
    file: str
    column: str | None
    problem: str
    examples: list[dict] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"{self.file}" + (f", column '{self.column}'" if self.column else "")
        text = f"{where}: {self.problem}"
        if self.examples:
            text += "\n    e.g. " + "\n         ".join(str(e) for e in self.examples)
        return text


class ContractError(ValueError):
    """Raised with every violation found; the message names file, column and example rows."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        lines = [f"Input data breaks the contract ({len(violations)} problem(s)); nothing was loaded:"]
        lines += [f"  - {v}" for v in violations]
        super().__init__("\n".join(lines))


def _examples(frame: pl.DataFrame, mask: pl.Expr, columns: list[str]) -> list[dict]:
    rows = frame.with_row_index("_row").filter(mask).head(EXAMPLE_ROWS)
    # Row numbers as a user sees them in the file: 1 is the first data row.
    return [
        {"row": r["_row"] + 1, **{c: r[c] for c in columns if c in r}}
        for r in rows.select(["_row", *[c for c in columns if c in rows.columns]]).to_dicts()
    ]


def coerce_table(contract: TableContract, frame: pl.DataFrame, file: str) -> tuple[pl.DataFrame, list[Violation]]:
    """Cast contract columns to their types, reporting missing columns and values that do not parse."""
    violations: list[Violation] = []
    if frame.height == 0:
        return frame, [Violation(contract.name, file, None, "the file is empty (no data rows)")]
    missing = [c.name for c in contract.columns if c.required and c.name not in frame.columns]
    for name in missing:
        violations.append(
            Violation(contract.name, file, name, f"required column is missing (found: {', '.join(frame.columns)})")
        )
    casts, can_fail = [], []
    for col in contract.columns:
        if col.name not in frame.columns:
            continue
        source = pl.col(col.name)
        lossless = _lossless_cast(source, frame.schema[col.name], col.dtype)
        if lossless is not None:
            casts.append(lossless.alias(col.name))
            continue
        if frame.schema[col.name] == pl.String:
            source = source.str.strip_chars()
            source = pl.when(source == "").then(None).otherwise(source)
        casts.append(_cast(source, col.dtype).alias(col.name))
        if col.dtype != pl.String:  # text stays text: only a parse can turn a value into null
            can_fail.append(col)
    cast_frame = frame.with_columns(casts)
    for col in can_fail:
        raw_present = pl.col(col.name).is_not_null()
        if frame.schema[col.name] == pl.String:
            raw_present = raw_present & (pl.col(col.name).str.strip_chars() != "")
        bad = frame.select(raw_present.alias("present")).to_series() & cast_frame[col.name].is_null()
        if bad.any():
            violations.append(
                Violation(
                    contract.name,
                    file,
                    col.name,
                    f"{int(bad.sum())} value(s) are not a valid {_type_name(col.dtype)}",
                    _examples(frame, pl.lit(bad), [col.name]),
                )
            )
    return cast_frame, violations


def _type_name(dtype: pl.DataType) -> str:
    if dtype == pl.Date:
        return "date (YYYY-MM-DD)"
    if isinstance(dtype, pl.Datetime):
        return "timestamp (ISO 8601 or Unix seconds)"
    if dtype == pl.Int64:
        return "whole number"
    if dtype == pl.Float64:
        return "number"
    return "text"


def _lossless_cast(expr: pl.Expr, source: pl.DataType, target: pl.DataType) -> pl.Expr | None:
    """The cast for a column that is already of the contract's type (or a wider-unit twin), else None.

    Typed inputs (generated frames, Parquet) skip the text round trip of ``_cast``: formatting and
    re-parsing 35M timestamps took most of the load of a million synthetic customers.
    """
    if source == target and target != pl.String:
        return expr
    if isinstance(source, pl.Datetime) and isinstance(target, pl.Datetime) and source.time_zone is None:
        return expr.cast(target)
    if target == pl.Int64 and source.is_integer():
        return expr.cast(pl.Int64)
    if target == pl.Float64 and source.is_numeric():
        return expr.cast(pl.Float64)
    return None


def _cast(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Date:
        as_text = expr.cast(pl.String)
        return pl.coalesce(
            as_text.str.to_date("%Y-%m-%d", strict=False),
            as_text.str.to_datetime(strict=False, time_unit="us").dt.date(),
        )
    if isinstance(dtype, pl.Datetime):
        as_text = expr.cast(pl.String)
        return pl.coalesce(
            as_text.str.to_datetime(strict=False, time_unit="us").dt.replace_time_zone(None),
            # Unix seconds, as many exports (MovieLens among them) store time.
            pl.from_epoch(as_text.cast(pl.Int64, strict=False), time_unit="s").cast(pl.Datetime("us")),
        )
    if dtype == pl.Int64:
        as_float = expr.cast(pl.Float64, strict=False)
        return pl.when(as_float == as_float.round(0)).then(as_float.cast(pl.Int64, strict=False)).otherwise(None)
    return expr.cast(dtype, strict=False)


def check_values(contract: TableContract, frame: pl.DataFrame, file: str) -> list[Violation]:
    """Nulls in required columns, duplicate keys, ranges and allowed values."""
    violations = []
    for col in contract.columns:
        if col.name not in frame.columns:
            continue
        c = pl.col(col.name)
        if col.required:
            nulls = frame.select(c.is_null().sum()).item()
            if nulls:
                violations.append(
                    Violation(
                        contract.name,
                        file,
                        col.name,
                        f"{nulls} row(s) have no value",
                        _examples(frame, c.is_null(), [col.name]),
                    )
                )
        if col.unique:
            dup_mask = c.is_duplicated() & c.is_not_null()
            dups = frame.select(dup_mask.sum()).item()
            if dups:
                violations.append(
                    Violation(
                        contract.name,
                        file,
                        col.name,
                        f"{dups} row(s) share a duplicate id",
                        _examples(frame, dup_mask, [col.name]),
                    )
                )
        if col.dtype == pl.Float64:
            # inf and NaN parse as numbers ("inf", "-Infinity", "nan" in any case) and pass every range
            # check, then break model training downstream: no numeric column may hold them.
            non_finite = (c.is_infinite() | c.is_nan()).fill_null(False)
            count = frame.select(non_finite.sum()).item()
            if count:
                violations.append(
                    Violation(
                        contract.name,
                        file,
                        col.name,
                        f"{count} value(s) are not finite numbers (inf or NaN)",
                        _examples(frame, non_finite, [col.name]),
                    )
                )
        if col.min_value is not None or col.max_value is not None:
            out = pl.lit(False)
            if col.min_value is not None:
                out = out | (c < col.min_value)
            if col.max_value is not None:
                out = out | (c > col.max_value)
            out = out.fill_null(False)
            count = frame.select(out.sum()).item()
            if count:
                bounds = (
                    f"[{col.min_value if col.min_value is not None else '-inf'}, "
                    f"{col.max_value if col.max_value is not None else 'inf'}]"
                )
                violations.append(
                    Violation(
                        contract.name,
                        file,
                        col.name,
                        f"{count} value(s) outside {bounds}",
                        _examples(frame, out, [col.name]),
                    )
                )
        if col.dtype == pl.Date or isinstance(col.dtype, pl.Datetime):
            day = c.dt.date() if isinstance(col.dtype, pl.Datetime) else c
            latest = dt.date.today() + dt.timedelta(days=1)  # one day of slack for exports in time zones ahead
            out = ((day < EARLIEST_DATE) | (day > latest)).fill_null(False)
            count = frame.select(out.sum()).item()
            if count:
                violations.append(
                    Violation(
                        contract.name,
                        file,
                        col.name,
                        f"{count} date(s) before {EARLIEST_DATE} or after today ({dt.date.today()})",
                        _examples(frame, out, [col.name]),
                    )
                )
        if col.allowed is not None:
            out = (~c.is_in(list(col.allowed))).fill_null(False)
            count = frame.select(out.sum()).item()
            if count:
                violations.append(
                    Violation(
                        contract.name,
                        file,
                        col.name,
                        f"{count} value(s) not among {', '.join(col.allowed)}",
                        _examples(frame, out, [col.name]),
                    )
                )
    return violations


def check_foreign_keys(
    tables: dict[str, pl.DataFrame], files: dict[str, str], tolerance: float
) -> tuple[dict[str, pl.DataFrame], list[Violation], dict[str, int]]:
    """Orphan keys above `tolerance` (a share of rows) are errors; fewer are dropped and counted."""
    violations, dropped = [], {}
    for name in TABLE_ORDER:
        if name not in tables:
            continue
        for fk in CONTRACTS[name].foreign_keys:
            parent = tables.get(fk.parent_table)
            child = tables[name]
            if parent is None or fk.column not in child.columns:
                continue
            orphan = child[fk.column].is_not_null() & ~child[fk.column].is_in(parent[fk.parent_column].implode())
            count = int(orphan.sum())
            if not count:
                continue
            share = count / max(child.height, 1)
            if share > tolerance:
                violations.append(
                    Violation(
                        name,
                        files.get(name, name),
                        fk.column,
                        f"{count} row(s) ({share:.1%}) refer to a {fk.parent_column} missing from "
                        f"{fk.parent_table} (tolerance {tolerance:.1%})",
                        _examples(child, pl.lit(orphan), [fk.column]),
                    )
                )
            else:
                tables[name] = child.filter(~orphan)
                dropped[f"{name}.{fk.column}"] = count
    return tables, violations, dropped
