"""Pure check helpers for the asset checks: minimum segment share, stability, share drift."""

from __future__ import annotations

import polars as pl

from .naming import OUTLIER_SEGMENT_ID


def segment_share_violations(
    labels: pl.DataFrame, min_share: float = 0.02, segment_column: str = "segment_id"
) -> list[dict]:
    """Segments holding less than ``min_share`` of customers (DBSCAN noise is not a segment). Empty = pass."""
    if segment_column not in labels.columns:
        raise ValueError(f"labels have no column {segment_column!r}")
    if labels.height == 0:
        raise ValueError("labels are empty")
    name_column = "segment_name" if "segment_name" in labels.columns else segment_column
    keys = list(dict.fromkeys([segment_column, name_column]))
    shares = (
        labels.group_by(keys)
        .agg(pl.len().alias("size"))
        .with_columns((pl.col("size") / labels.height).alias("share"))
        .filter(pl.col(segment_column) != OUTLIER_SEGMENT_ID if segment_column == "segment_id" else pl.lit(True))
        .filter(pl.col("share") < min_share)
        .sort(segment_column)
    )
    return shares.to_dicts()


def stability_check(report: dict, min_ari: float = 0.8) -> dict:
    """Whether the chosen algorithm's bootstrap stability ARI reaches ``min_ari``."""
    value = report["metrics"]["stability_ari"]
    return {"passed": value is not None and value >= min_ari, "stability_ari": value, "min_ari": min_ari}


def segment_share_shifts(
    previous: pl.DataFrame, current: pl.DataFrame, max_shift: float = 0.05, segment_column: str = "segment_name"
) -> list[dict]:
    """Segments whose share of customers moved by more than ``max_shift`` between two partitions."""
    for frame, which in ((previous, "previous"), (current, "current")):
        if segment_column not in frame.columns:
            raise ValueError(f"{which} labels have no column {segment_column!r}")
        if frame.height == 0:
            raise ValueError(f"{which} labels are empty")

    def shares(frame: pl.DataFrame, alias: str) -> pl.DataFrame:
        return frame.group_by(segment_column).agg((pl.len() / frame.height).alias(alias))

    joined = (
        shares(previous, "previous_share")
        .join(shares(current, "current_share"), on=segment_column, how="full", coalesce=True)
        .fill_null(0.0)
        .with_columns((pl.col("current_share") - pl.col("previous_share")).alias("shift"))
    )
    return joined.filter(pl.col("shift").abs() > max_shift).sort(segment_column).to_dicts()
