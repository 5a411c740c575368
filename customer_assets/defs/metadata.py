"""Materialization metadata that helps a person judge a table at a glance."""


import dagster as dg
import polars as pl


def frame_metadata(frame: pl.DataFrame, preview_rows: int = 5) -> dict:
    nulls = frame.null_count().row(0, named=True) if frame.height else {}
    null_rates = {name: count / frame.height for name, count in nulls.items()}
    return {
        "dagster/row_count": dg.MetadataValue.int(frame.height),
        "null_rates": dg.MetadataValue.json({k: round(v, 4) for k, v in null_rates.items()}),
        "preview": dg.MetadataValue.md(_markdown(frame.head(preview_rows))),
    }


def _markdown(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "_(no rows)_"
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([header, rule, *body])


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return (text[:60] + "…" if len(text) > 60 else text).replace("|", "\\|").replace("\n", " ")
