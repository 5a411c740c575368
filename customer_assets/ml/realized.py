"""How a model's past predictions did once their outcomes became known (realized performance).

Pure NumPy: the caller joins the scores made at some date with the labels observed later.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

SUPPORTED = ("roc_auc", "accuracy", "brier")
HIGHER_IS_BETTER = {"roc_auc": True, "accuracy": True, "brier": False}


def realized_metric(metric: str, labels, scores, threshold: float = 0.5) -> float | None:
    """`metric` of `scores` against binary `labels`; None when it is undefined (no rows, or one class for AUC)."""
    if metric not in SUPPORTED:
        raise ValueError(f"unknown realized metric {metric!r}; expected one of {SUPPORTED}")
    labels = np.asarray(labels, dtype=np.float64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels ({labels.size}) and scores ({scores.size}) differ in length")
    keep = np.isfinite(labels) & np.isfinite(scores)
    labels, scores = labels[keep], scores[keep]
    if labels.size == 0:
        return None
    if metric == "accuracy":
        return float(np.mean((scores >= threshold) == (labels > 0.5)))
    if metric == "brier":
        return float(np.mean((scores - labels) ** 2))
    positives = labels > 0.5
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    # Mann-Whitney form of the AUC: average ranks handle ties as half-wins.
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
