"""Population stability index (PSI): how far a current distribution has moved from a reference one.

PSI = sum over bins of (current_share - reference_share) * ln(current_share / reference_share).
Rule of thumb used for the status: < 0.1 stable, 0.1-0.2 moderate shift, > 0.2 significant shift.

Numeric values are binned on the reference's quantiles (equal-mass bins), so the reference puts about the same
share in every bin and a shift shows up as bins gaining or losing mass. Heavily tied data (counts, flags)
produces duplicate quantile edges; those are collapsed, so such a column gets fewer, wider bins rather than
empty ones. Empty bins would make the logarithm infinite: shares are floored at `epsilon` before the log.
Categorical values (segment ids, labels) use one bin per category seen in either sample.

Pure NumPy/Polars: no Dagster, no warehouse.
"""

from __future__ import annotations

import numpy as np
import polars as pl

DEFAULT_BINS = 10
EPSILON = 1e-4
STABLE_BELOW = 0.1
SIGNIFICANT_ABOVE = 0.2

REPORT_SCHEMA = {
    "feature": pl.String,
    "psi": pl.Float64,
    "status": pl.String,
    "reference_rows": pl.Int64,
    "current_rows": pl.Int64,
}


def _finite(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def quantile_edges(reference: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Inner bin edges at the reference quantiles, duplicates removed (ties collapse bins)."""
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    inner = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(inner)


def _psi_from_counts(reference_counts: np.ndarray, current_counts: np.ndarray, epsilon: float) -> float:
    reference_share = np.maximum(reference_counts / max(reference_counts.sum(), 1), epsilon)
    current_share = np.maximum(current_counts / max(current_counts.sum(), 1), epsilon)
    return float(np.sum((current_share - reference_share) * np.log(current_share / reference_share)))


def psi(reference, current, bins: int = DEFAULT_BINS, epsilon: float = EPSILON) -> float:
    """PSI of a numeric sample against a reference sample; NaN/inf values are ignored.

    Raises ValueError when either sample has no finite value (nothing to compare).
    """
    reference = _finite(reference)
    current = _finite(current)
    if reference.size == 0 or current.size == 0:
        raise ValueError(
            f"PSI needs finite values in both samples (reference has {reference.size}, current has {current.size})"
        )
    edges = quantile_edges(reference, bins)
    # searchsorted(side="right") puts a value equal to an edge in the bin above it, the same rule for both samples.
    n_bins = edges.size + 1
    reference_counts = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=n_bins)
    current_counts = np.bincount(np.searchsorted(edges, current, side="right"), minlength=n_bins)
    return _psi_from_counts(reference_counts.astype(np.float64), current_counts.astype(np.float64), epsilon)


def categorical_psi(reference, current, epsilon: float = EPSILON) -> float:
    """PSI over categories (one bin per category present in either sample); nulls are a category of their own."""
    reference = pl.Series("v", reference).cast(pl.String).fill_null("<null>")
    current = pl.Series("v", current).cast(pl.String).fill_null("<null>")
    if reference.len() == 0 or current.len() == 0:
        raise ValueError(
            f"PSI needs values in both samples (reference has {reference.len()}, current has {current.len()})"
        )
    counts = (
        pl.concat([pl.DataFrame({"v": reference, "side": 0}), pl.DataFrame({"v": current, "side": 1})])
        .group_by("v")
        .agg((pl.col("side") == 0).sum().alias("ref"), (pl.col("side") == 1).sum().alias("cur"))
    )
    return _psi_from_counts(
        counts["ref"].to_numpy().astype(np.float64), counts["cur"].to_numpy().astype(np.float64), epsilon
    )


def status(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "unknown"
    if value > SIGNIFICANT_ABOVE:
        return "significant"
    if value >= STABLE_BELOW:
        return "moderate"
    return "stable"


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() and not dtype == pl.Boolean


def drift_report(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    features: list[str] | None = None,
    bins: int = DEFAULT_BINS,
    epsilon: float = EPSILON,
    categorical: list[str] | None = None,
) -> pl.DataFrame:
    """One row per feature: feature, psi, status, reference_rows, current_rows.

    `features` defaults to the numeric columns both frames share. Columns in `categorical` (and non-numeric
    columns named in `features`) use categorical PSI. A feature with no finite value on one side gets
    psi null and status "unknown" rather than failing the whole report.
    """
    categorical = list(categorical or [])
    if features is None:
        features = [
            name
            for name, dtype in reference.schema.items()
            if name in current.columns and _is_numeric(dtype) and name not in categorical
        ]
        features += [c for c in categorical if c not in features]
    missing = [f for f in features if f not in reference.columns or f not in current.columns]
    if missing:
        raise ValueError(f"drift features missing from the reference or current frame: {missing}")
    rows = []
    for feature in features:  # one vectorised PSI per column; the loop is over columns, not rows
        is_categorical = feature in categorical or not _is_numeric(reference.schema[feature])
        ref_values, cur_values = reference[feature], current[feature]
        try:
            value = (
                categorical_psi(ref_values, cur_values, epsilon)
                if is_categorical
                else psi(ref_values.cast(pl.Float64).to_numpy(), cur_values.cast(pl.Float64).to_numpy(), bins, epsilon)
            )
        except ValueError:
            value = None
        rows.append(
            {
                "feature": feature,
                "psi": value,
                "status": status(value),
                "reference_rows": ref_values.len(),
                "current_rows": cur_values.len(),
            }
        )
    return pl.DataFrame(rows, schema=REPORT_SCHEMA)
