"""Input coercion and validation: turn a table "as users have it" into a numeric model matrix.

Handles string categoricals (one-hot over the most frequent levels, everything else, including categories
never seen in training, goes to an ``__other__`` column), numbers stored as text with blanks
(``" "`` -> null -> number), booleans, missing values (kept as NaN; the model pipelines impute or use
native missing-value handling), a Yes/No, True/False or 1/0 label, and an id column that is never a
feature. Constant columns, date/time columns and identifier-like text columns are dropped and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import rankdata

MAX_CATEGORY_LEVELS = 30
"""One-hot columns per categorical feature; rarer and unseen levels share the ``__other__`` column."""

NUMERIC_TEXT_MIN_SHARE = 0.95
"""A text column is numeric when at least this share of its non-blank values parse as numbers."""

IDENTIFIER_MIN_UNIQUE_SHARE = 0.5
"""A text column with more distinct values than this share of rows (and over 50) is an identifier."""

LEAKAGE_MIN_AUC = 0.999
"""A single feature whose ROC-AUC against the label reaches this (or falls to 1 - this) is leakage."""

LEAKAGE_CHECK_MAX_ROWS = 200_000

OTHER_LEVEL = "__other__"
MISSING_LEVEL = "__missing__"

_POSITIVE_LABELS = {"yes", "y", "true", "t", "1", "1.0", "churned", "churn"}
_NEGATIVE_LABELS = {"no", "n", "false", "f", "0", "0.0", "retained", "active"}
_DATE_LIKE = (pl.Date, pl.Datetime, pl.Duration, pl.Time)


def validate_frame(frame: pl.DataFrame, label: str | None = None) -> None:
    """Raise a ValueError for inputs no model can be trained or scored on."""
    if not isinstance(frame, pl.DataFrame):
        raise ValueError(f"expected a polars DataFrame, got {type(frame).__name__}")
    if frame.height == 0:
        raise ValueError("the input frame is empty (0 rows)")
    if label is not None and label not in frame.columns:
        raise ValueError(f"label column {label!r} is missing; columns are {frame.columns}")


def coerce_label(series: pl.Series) -> np.ndarray:
    """Map a Yes/No, True/False, 1/0 (or churned/retained) label to an int8 array of 0/1."""
    name = series.name
    null_count = series.null_count()
    if null_count:
        raise ValueError(f"label column {name!r} has {null_count} missing values; drop or fill them first")
    if series.dtype == pl.Boolean:
        labels = series.cast(pl.Int8).to_numpy()
    elif series.dtype.is_numeric():
        values = series.cast(pl.Float64)
        bad = values.filter(~values.is_in([0.0, 1.0])).unique().head(5).to_list()
        if bad:
            raise ValueError(f"label column {name!r} must be 0/1; found values such as {bad}")
        labels = values.cast(pl.Int8).to_numpy()
    else:
        text = series.cast(pl.String).str.strip_chars().str.to_lowercase()
        positive = text.is_in(list(_POSITIVE_LABELS))
        negative = text.is_in(list(_NEGATIVE_LABELS))
        bad = series.filter(~(positive | negative)).unique().head(5).to_list()
        if bad:
            raise ValueError(f"label column {name!r} must be Yes/No, True/False or 1/0; found values such as {bad}")
        labels = positive.cast(pl.Int8).to_numpy()
    return labels.astype(np.int8)


def require_two_classes(labels: np.ndarray, label: str) -> None:
    positives = int(labels.sum())
    if positives == 0 or positives == labels.size:
        only = "churned" if positives else "not churned"
        raise ValueError(f"label column {label!r} has only one class (all rows are {only}); a churn model needs both")


def _numeric_expression(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return column.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False).alias(name)
    return column.cast(pl.Float64, strict=False).alias(name)


def _categorical_expression(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String).str.strip_chars().fill_null(MISSING_LEVEL).alias(name)


def _text_is_numeric(series: pl.Series) -> bool:
    stripped = series.cast(pl.String).str.strip_chars()
    non_blank = stripped.filter(stripped.is_not_null() & (stripped != ""))
    if non_blank.len() == 0:
        return False
    parsed = non_blank.cast(pl.Float64, strict=False)
    return parsed.is_not_null().mean() >= NUMERIC_TEXT_MIN_SHARE


@dataclass
class FeaturePreparer:
    """Learns column roles and categorical levels on training data; applies them identically later."""

    numeric_columns: list[str] = field(default_factory=list)
    categorical_levels: dict[str, list[str]] = field(default_factory=dict)
    dropped_columns: dict[str, str] = field(default_factory=dict)
    numeric_from_text: list[str] = field(default_factory=list)
    derived: Any = None
    """Optional ``purchase_features.PurchaseProcessFeatures``: columns computed from other inputs before
    anything else, so every caller (training, batch scores, the live service) gets them from one fit."""

    @property
    def source_columns(self) -> list[str]:
        return self.numeric_columns + list(self.categorical_levels)

    @property
    def derived_columns(self) -> list[str]:
        from customer_assets.ml.churn.purchase_features import OUTPUT_COLUMNS

        return list(OUTPUT_COLUMNS) if getattr(self, "derived", None) is not None else []

    @property
    def input_numeric_columns(self) -> list[str]:
        """The numeric columns a caller supplies (the derived ones are computed from them)."""
        derived = set(self.derived_columns)
        inputs = [c for c in self.numeric_columns if c not in derived]
        if derived:
            inputs += [c for c in self.derived.input_columns if c not in inputs]
        return inputs

    def _derive(self, frame: pl.DataFrame) -> pl.DataFrame:
        derived = getattr(self, "derived", None)  # absent on models pickled before it
        return frame if derived is None else derived.add(frame)

    @property
    def feature_names(self) -> list[str]:
        names = list(self.numeric_columns)
        for column, levels in self.categorical_levels.items():
            names += [f"{column}={level}" for level in levels] + [f"{column}={OTHER_LEVEL}"]
        return names

    @property
    def feature_sources(self) -> list[str]:
        """The source column of each model-matrix column (one-hot columns map to their categorical)."""
        sources = list(self.numeric_columns)
        for column, levels in self.categorical_levels.items():
            sources += [column] * (len(levels) + 1)
        return sources

    def fit(self, frame: pl.DataFrame, exclude: list[str]) -> "FeaturePreparer":
        frame = self._derive(frame)
        candidates = [c for c in frame.columns if c not in set(exclude)]
        rows = frame.height
        for column in candidates:
            dtype = frame.schema[column]
            if isinstance(dtype, _DATE_LIKE) or dtype in _DATE_LIKE:
                self.dropped_columns[column] = "date/time column (not used as a feature)"
            elif dtype == pl.Boolean or dtype.is_numeric():
                self.numeric_columns.append(column)
            elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
                if _text_is_numeric(frame[column]):
                    self.numeric_columns.append(column)
                    if dtype == pl.String:
                        self.numeric_from_text.append(column)
                else:
                    distinct = frame[column].n_unique()
                    if distinct > max(50, IDENTIFIER_MIN_UNIQUE_SHARE * rows):
                        self.dropped_columns[column] = f"identifier-like text ({distinct} distinct values)"
                    else:
                        self.categorical_levels[column] = []
            else:
                self.dropped_columns[column] = f"unsupported type {dtype}"

        coerced = self._coerce(frame, derive=False)  # derived above already
        constant = [c for c in coerced.columns if coerced[c].n_unique() <= 1]
        for column in constant:
            self.dropped_columns[column] = "constant column"
        self.numeric_columns = [c for c in self.numeric_columns if c not in constant]
        self.numeric_from_text = [c for c in self.numeric_from_text if c not in constant]
        for column in list(self.categorical_levels):
            if column in constant:
                del self.categorical_levels[column]
                continue
            counts = coerced[column].value_counts(sort=True).head(MAX_CATEGORY_LEVELS)
            self.categorical_levels[column] = counts[column].to_list()
        if not self.source_columns:
            raise ValueError(
                "no usable feature columns remain after excluding the label/id/time columns and dropping "
                f"unusable ones: {self.dropped_columns}"
            )
        return self

    def _coerce(self, frame: pl.DataFrame, derive: bool = True) -> pl.DataFrame:
        """Numeric columns as Float64 (null for blanks/unparseable text), categoricals as stripped strings."""
        frame = self._derive(frame) if derive else frame
        missing = [c for c in self.source_columns if c not in frame.columns]
        if missing:
            raise ValueError(f"feature columns missing from the input frame: {missing}")
        expressions = [_numeric_expression(c, frame.schema[c]) for c in self.numeric_columns]
        expressions += [_categorical_expression(c) for c in self.categorical_levels]
        return frame.select(expressions)

    def raw_values(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The coerced source columns, used for readable reasons."""
        return self._coerce(frame)

    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        """The float32 model matrix (NaN = missing), columns in ``feature_names`` order."""
        coerced = self._coerce(frame)
        expressions: list[pl.Expr] = [pl.col(c).cast(pl.Float32) for c in self.numeric_columns]
        for column, levels in self.categorical_levels.items():
            values = pl.col(column)
            expressions += [(values == level).cast(pl.Float32).alias(f"{column}={level}") for level in levels]
            expressions.append((~values.is_in(levels)).cast(pl.Float32).alias(f"{column}={OTHER_LEVEL}"))
        matrix = coerced.select(expressions).to_numpy()
        return np.ascontiguousarray(matrix, dtype=np.float32)


