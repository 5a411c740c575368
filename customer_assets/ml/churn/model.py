"""The fitted, picklable churn model: calibrated probabilities, risk levels, reasons, importance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from customer_assets.ml.churn.evaluation import RecencyBaseline
from customer_assets.ml.churn.preparation import FeaturePreparer, validate_frame

RISK_LEVEL_CUT_POINTS = (0.2, 0.5)
"""Calibrated P(churn) cut points: Low below 0.2, Medium from 0.2 to below 0.5, High from 0.5 up.
Because probabilities are calibrated, "High" means at least an even chance of churning in the window."""

RISK_LEVELS = ("Low", "Medium", "High")


def risk_levels(probabilities: np.ndarray) -> np.ndarray:
    """Low / Medium / High for each probability, using ``RISK_LEVEL_CUT_POINTS``."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return np.asarray(RISK_LEVELS)[np.digitize(probabilities, RISK_LEVEL_CUT_POINTS, right=False)]


@dataclass
class FittedFamily:
    """One trained family (or baseline): pipeline fitted on the training rows plus its out-of-fold calibrator
    (``calibration.MonotoneCalibrator``; models pickled before it carry an sklearn ``IsotonicRegression``)."""

    family: str
    imbalance: str
    params: dict
    pipeline: Any
    calibrator: Any
    threshold: float

    def raw_scores(self, matrix: np.ndarray) -> np.ndarray:
        return self.pipeline.predict_proba(matrix)[:, 1]

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        return self.calibrator.predict(self.raw_scores(matrix))


@dataclass
class ChurnModel:
    label: str
    id_column: str | None
    time_column: str | None
    preparer: FeaturePreparer
    chosen: FittedFamily
    explainer: FittedFamily
    training_base_rate: float
    recency_baseline: RecencyBaseline | None
    report: dict = field(default_factory=dict)
    holdout_predictions: dict = field(default_factory=dict)
    """A sample of holdout labels and each family's (and baseline's) calibrated P(churn), for the plots."""
    baseline_models: dict = field(default_factory=dict)
    """The plain baselines (``baselines.py``) fitted beside the families; ``chosen`` is one of them when
    no family beat them (``report["served"]``)."""

    @property
    def feature_names(self) -> list[str]:
        """Input columns the model uses (before one-hot encoding)."""
        return self.preparer.source_columns

    @property
    def input_columns(self) -> list[str]:
        """Columns a caller supplies: ``feature_names`` less the derived purchase-process columns, plus their
        inputs (``purchase_features.py``)."""
        return self.preparer.input_numeric_columns + list(self.preparer.categorical_levels)

    @property
    def model_feature_names(self) -> list[str]:
        """Columns of the model matrix (one-hot columns named ``column=level``)."""
        return self.preparer.feature_names

    @property
    def threshold(self) -> float:
        return self.chosen.threshold

    @property
    def family(self) -> str:
        """Name of what serves: the chosen family, or the baseline that serves instead of it."""
        return self.chosen.family

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated P(churn), one per row (a 1-D numpy array)."""
        validate_frame(frame)
        return self.chosen.predict_proba(self.preparer.transform(frame))

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """1 where P(churn) reaches the chosen threshold."""
        return (self.predict_proba(frame) >= self.threshold).astype(np.int8)

    def risk_level(self, probabilities: np.ndarray) -> np.ndarray:
        return risk_levels(probabilities)

    def explain(self, frame: pl.DataFrame, top_k: int = 3) -> pl.DataFrame:
        """Per-row top reasons pushing churn risk up; see ``explain.explain_rows``."""
        from customer_assets.ml.churn.explain import explain_rows

        return explain_rows(self, frame, top_k=top_k)

    def global_importance(self) -> pl.DataFrame:
        """Mean |SHAP| per input column from the explaining tree model (computed on training data)."""
        importance = self.report.get("global_importance", [])
        return pl.DataFrame(
            importance, schema={"feature": pl.String, "mean_abs_contribution": pl.Float64, "share": pl.Float64}
        )
