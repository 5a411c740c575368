"""Per-customer reasons and global importance from the boosted tree's own SHAP contributions.

Contributions come from LightGBM ``pred_contrib=True`` / XGBoost ``pred_contribs=True`` (TreeSHAP, in
log-odds of the uncalibrated score) of the explaining model: the chosen family when it is LightGBM or
XGBoost, otherwise the best boosted family trained alongside it (``report["explanations"]`` says which).
Contributions of one-hot and missing-indicator columns are summed back to their input column, so a
reason always names one input column. Only contributions that push risk up become reasons.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from customer_assets.ml.churn.families import raw_contributions, transformed_feature_sources
from customer_assets.ml.churn.preparation import validate_frame
from customer_assets.ml.churn.reason_text import reason_texts


def source_contributions(model, matrix: np.ndarray) -> np.ndarray:
    """(rows x input columns) SHAP contributions, in ``model.feature_names`` order."""
    pipeline = model.explainer.pipeline
    preparer = model.preparer
    contributions = raw_contributions(pipeline, matrix)[:, :-1]
    sources = transformed_feature_sources(pipeline, preparer.feature_sources)
    position = {name: i for i, name in enumerate(preparer.source_columns)}
    to_source = np.zeros((len(sources), len(position)), dtype=np.float64)
    to_source[np.arange(len(sources)), [position[s] for s in sources]] = 1.0
    return contributions @ to_source


def global_importance_table(model, matrix: np.ndarray) -> list[dict]:
    """Mean |contribution| per input column, largest first, as JSON-friendly rows."""
    mean_abs = np.abs(source_contributions(model, matrix)).mean(axis=0)
    total = mean_abs.sum() or 1.0
    order = np.argsort(-mean_abs)
    names = model.preparer.source_columns
    return [
        {"feature": names[i], "mean_abs_contribution": float(mean_abs[i]), "share": float(mean_abs[i] / total)}
        for i in order
    ]


def explain_rows(model, frame: pl.DataFrame, top_k: int = 3) -> pl.DataFrame:
    """Top ``top_k`` reasons per row that push churn risk up.

    Columns: the id column (when present), ``churn_probability``, ``risk_level``, ``top_reasons``
    (list of readable strings, largest contribution first), and for k = 1..top_k ``reason_k``,
    ``reason_feature_k`` and ``contribution_k`` (null where fewer than k inputs push risk up).
    """
    validate_frame(frame)
    if top_k < 1:
        raise ValueError("top_k must be at least 1")
    preparer = model.preparer
    matrix = preparer.transform(frame)
    probabilities = model.chosen.predict_proba(matrix)
    contributions = source_contributions(model, matrix)
    top_k = min(top_k, contributions.shape[1])
    top_columns = np.argsort(-contributions, axis=1, kind="stable")[:, :top_k]
    top_values = np.take_along_axis(contributions, top_columns, axis=1)
    pushes_up = top_values > 0

    texts = reason_texts(preparer.raw_values(frame), preparer.numeric_columns, preparer.categorical_levels)
    text_matrix = texts.to_numpy().astype(object)
    chosen_texts = np.take_along_axis(text_matrix, top_columns, axis=1)
    feature_names = np.asarray(preparer.source_columns, dtype=object)[top_columns]

    columns: dict[str, pl.Series] = {}
    if model.id_column and model.id_column in frame.columns:
        columns[model.id_column] = frame[model.id_column]
    columns["churn_probability"] = pl.Series(probabilities, dtype=pl.Float64)
    columns["risk_level"] = pl.Series(model.risk_level(probabilities), dtype=pl.String)
    for k in range(top_k):
        keep = pushes_up[:, k]
        # Through lists: an object array that is all None (no row has a k-th reason) does not cast to String.
        columns[f"reason_{k + 1}"] = pl.Series(np.where(keep, chosen_texts[:, k], None).tolist(), dtype=pl.String)
        columns[f"reason_feature_{k + 1}"] = pl.Series(
            np.where(keep, feature_names[:, k], None).tolist(), dtype=pl.String
        )
        columns[f"contribution_{k + 1}"] = pl.Series(np.where(keep, top_values[:, k], np.nan)).fill_nan(None)
    reasons = pl.DataFrame(columns)
    top_reasons = pl.concat_list([pl.col(f"reason_{k + 1}") for k in range(top_k)]).list.drop_nulls()
    return reasons.with_columns(top_reasons.alias("top_reasons")).select(
        [c for c in reasons.columns if not c.startswith(("reason", "contribution"))]
        + ["top_reasons"]
        + [c for c in reasons.columns if c.startswith(("reason", "contribution"))]
    )
