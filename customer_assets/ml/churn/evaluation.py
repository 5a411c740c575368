"""Metrics, the threshold rule, baselines, and the champion/challenger promotion gate."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    roc_auc_score,
)

PROMOTION_METRICS_HIGHER_IS_BETTER = {"roc_auc": True, "pr_auc": True, "f1": True, "brier": False}


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict:
    """ROC-AUC, PR-AUC (average precision), F1/precision/recall at ``threshold``, Brier, base rate."""
    labels = np.asarray(labels).astype(np.int8)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities >= threshold
    true_positives = float(np.sum(predicted & (labels == 1)))
    precision = true_positives / predicted.sum() if predicted.any() else 0.0
    recall = true_positives / labels.sum() if labels.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both_classes = 0 < labels.sum() < labels.size
    return {
        "roc_auc": float(roc_auc_score(labels, probabilities)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(labels, probabilities)) if both_classes else float("nan"),
        "f1": float(f1),
        "precision": float(precision),
        "recall": float(recall),
        "brier": float(brier_score_loss(labels, probabilities)),
        "threshold": float(threshold),
        "base_rate": float(labels.mean()),
        "rows": int(labels.size),
    }


def max_f1_threshold(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The threshold rule: the probability cut that maximises F1 on out-of-fold predictions."""
    precision, recall, thresholds = precision_recall_curve(labels, probabilities)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
    )[:-1]
    return float(thresholds[int(np.argmax(f1))])


def base_rate_metrics(labels: np.ndarray, training_base_rate: float) -> dict:
    """Everyone gets the training churn rate: ROC-AUC 0.5, PR-AUC = the holdout churn rate."""
    constant = np.full(len(labels), training_base_rate)
    metrics = classification_metrics(labels, constant, threshold=training_base_rate)
    metrics["roc_auc"], metrics["pr_auc"] = 0.5, float(np.mean(labels))
    return metrics


class RecencyBaseline:
    """P(churn) from days since the last order alone (isotonic, never-ordered = the longest recency)."""

    def __init__(self, column: str):
        self.column = column
        self.fill_value = 0.0
        self.calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
        self.threshold = 0.5

    def _filled(self, recency: np.ndarray) -> np.ndarray:
        recency = np.asarray(recency, dtype=np.float64)
        return np.where(np.isnan(recency), self.fill_value, recency)

    def fit(self, recency: np.ndarray, labels: np.ndarray) -> "RecencyBaseline":
        observed = np.asarray(recency, dtype=np.float64)
        finite = observed[~np.isnan(observed)]
        self.fill_value = float(finite.max() + 1) if finite.size else 0.0
        self.calibrator.fit(self._filled(observed), labels)
        self.threshold = max_f1_threshold(labels, self.predict_proba(observed))
        return self

    def predict_proba(self, recency: np.ndarray) -> np.ndarray:
        return self.calibrator.predict(self._filled(recency))

    def metrics(self, recency: np.ndarray, labels: np.ndarray) -> dict:
        return classification_metrics(labels, self.predict_proba(recency), self.threshold)


def should_promote(
    challenger_metrics: dict, champion_metrics: dict, metric: str = "roc_auc", margin: float = 0.005
) -> tuple[bool, str]:
    """Promote only if the challenger beats the champion on ``metric`` by at least ``margin``.

    Both metric dicts must come from the same holdout (see ``evaluate_on_holdout``). For Brier lower is
    better, so "beats by the margin" means lower by at least ``margin``.
    """
    if metric not in PROMOTION_METRICS_HIGHER_IS_BETTER:
        raise ValueError(f"unknown promotion metric {metric!r}; use one of {list(PROMOTION_METRICS_HIGHER_IS_BETTER)}")
    for name, metrics in (("challenger", challenger_metrics), ("champion", champion_metrics)):
        if metric not in metrics or metrics[metric] is None or not np.isfinite(metrics[metric]):
            raise ValueError(f"{name} metrics have no finite {metric!r}")
    challenger, champion = float(challenger_metrics[metric]), float(champion_metrics[metric])
    gain = challenger - champion if PROMOTION_METRICS_HIGHER_IS_BETTER[metric] else champion - challenger
    holdout_rows = (challenger_metrics.get("rows"), champion_metrics.get("rows"))
    if None not in holdout_rows and holdout_rows[0] != holdout_rows[1]:
        return False, (
            f"not comparable: challenger evaluated on {holdout_rows[0]} rows, champion on {holdout_rows[1]}; "
            "evaluate both on the same holdout"
        )
    if gain >= margin:
        return True, (
            f"promote: challenger {metric} {challenger:.4f} beats champion {champion:.4f} "
            f"by {gain:.4f} (margin {margin})"
        )
    return False, (
        f"keep champion: challenger {metric} {challenger:.4f} vs champion {champion:.4f} "
        f"improves by {gain:.4f}, below the margin {margin}"
    )


def evaluate_on_holdout(model, frame, label: str | None = None) -> dict:
    """The model's metrics on a labelled frame, at the model's own threshold, with baselines beside them.

    Use the same frame for the champion and the challenger, then pass both results to ``should_promote``.
    Returns the keys of ``model.report["metrics"]`` plus ``baseline_base_rate``, when the model has
    a recency baseline and the frame its column ``baseline_recency_only``, and ``baseline_<name>`` for the
    other fitted baselines that do not serve (``logistic_onehot``, ``frequency_only``); all metric dicts.
    """
    from customer_assets.ml.churn.preparation import coerce_label, validate_frame

    label = label or model.label
    validate_frame(frame, label)
    labels = coerce_label(frame[label])
    metrics = classification_metrics(labels, model.predict_proba(frame), model.threshold)
    metrics["family"] = model.family
    metrics["baseline_base_rate"] = base_rate_metrics(labels, model.training_base_rate)
    baseline = model.recency_baseline
    if baseline is not None and baseline.column in frame.columns:
        recency = model.preparer.raw_values(frame)[baseline.column].to_numpy().astype(np.float64)
        metrics["baseline_recency_only"] = baseline.metrics(recency, labels)
    matrix = None
    for name, fitted in getattr(model, "baseline_models", {}).items():  # absent on models pickled before them
        if name == "recency_only" or fitted is model.chosen:
            continue
        matrix = model.preparer.transform(frame) if matrix is None else matrix
        metrics[f"baseline_{name}"] = classification_metrics(labels, fitted.predict_proba(matrix), fitted.threshold)
    return metrics
