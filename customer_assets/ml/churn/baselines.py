"""The baselines a data scientist fits first, trained and scored exactly like the searched families.

- ``logistic_onehot``: the model matrix (one-hot categoricals, numeric text parsed) median-imputed with
  missing indicators, standard-scaled, into a plain ``LogisticRegression`` (sklearn defaults: C=1, no class
  weights). It is a fixed recipe on purpose: it is the bar the searched families must clear.
- ``frequency_only`` / ``recency_only``: one column, mapped to P(churn) by isotonic regression (more orders
  -> lower risk; longer since the last order -> higher risk), missing = the least active value seen.

Each becomes a ``FittedFamily`` (same out-of-fold calibration, threshold rule and folds as the families), so
when none of the searched families beats the best baseline the ``ChurnModel`` can serve the baseline
through the same ``predict_proba`` / ``explain`` API.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from customer_assets.ml.churn.calibration import MonotoneCalibrator, identity_calibrator
from customer_assets.ml.churn.evaluation import classification_metrics, max_f1_threshold
from customer_assets.ml.churn.model import FittedFamily
from customer_assets.ml.churn.splits import fold_index_pairs

LOGISTIC_BASELINE = "logistic_onehot"
FREQUENCY_BASELINE = "frequency_only"
RECENCY_BASELINE = "recency_only"


class ColumnIsotonicClassifier(ClassifierMixin, BaseEstimator):
    """P(churn) from one column of the model matrix: isotonic in that column, missing = least active value."""

    def __init__(self, index: int = 0, increasing: bool = True):
        self.index = index
        self.increasing = increasing

    def _column(self, matrix: np.ndarray) -> np.ndarray:
        values = np.asarray(matrix, dtype=np.float64)[:, self.index]
        return np.where(np.isnan(values), self.fill_value_, values)

    def fit(self, matrix: np.ndarray, labels: np.ndarray) -> "ColumnIsotonicClassifier":
        values = np.asarray(matrix, dtype=np.float64)[:, self.index]
        finite = values[~np.isnan(values)]
        # A customer with no value behaves like the least active one seen: the longest recency, no orders.
        if finite.size == 0:
            self.fill_value_ = 0.0
        else:
            self.fill_value_ = float(finite.max() + 1) if self.increasing else float(min(finite.min(), 0.0))
        self.isotonic_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=self.increasing)
        self.isotonic_.fit(self._column(matrix), labels)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        positive = self.isotonic_.predict(self._column(matrix))
        return np.column_stack([1.0 - positive, positive])


def logistic_baseline_pipeline(seed: int) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=1000, random_state=seed)),
        ]
    )


def baseline_estimators(
    feature_names: list[str], frequency_column: str | None, recency_column: str | None, seed: int
) -> tuple[dict, dict]:
    """({name: unfitted estimator}, {name: why it is absent}) for the baselines this frame allows."""
    estimators = {LOGISTIC_BASELINE: logistic_baseline_pipeline(seed)}
    missing: dict[str, str] = {}
    for name, column, increasing in (
        (FREQUENCY_BASELINE, frequency_column, False),
        (RECENCY_BASELINE, recency_column, True),
    ):
        if column and column in feature_names:
            estimators[name] = ColumnIsotonicClassifier(feature_names.index(column), increasing)
        else:
            missing[name] = f"no numeric {column!r} column in the input" if column else "column not given"
    return estimators, missing


def _clone(estimator):
    from sklearn.base import clone

    return clone(estimator)


def fit_baseline(
    name: str, estimator, matrix: np.ndarray, labels: np.ndarray, folds: np.ndarray, n_splits: int
) -> tuple[FittedFamily, np.ndarray, dict]:
    """(fitted baseline, calibrated out-of-fold predictions, cv metrics) on the same folds as the families."""
    oof = np.empty(labels.size)
    for train_rows, validation_rows in fold_index_pairs(folds, n_splits):
        fold_model = _clone(estimator).fit(matrix[train_rows], labels[train_rows])
        oof[validation_rows] = fold_model.predict_proba(matrix[validation_rows])[:, 1]
    if isinstance(estimator, ColumnIsotonicClassifier):
        calibrator = identity_calibrator()  # its isotonic map already is a calibrated probability
    else:
        calibrator = MonotoneCalibrator().fit(oof, labels)
    calibrated = calibrator.predict(oof)
    threshold = max_f1_threshold(labels, calibrated)
    final = _clone(estimator).fit(matrix, labels)
    params = {"C": 1.0} if name == LOGISTIC_BASELINE else {"column_index": int(estimator.index)}
    fitted = FittedFamily(name, "none", params, final, calibrator, threshold)
    return fitted, calibrated, classification_metrics(labels, calibrated, threshold)
