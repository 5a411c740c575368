"""ROC, precision-recall, calibration and importance plots written as PNGs (Agg backend).

Curves use ``model.holdout_predictions`` (a sample of the holdout, every trained family) unless a
labelled frame is passed, in which case only the chosen model is drawn on that frame.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from customer_assets.ml.churn.preparation import coerce_label  # noqa: E402

CALIBRATION_BINS = 10


def _curves(model, frame=None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if frame is not None:
        return coerce_label(frame[model.label]), {model.family: model.predict_proba(frame)}
    stored = dict(model.holdout_predictions)
    if not stored:
        raise ValueError("the model holds no holdout predictions; pass a labelled frame")
    labels = stored.pop("labels")
    return labels, stored


def _save(figure, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def _label(model, family: str) -> str:
    return f"{family} (chosen)" if family == model.family else family


def plot_roc(model, folder, frame=None) -> Path:
    labels, scores = _curves(model, frame)
    figure, axis = plt.subplots(figsize=(5, 5))
    for family, probabilities in scores.items():
        fpr, tpr, _ = roc_curve(labels, probabilities)
        axis.plot(fpr, tpr, label=_label(model, family))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="base rate")
    axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (holdout)")
    axis.legend(loc="lower right")
    return _save(figure, Path(folder), "churn_roc.png")


def plot_precision_recall(model, folder, frame=None) -> Path:
    labels, scores = _curves(model, frame)
    figure, axis = plt.subplots(figsize=(5, 5))
    for family, probabilities in scores.items():
        precision, recall, _ = precision_recall_curve(labels, probabilities)
        axis.plot(recall, precision, label=_label(model, family))
    axis.axhline(labels.mean(), linestyle="--", color="grey", label="base rate")
    axis.set(xlabel="recall", ylabel="precision", title="Precision-recall (holdout)")
    axis.legend(loc="upper right")
    return _save(figure, Path(folder), "churn_precision_recall.png")


def plot_calibration(model, folder, frame=None) -> Path:
    labels, scores = _curves(model, frame)
    figure, axis = plt.subplots(figsize=(5, 5))
    for family, probabilities in scores.items():
        observed, predicted = calibration_curve(labels, probabilities, n_bins=CALIBRATION_BINS, strategy="quantile")
        axis.plot(predicted, observed, marker="o", label=_label(model, family))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    axis.set(xlabel="predicted P(churn)", ylabel="observed churn rate", title="Calibration (holdout)")
    axis.legend(loc="upper left")
    return _save(figure, Path(folder), "churn_calibration.png")


def plot_importance(model, folder, top_n: int = 20) -> Path:
    importance = model.global_importance().head(top_n)
    figure, axis = plt.subplots(figsize=(6, 0.3 * max(len(importance), 4) + 1))
    axis.barh(importance["feature"].to_list()[::-1], importance["mean_abs_contribution"].to_list()[::-1])
    axis.set(xlabel="mean |SHAP contribution| (log-odds)", title=f"Global importance ({model.explainer.family})")
    return _save(figure, Path(folder), "churn_importance.png")


def write_plots(model, folder, frame=None) -> dict[str, Path]:
    """All four plots into ``folder``; returns {"roc": path, "precision_recall": ..., ...}."""
    return {
        "roc": plot_roc(model, folder, frame),
        "precision_recall": plot_precision_recall(model, folder, frame),
        "calibration": plot_calibration(model, folder, frame),
        "importance": plot_importance(model, folder),
    }
