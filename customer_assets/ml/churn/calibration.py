"""Isotonic calibration that keeps the model's ranking.

Plain isotonic regression maps every raw score inside a pooled block to one value, so customers the model
ranked apart become ties and ROC-AUC / PR-AUC drop (measured: about 0.001 ROC-AUC on the bank churn table).
``MonotoneCalibrator`` fits the same isotonic regression, then interpolates linearly between the centres
of its blocks (the mean raw score of each block, at the block's calibrated value): still a calibrated
probability at every block centre, strictly increasing between the first and last centre, so the ranking
of the raw scores survives calibration there. Below the first and above the last centre it is flat (clip).
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression


class MonotoneCalibrator:
    def __init__(self):
        self.centres = np.array([0.0, 1.0])
        self.values = np.array([0.0, 1.0])

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> "MonotoneCalibrator":
        scores = np.asarray(scores, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.float64)
        isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, labels)
        fitted = isotonic.predict(scores)
        # Blocks are the runs of equal fitted values; each contributes (mean raw score, calibrated value).
        levels, block = np.unique(fitted, return_inverse=True)
        counts = np.bincount(block)
        self.centres = np.bincount(block, weights=scores) / counts
        self.values = levels
        if self.centres.size == 1:  # one block (constant scores): a constant probability
            self.centres = np.array([self.centres[0], self.centres[0] + 1e-12])
            self.values = np.repeat(levels, 2)
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(scores, dtype=np.float64), self.centres, self.values)


def identity_calibrator() -> MonotoneCalibrator:
    """Leaves probabilities unchanged on [0, 1] (for scores that already are probabilities)."""
    return MonotoneCalibrator()
