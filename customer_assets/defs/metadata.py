"""Materialization metadata that helps a person judge a table at a glance."""

from pathlib import Path

import dagster as dg
import polars as pl


def plot_metadata(name: str, path: Path) -> dict:
    """A plot as two metadata entries: its path and an inline preview for the Dagster UI."""
    return {
        f"{name}_plot": dg.MetadataValue.path(str(path)),
        f"{name}_plot_preview": dg.MetadataValue.md(f"![{name}]({path.as_uri()})"),
    }


def plots_dir(home: str | Path, group: str) -> Path:
    """`<home>/plots/<group>`, created when missing: where a domain's assets write their plots."""
    path = Path(home) / "plots" / group
    path.mkdir(parents=True, exist_ok=True)
    return path


def frame_metadata(frame: pl.DataFrame, preview_rows: int = 5) -> dict:
    nulls = frame.null_count().row(0, named=True) if frame.height else {}
    null_rates = {name: count / frame.height for name, count in nulls.items()}
    return {
        "dagster/row_count": dg.MetadataValue.int(frame.height),
        "null_rates": dg.MetadataValue.json({k: round(v, 4) for k, v in null_rates.items()}),
        "preview": dg.MetadataValue.md(markdown_table(frame.head(preview_rows))),
    }


def markdown_table(table: pl.DataFrame | list[dict], float_digits: int | None = None) -> str:
    """A Markdown table of a frame or of rows (dicts with the same keys) for Dagster metadata."""
    if isinstance(table, list):
        if not table:
            return "_(no rows)_"
        columns = list(table[0])
        rows = [tuple(row.get(c) for c in columns) for row in table]
    else:
        if table.is_empty():
            return "_(no rows)_"
        columns, rows = table.columns, list(table.iter_rows())
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(_cell(v, float_digits) for v in row) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def _cell(value, float_digits: int | None = None) -> str:
    if float_digits is not None and isinstance(value, float):
        return f"{value:.{float_digits}f}"
    text = "" if value is None else str(value)
    return (text[:60] + "…" if len(text) > 60 else text).replace("|", "\\|").replace("\n", " ")
