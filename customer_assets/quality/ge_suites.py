"""Great Expectations suites for the raw data contract, derived from `sources.contract`.

GE 1.x is used directly with an ephemeral context over a pandas batch: it writes no files and needs no network.
It is imported lazily because importing it costs seconds and hundreds of MB.
Very large batches are validated on a seeded random sample (the cap is reported), while the Polars contract in
`sources.contract` has already checked every row before anything reached the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from customer_assets.sources.contract import CONTRACTS

DEFAULT_MAX_ROWS = 200_000

_PANDAS_TYPES = {
    pl.String: ["object", "str", "string"],
    pl.Int64: ["int64", "Int64"],
    pl.Float64: ["float64", "Float64"],
    pl.Date: ["datetime64[ms]", "datetime64[ns]", "datetime64[us]", "object"],
}


@dataclass
class SuiteResult:
    success: bool
    evaluated_rows: int
    total_rows: int
    failures: list[dict]
    results: list[dict]

    def metadata(self) -> dict:
        return {
            "success": self.success,
            "evaluated_rows": self.evaluated_rows,
            "total_rows": self.total_rows,
            "expectations": len(self.results),
            "failed_expectations": len(self.failures),
            "failures": self.failures[:20],
        }


def _expectations(table: str, columns: list[str]) -> list:
    import great_expectations.expectations as gxe

    contract = CONTRACTS[table]
    out = [
        gxe.ExpectTableColumnsToMatchSet(column_set=[c.name for c in contract.columns if c.required], exact_match=False)
    ]
    for col in contract.columns:
        if col.name not in columns:
            continue
        if col.dtype in _PANDAS_TYPES:
            out.append(gxe.ExpectColumnValuesToBeInTypeList(column=col.name, type_list=_PANDAS_TYPES[col.dtype]))
        elif isinstance(col.dtype, pl.Datetime):
            out.append(
                gxe.ExpectColumnValuesToBeInTypeList(
                    column=col.name, type_list=["datetime64[us]", "datetime64[ns]", "datetime64[ms]"]
                )
            )
        if col.required:
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=col.name))
        if col.unique:
            out.append(gxe.ExpectColumnValuesToBeUnique(column=col.name))
        if col.min_value is not None or col.max_value is not None:
            out.append(
                gxe.ExpectColumnValuesToBeBetween(column=col.name, min_value=col.min_value, max_value=col.max_value)
            )
        if col.allowed is not None:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=col.name, value_set=list(col.allowed)))
    for fk in contract.foreign_keys:
        flag = _reference_flag(fk)
        if flag in columns:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=flag, value_set=[True]))
    return out


def _reference_flag(fk) -> str:
    return f"{fk.column}_found_in_{fk.parent_table}"


def _with_reference_flags(table: str, frame: pl.DataFrame, parent_keys: dict[str, pl.Series]) -> pl.DataFrame:
    """One boolean column per foreign key: GE then checks it is always true (or null for a null key).

    Handing GE the parent's whole key list instead makes it copy that list per metric, which does not scale.
    """
    flags = []
    for fk in CONTRACTS[table].foreign_keys:
        keys = parent_keys.get(f"{fk.parent_table}.{fk.parent_column}")
        if keys is not None and fk.column in frame.columns:
            found = pl.col(fk.column).is_in(pl.Series(keys, dtype=pl.String).implode())
            flags.append(pl.when(pl.col(fk.column).is_null()).then(None).otherwise(found).alias(_reference_flag(fk)))
    return frame.with_columns(flags) if flags else frame


def validate_table(
    table: str,
    frame: pl.DataFrame,
    parent_keys: dict[str, pl.Series] | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    seed: int = 0,
) -> SuiteResult:
    """Run the table's suite; `parent_keys` maps 'customers.customer_id' to the allowed keys."""
    import logging

    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    sample = frame.sample(n=max_rows, seed=seed) if frame.height > max_rows else frame
    sample = _with_reference_flags(table, sample, parent_keys or {})
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars in run logs and `make run`
    batch_definition = (
        context.data_sources.add_pandas(f"{table}_source")
        .add_dataframe_asset(table)
        .add_batch_definition_whole_dataframe("all_rows")
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": sample.to_pandas()})
    suite = gx.ExpectationSuite(name=f"raw_{table}_contract")
    for expectation in _expectations(table, sample.columns):
        suite.add_expectation(expectation)
    suite = context.suites.add(suite)
    validation = batch.validate(suite, result_format="SUMMARY")
    results, failures = [], []
    for r in validation.results:
        entry = {
            "expectation": r.expectation_config.type,
            "column": r.expectation_config.kwargs.get("column"),
            "success": bool(r.success),
            "unexpected_count": r.result.get("unexpected_count"),
            "examples": [str(v) for v in (r.result.get("partial_unexpected_list") or [])[:5]],
        }
        results.append(entry)
        if not r.success:
            failures.append(entry)
    return SuiteResult(bool(validation.success), sample.height, frame.height, failures, results)