def _rank_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    positives = labels.sum()
    negatives = labels.size - positives
    ranks = rankdata(scores)
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def check_for_label_leakage(
    preparer: FeaturePreparer, frame: pl.DataFrame, labels: np.ndarray, label: str, seed: int = 0
) -> None:
    """Raise if any single feature reproduces the label (identical, perfect separation, or its nulls do)."""
    if frame.height > LEAKAGE_CHECK_MAX_ROWS:
        keep = np.random.default_rng(seed).choice(frame.height, LEAKAGE_CHECK_MAX_ROWS, replace=False)
        frame, labels = frame[np.sort(keep)], labels[np.sort(keep)]
    coerced = preparer.raw_values(frame)
    problems: list[str] = []
    for column in preparer.numeric_columns:
        values = coerced[column].to_numpy().astype(np.float64)
        missing = np.isnan(values)
        if 0 < missing.sum() < values.size and (
            np.array_equal(missing, labels == 1) or np.array_equal(missing, labels == 0)
        ):
            problems.append(f"{column!r} is missing exactly when {label!r} is one class")
            continue
        present = ~missing
        present_labels = labels[present]
        if present.sum() < max(30, 0.5 * values.size) or present_labels.min() == present_labels.max():
            continue
        auc = _rank_auc(values[present], present_labels)
        if auc >= LEAKAGE_MIN_AUC or auc <= 1 - LEAKAGE_MIN_AUC:
            problems.append(f"{column!r} alone predicts {label!r} perfectly (ROC-AUC {auc:.4f})")
    for column in preparer.categorical_levels:
        purity = (
            pl.DataFrame({"level": coerced[column], "y": labels})
            .group_by("level")
            .agg(pl.col("y").mean().alias("share"), pl.len().alias("rows"))
        )
        if purity.height < frame.height / 10 and purity["share"].is_in([0.0, 1.0]).all():
            problems.append(f"{column!r} alone predicts {label!r} perfectly (every level is one class)")
    if problems:
        raise ValueError(
            "label leakage: "
            + "; ".join(problems)
            + ". Remove these columns (or compute them only from data before the cutoff)."
        )
