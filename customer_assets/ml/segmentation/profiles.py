"""Per-segment profile table: size, share, mean and median of each feature in its original units."""

from __future__ import annotations

import polars as pl


def segment_profiles(
    features: pl.DataFrame, labels: pl.DataFrame, feature_columns: list[str], id_column: str
) -> pl.DataFrame:
    """One row per segment. Means and medians ignore NULL/NaN (e.g. recency of never-ordered customers)."""
    missing = [c for c in [id_column, *feature_columns] if c not in features.columns]
    if missing:
        raise ValueError(f"column(s) not in the features frame: {missing}")
    joined = features.select(id_column, *feature_columns).join(labels, on=id_column, how="inner")
    if joined.height == 0:
        raise ValueError("no customer in the labels matches the features frame")
    values = [pl.col(c).cast(pl.Float64).fill_nan(None) for c in feature_columns]
    return (
        joined.group_by("segment_id", "segment_name")
        .agg(
            pl.len().alias("size"),
            *[v.mean().alias(f"mean_{c}") for v, c in zip(values, feature_columns)],
            *[v.median().alias(f"median_{c}") for v, c in zip(values, feature_columns)],
        )
        .with_columns((pl.col("size") / joined.height).alias("share"))
        .select(
            "segment_id",
            "segment_name",
            "size",
            "share",
            pl.all().exclude("segment_id", "segment_name", "size", "share"),
        )
        .sort("segment_id")
    )
