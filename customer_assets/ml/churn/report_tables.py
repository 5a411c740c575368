"""The churn training run's tables for people (pure, no Dagster): holdout metrics and the family comparison,
every cell as text so Markdown and MLflow show them alike."""

import math

import polars as pl

METRIC_COLUMNS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "brier")


def holdout_table(challenger_eval: dict, champion_eval: dict | None, champion_version: int | None) -> pl.DataFrame:
    """Holdout metrics of the challenger and champion with the base rate and recency-only baselines beside."""
    rows = [("challenger", challenger_eval)]
    if champion_eval is not None:
        rows.append((f"champion v{champion_version}", champion_eval))
    rows.append(("recency_only", challenger_eval.get("baseline_recency_only")))
    rows.append(("base_rate", challenger_eval.get("baseline_base_rate")))
    table = [
        {
            "model": name,
            "family": (metrics or {}).get("family", "-"),
            **{c: rounded((metrics or {}).get(c)) for c in METRIC_COLUMNS},
        }
        for name, metrics in rows
        if metrics
    ]
    return pl.DataFrame(table, schema={c: pl.String for c in ("model", "family", *METRIC_COLUMNS)})


def comparison_frame(report: dict) -> pl.DataFrame:
    """The training report's comparison table (one row per family and imbalance strategy), as text."""
    rows = report["comparison_table"]
    columns = list(rows[0])
    return pl.DataFrame([{c: rounded(r.get(c)) for c in columns} for r in rows], schema={c: pl.String for c in columns})


def rounded(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return "" if value is None else str(value)
