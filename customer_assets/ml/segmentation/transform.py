"""Turn a customer feature frame into a matrix fit for distance-based clustering.

Recipe (every choice is recorded in ``FittedTransform.describe()``):

1. Column choice (``FeatureSelection``, recorded in the report): ``feature_columns`` if given (each
   must exist and be numeric), else the RFM/value/engagement columns of ``DEFAULT_FEATURE_COLUMNS``
   that are present and numeric, else (a table with its own column names, e.g. a bank's export) every
   numeric or boolean column except the id, skipping columns that are entirely null/NaN, constant, or
   row numbers (integers, all distinct, and consecutive or sorted in row order: a surrogate key, not a
   behaviour; pass feature_columns to keep such a column).
2. Missing values (NULL or NaN) are filled by meaning, with values learnt on the fit rows only:
   - ``recency_days`` NULL means "never ordered": filled with the largest observed recency, so those
     customers sort with the most lapsed;
   - counts and amounts (``ZERO_FILL_COLUMNS``) NULL means "no history": filled with 0;
   - anything else (rates, scores, tenure, ratings) is filled with the fit-row median.
3. Log: a column whose fit-row skewness exceeds ``SKEW_THRESHOLD`` gets ``sign(x) * log1p(|x|)``
   (plain ``log1p`` for non-negative data), because RFM amounts are heavy-tailed and Euclidean
   clustering on raw amounts only separates a handful of big spenders.
4. Robust scaling: ``(x - median) / IQR``; a column whose IQR is 0 (e.g. mostly zeros) falls back to
   ``1.349 * std`` (the IQR of a normal with that std). Scaled values are clipped to
   ``+-clip_at`` so a few extreme customers cannot claim their own cluster.

Bad input raises ValueError naming the column: missing, non-numeric, infinite, entirely null/NaN, or
constant on the fit rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

DEFAULT_FEATURE_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "login_frequency",
    "engagement_score",
)
RECENCY_COLUMN = "recency_days"
ZERO_FILL_COLUMNS: frozenset[str] = frozenset(
    {
        "frequency",
        "monetary",
        "avg_order_value",
        "clv_to_date",
        "orders_90d",
        "orders_prev_90d",
        "order_trend",
        "category_breadth",
        "login_frequency",
        "sessions_90d",
        "support_tickets_90d",
        "review_count",
    }
)
SKEW_THRESHOLD = 1.0
NORMAL_IQR_PER_STD = 1.349


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Boolean


@dataclass
class FeatureSelection:
    columns: list[str]
    mode: str  # "explicit" | "default_columns" | "all_numeric_columns"
    skipped: dict[str, str]  # column -> why it was left out

    def describe(self) -> dict:
        return {"mode": self.mode, "columns": list(self.columns), "skipped": dict(self.skipped)}


def _skip_reason(series: pl.Series) -> str | None:
    values = series.cast(pl.Float64)
    values = values.fill_nan(None).drop_nulls()
    if values.len() == 0:
        return "entirely null/NaN"
    if values.n_unique() == 1:
        return f"constant ({values[0]})"
    if (
        series.dtype.is_integer()
        and series.len() > 2
        and series.null_count() == 0
        and series.n_unique() == series.len()
    ):
        # A counter stays consecutive on the full export and sorted on any row subset taken in file order.
        if series.max() - series.min() + 1 == series.len() or series.is_sorted() or series.is_sorted(descending=True):
            return "row number (distinct integers, consecutive or in row order)"
    return None


def select_feature_columns(
    features: pl.DataFrame, feature_columns: list[str] | tuple[str, ...] | None, id_column: str | None = None
) -> FeatureSelection:
    """Apply the column-choice rule (module docstring, step 1); raises when nothing usable remains."""
    if feature_columns is not None:
        columns, _ = resolve_feature_columns(features, feature_columns)
        return FeatureSelection(columns, "explicit", {})
    present = [c for c in DEFAULT_FEATURE_COLUMNS if c in features.columns]
    defaults = [c for c in present if _is_numeric(features.schema[c])]
    if defaults:
        return FeatureSelection(
            defaults,
            "default_columns",
            {c: f"not numeric ({features.schema[c]})" for c in present if c not in defaults},
        )
    skipped: dict[str, str] = {}
    columns = []
    for name, dtype in features.schema.items():
        if name == id_column:
            continue
        if not _is_numeric(dtype):
            skipped[name] = f"not numeric ({dtype})"
            continue
        reason = _skip_reason(features.get_column(name))
        if reason:
            skipped[name] = reason
        else:
            columns.append(name)
    if not columns:
        raise ValueError(
            f"none of the default feature columns {list(DEFAULT_FEATURE_COLUMNS)} is present and numeric, and "
            f"no other numeric column is usable (skipped: {skipped}); pass feature_columns explicitly"
        )
    return FeatureSelection(columns, "all_numeric_columns", skipped)


def resolve_feature_columns(
    features: pl.DataFrame, feature_columns: list[str] | tuple[str, ...] | None
) -> tuple[list[str], list[str]]:
    """Explicit or default columns only: (columns to use, default columns skipped as not numeric)."""
    if feature_columns is not None:
        columns = list(feature_columns)
        if not columns:
            raise ValueError("feature_columns is empty: give at least one numeric feature column")
        missing = [c for c in columns if c not in features.columns]
        if missing:
            raise ValueError(f"feature column(s) not in the frame: {missing}")
        non_numeric = [c for c in columns if not _is_numeric(features.schema[c])]
        if non_numeric:
            raise ValueError(
                f"feature column(s) are not numeric: { {c: str(features.schema[c]) for c in non_numeric} }"
            )
        return columns, []
    present = [c for c in DEFAULT_FEATURE_COLUMNS if c in features.columns]
    columns = [c for c in present if _is_numeric(features.schema[c])]
    skipped = [c for c in present if c not in columns]
    if not columns:
        raise ValueError(
            f"none of the default feature columns {list(DEFAULT_FEATURE_COLUMNS)} is present and "
            f"numeric; pass feature_columns explicitly"
        )
    return columns, skipped


def to_float_matrix(features: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """Float64 matrix with NULL and NaN both as NaN; raises on infinities."""
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"feature column(s) not in the frame: {missing}")
    matrix = (
        features.select(pl.col(c).cast(pl.Float64).fill_nan(None) for c in columns)
        .to_numpy(allow_copy=True)
        .astype(np.float64, copy=False)
    )
    infinite = np.isinf(matrix).any(axis=0)
    if infinite.any():
        raise ValueError(
            f"feature column(s) contain infinite values: {[c for c, bad in zip(columns, infinite) if bad]}"
        )
    return np.ascontiguousarray(matrix)


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def _skewness(values: np.ndarray) -> np.ndarray:
    centred = values - values.mean(axis=0)
    std = centred.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(std > 0, (centred**3).mean(axis=0) / std**3, 0.0)


@dataclass
class FittedTransform:
    """Fill + log + robust scale, with every statistic learnt on the fit rows."""

    columns: list[str]
    fill_values: np.ndarray
    fill_rules: list[str]
    log_applied: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    scale_method: list[str]
    clip_at: float
    skewness: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fill(self, raw: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(raw), self.fill_values, raw)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        filled = self.fill(raw)
        logged = np.where(self.log_applied, _signed_log1p(filled), filled)
        scaled = (logged - self.centre) / self.scale
        return np.clip(scaled, -self.clip_at, self.clip_at)

    def transform(self, features: pl.DataFrame) -> np.ndarray:
        return self.apply(to_float_matrix(features, self.columns))

    def describe(self) -> dict:
        return {
            "method": "fill by meaning, signed log1p on skewed columns, robust (median/IQR) scaling, clip",
            "skew_threshold": SKEW_THRESHOLD,
            "clip_at": float(self.clip_at),
            "columns": {
                column: {
                    "fill_rule": self.fill_rules[i],
                    "fill_value": float(self.fill_values[i]),
                    "skewness": float(self.skewness[i]) if len(self.skewness) else None,
                    "log1p": bool(self.log_applied[i]),
                    "centre": float(self.centre[i]),
                    "scale": float(self.scale[i]),
                    "scale_method": self.scale_method[i],
                }
                for i, column in enumerate(self.columns)
            },
        }


def fit_transform(raw: np.ndarray, columns: list[str], clip_at: float = 5.0) -> FittedTransform:
    """Learn the transform on ``raw`` (fit rows only, NaN = missing)."""
    if raw.ndim != 2 or raw.shape[1] != len(columns):
        raise ValueError(f"expected a matrix with {len(columns)} columns, got shape {raw.shape}")
    all_missing = np.isnan(raw).all(axis=0)
    if all_missing.any():
        raise ValueError(
            f"feature column(s) are entirely null/NaN: {[c for c, bad in zip(columns, all_missing) if bad]}"
        )
    with np.errstate(all="ignore"):
        observed_max = np.nanmax(raw, axis=0)
        observed_median = np.nanmedian(raw, axis=0)
    fill_rules, fill_values = [], []
    for i, column in enumerate(columns):
        if column == RECENCY_COLUMN:
            fill_rules.append("max_observed (never ordered = most lapsed)")
            fill_values.append(observed_max[i])
        elif column in ZERO_FILL_COLUMNS:
            fill_rules.append("zero (no history)")
            fill_values.append(0.0)
        else:
            fill_rules.append("median")
            fill_values.append(observed_median[i])
    fill_values_arr = np.asarray(fill_values, dtype=np.float64)
    filled = np.where(np.isnan(raw), fill_values_arr, raw)

    spread = filled.std(axis=0)
    constant = spread == 0
    if constant.any():
        raise ValueError(
            "feature column(s) are constant on the fit rows (after filling missing values), so they "
            f"cannot separate customers: { {c: float(filled[0, i]) for i, c in enumerate(columns) if constant[i]} }"
        )
    skewness = _skewness(filled)
    log_applied = np.abs(skewness) > SKEW_THRESHOLD
    logged = np.where(log_applied, _signed_log1p(filled), filled)
    q25, centre, q75 = np.percentile(logged, [25, 50, 75], axis=0)
    iqr = q75 - q25
    std_equivalent = NORMAL_IQR_PER_STD * logged.std(axis=0)
    scale = np.where(iqr > 0, iqr, std_equivalent)
    scale_method = ["iqr" if value > 0 else "1.349*std (iqr is 0)" for value in iqr]
    return FittedTransform(
        columns=list(columns),
        fill_values=fill_values_arr,
        fill_rules=fill_rules,
        log_applied=log_applied,
        centre=centre,
        scale=scale,
        scale_method=scale_method,
        clip_at=float(clip_at),
        skewness=skewness,
    )
