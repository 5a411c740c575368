"""Which feature columns a segmentation is fitted on (pure, no Dagster)."""

import polars as pl

from customer_assets.ml.segmentation.transform import DEFAULT_FEATURE_COLUMNS


def usable_feature_columns(features: pl.DataFrame, configured) -> tuple[list[str] | None, list[str]]:
    """The configured columns as given (the library rejects bad ones loudly); else the default columns
    minus those holding one value, which a source without e.g. web events produces and which cannot
    separate anyone. Returns (columns or None for the library's default, the constant columns left out)."""
    if configured:
        return list(configured), []
    present = [c for c in DEFAULT_FEATURE_COLUMNS if c in features.columns]
    if not present or features.height == 0:
        return None, []
    distinct = features.select(pl.col(c).cast(pl.Float64).fill_nan(None).drop_nulls().n_unique() for c in present).row(
        0
    )
    constant = [c for c, n in zip(present, distinct) if n <= 1]
    kept = [c for c in present if c not in constant]
    return (kept or None), constant
