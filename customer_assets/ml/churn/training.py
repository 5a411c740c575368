"""``train_churn_model``: split, search, cross-validate, calibrate, choose, and report.

Rules (documented here because the report refers to them):
- Holdout: with ``time_column`` the rows at its latest value (the latest cutoff) are the holdout and all
  earlier snapshots train; otherwise about ``holdout_share`` of customers (stratified, whole customers).
  With ``label_window_days`` and a date ``time_column``, training snapshots whose label window reaches
  past the holdout cutoff are purged (their labels would use the holdout's future).
- Cross-validation: ``n_splits`` stratified group folds on the id column (splits.py).
- Search: bounded random search per family, scored on the first fold's group-disjoint split by the
  selection metric; ``search_budget_seconds`` is shared equally between families.
- Calibration: isotonic regression from out-of-fold raw scores to the label, interpolated between its
  block centres so the ranking survives (calibration.py), applied to the model refitted on the family's
  training rows.
- Threshold: the probability cut that maximises F1 on the calibrated out-of-fold predictions.
- Family choice: highest cross-validated ``selection_metric`` (PR-AUC by default, the ranking quality on
  the churners); a simpler family wins when within ``SELECTION_TOLERANCE`` of the best. The holdout is
  never used to choose, so its figures stay honest.
- Baselines (baselines.py): one-hot + scaled logistic regression on all features, and frequency alone /
  recency alone where those columns exist, cross-validated on the chosen family's rows and folds. The
  chosen family is served only if its cross-validated ``selection_metric`` beats the best baseline's by
  more than ``SELECTION_TOLERANCE``; otherwise that baseline is served (``report["served"]`` and
  ``report["served_reason"]`` say which and why; ``report["metrics"]`` are the served model's).
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from customer_assets.ml.churn.baselines import baseline_estimators, fit_baseline
from customer_assets.ml.churn.calibration import MonotoneCalibrator, identity_calibrator
from customer_assets.ml.churn.evaluation import (
    RecencyBaseline,
    base_rate_metrics,
    classification_metrics,
    max_f1_threshold,
)
from customer_assets.ml.churn.explain import global_importance_table
from customer_assets.ml.churn.families import (
    BOOSTED_TREE_FAMILIES,
    DEFAULT_MAX_TRAINING_ROWS,
    DEFAULT_PARAMS,
    FAMILIES,
    IMBALANCE_STRATEGIES,
    SIMPLICITY_ORDER,
    SMOTE_MAX_TRAINING_ROWS,
)
from customer_assets.ml.churn.model import RISK_LEVEL_CUT_POINTS, ChurnModel, FittedFamily
from customer_assets.ml.churn.preparation import (
    FeaturePreparer,
    check_for_label_leakage,
    coerce_label,
    require_two_classes,
    validate_frame,
)
from customer_assets.ml.churn.search import Candidate, out_of_fold_scores, pipeline_for, random_search
from customer_assets.ml.churn.splits import (
    fold_index_pairs,
    group_codes,
    group_sample,
    latest_time_holdout,
    stratified_group_folds,
    stratified_group_holdout,
)

SELECTION_TOLERANCE = 0.002
IMPORTANCE_SAMPLE_ROWS = 20_000
PLOT_SAMPLE_ROWS = 50_000
METRIC_KEYS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "brier", "threshold", "base_rate", "rows")


def _check_arguments(frame, label, id_column, time_column, families, imbalance, selection_metric):
    validate_frame(frame, label)
    for role, column in (("id", id_column), ("time", time_column)):
        if column is not None and column not in frame.columns:
            raise ValueError(f"{role} column {column!r} is missing; columns are {frame.columns}")
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"unknown model families {unknown}; choose from {FAMILIES}")
    unknown = [s for s in imbalance if s not in IMBALANCE_STRATEGIES]
    if unknown or not imbalance:
        raise ValueError(f"unknown imbalance strategies {unknown}; choose from {IMBALANCE_STRATEGIES}")
    if selection_metric not in ("pr_auc", "roc_auc"):
        raise ValueError("selection_metric must be 'pr_auc' or 'roc_auc'")


def _holdout_mask(frame, labels, groups, time_column, label_window_days, holdout_share, seed):
    """(holdout mask, purged-from-training mask, split description)."""
    purged = np.zeros(frame.height, dtype=bool)
    if time_column is None:
        holdout = stratified_group_holdout(labels, groups, holdout_share, seed)
        return holdout, purged, {"holdout": "stratified group split", "holdout_share": holdout_share}
    times = frame[time_column]
    holdout = latest_time_holdout(times)
    cutoff = times.max()
    description = {"holdout": f"latest {time_column}", "holdout_cutoff": str(cutoff)}
    if label_window_days is not None and times.dtype in (pl.Date, pl.Datetime):
        window_end = frame.select(pl.col(time_column) + pl.duration(days=label_window_days)).to_series()
        purged = (window_end > cutoff).to_numpy() & ~holdout
        description["purged_training_rows"] = int(purged.sum())
        description["purge_rule"] = (
            f"training snapshots whose {label_window_days}-day label window passes the holdout cutoff"
        )
    elif label_window_days is not None:
        description["purge_rule"] = f"not applied: {time_column!r} is not a date column"
    return holdout, purged, description


def _json_params(params: dict) -> dict:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}


def _row_caps(family, imbalance, max_training_rows, cv_max_rows):
    fit_cap = max_training_rows.get(family)
    if imbalance == "smote":
        fit_cap = SMOTE_MAX_TRAINING_ROWS if fit_cap is None else min(fit_cap, SMOTE_MAX_TRAINING_ROWS)
    cv_cap = cv_max_rows if fit_cap is None else min(fit_cap, cv_max_rows)
    return fit_cap, cv_cap


def _train_family(
    family,
    imbalance_strategies,
    matrix,
    labels,
    groups,
    folds,
    n_splits,
    budget,
    max_trials,
    max_training_rows,
    cv_max_rows,
    search_max_rows,
    selection_metric,
    seed,
):
    started = time.perf_counter()
    search_rows = group_sample(groups, search_max_rows, seed)
    if max_training_rows.get(family) is not None:
        search_rows = search_rows[group_sample(groups[search_rows], max_training_rows[family], seed + 1)]
    trials = random_search(
        family,
        imbalance_strategies,
        matrix,
        labels,
        train_rows=search_rows[folds[search_rows] != 0],
        validation_rows=search_rows[folds[search_rows] == 0],
        budget_seconds=budget,
        max_trials=max_trials,
        metric=selection_metric,
        seed=seed,
    )
    best = max(trials, key=lambda c: (np.nan_to_num(c.score, nan=-1.0), -len(c.params)))
    search_seconds = time.perf_counter() - started

    fit_cap, cv_cap = _row_caps(family, best.imbalance, max_training_rows, cv_max_rows)
    fit_rows = group_sample(groups, fit_cap, seed + 2)
    cv_rows = fit_rows[group_sample(groups[fit_rows], cv_cap, seed + 3)]
    cv_labels = labels[cv_rows]
    fold_pairs = [(cv_rows[t], cv_rows[v]) for t, v in fold_index_pairs(folds[cv_rows], n_splits)]
    scores, fold_auc = out_of_fold_scores(best, matrix, labels, fold_pairs, seed)
    oof_raw = scores[cv_rows]
    calibrator = MonotoneCalibrator().fit(oof_raw, cv_labels)
    oof_calibrated = calibrator.predict(oof_raw)
    threshold = max_f1_threshold(cv_labels, oof_calibrated)
    cv_metrics = classification_metrics(cv_labels, oof_calibrated, threshold)
    cv_metrics["roc_auc_fold_std"] = float(np.std(fold_auc)) if fold_auc else float("nan")
    cv_seconds = time.perf_counter() - started - search_seconds

    # Every family is refitted on its cross-validation rows for the holdout comparison; only the chosen
    # family is then refitted on all of its rows (``_refit_on_all_rows``), which keeps 1M-row training short.
    pipeline = pipeline_for(best, labels[cv_rows], seed)
    pipeline.fit(matrix[cv_rows], labels[cv_rows])
    fitted = FittedFamily(family, best.imbalance, best.params, pipeline, calibrator, threshold)
    summary = {
        "imbalance": best.imbalance,
        "params": _json_params(best.params),
        "rows_fitted": int(cv_rows.size),
        "rows_available": int(fit_rows.size),
        "rows_cross_validated": int(cv_rows.size),
        "search_trials": len(trials),
        "search_rows": int(search_rows.size),
        "search_best_score": float(best.score),
        "cv": cv_metrics,
        "seconds": {
            "search": round(search_seconds, 2),
            "cross_validation": round(cv_seconds, 2),
            "refit": round(time.perf_counter() - started - search_seconds - cv_seconds, 2),
        },
    }
    imbalance_rows = []
    for strategy in imbalance_strategies:
        scored = [c.score for c in trials if c.imbalance == strategy]
        imbalance_rows.append(
            {
                "family": family,
                "imbalance": strategy,
                "trials": len(scored),
                f"best_search_{selection_metric}": float(np.nanmax(scored)) if scored else float("nan"),
            }
        )
    return fitted, summary, imbalance_rows, (cv_rows, fold_pairs)


def _refit_on_all_rows(fitted, summary, matrix, labels, groups, caps, seed) -> FittedFamily:
    """The chosen family refitted on every training row its cap allows, keeping the out-of-fold calibrator."""
    fit_cap, _ = _row_caps(fitted.family, fitted.imbalance, caps, cv_max_rows=0)
    fit_rows = group_sample(groups, fit_cap, seed + 2)
    if fit_rows.size <= summary["rows_fitted"]:
        return fitted
    candidate = Candidate(fitted.family, fitted.imbalance, fitted.params)
    pipeline = pipeline_for(candidate, labels[fit_rows], seed).fit(matrix[fit_rows], labels[fit_rows])
    summary["rows_fitted"] = int(fit_rows.size)
    return FittedFamily(fitted.family, fitted.imbalance, fitted.params, pipeline, fitted.calibrator, fitted.threshold)


def _choose(summaries: dict, selection_metric: str) -> str:
    best_score = max(s["cv"][selection_metric] for s in summaries.values())
    close = [f for f, s in summaries.items() if s["cv"][selection_metric] >= best_score - SELECTION_TOLERANCE]
    return min(close, key=lambda f: SIMPLICITY_ORDER[f])


def _comparison_row(name: str, imbalance: str, cv: dict | None, holdout: dict) -> dict:
    row = {"model": name, "imbalance": imbalance}
    for key in ("roc_auc", "pr_auc", "f1", "precision", "recall", "brier"):
        row[f"cv_{key}"] = None if cv is None else cv[key]
        row[f"holdout_{key}"] = holdout[key]
    return row


def train_churn_model(
    frame: pl.DataFrame,
    label: str = "churned",
    id_column: str | None = "customer_id",
    seed: int = 0,
    time_column: str | None = None,
    families: tuple[str, ...] = FAMILIES,
    search_budget_seconds: float = 60.0,
    imbalance: tuple[str, ...] = IMBALANCE_STRATEGIES,
    *,
    n_splits: int = 5,
    holdout_share: float = 0.2,
    recency_column: str | None = "recency_days",
    frequency_column: str | None = "frequency",
    label_window_days: int | None = None,
    max_trials_per_family: int = 12,
    max_training_rows: dict | None = None,
    cv_max_rows: int = 100_000,
    search_max_rows: int = 60_000,
    selection_metric: str = "pr_auc",
    primary_metric: str = "roc_auc",
    derived_features=None,
) -> ChurnModel:
    """Train, compare and calibrate churn models on a polars frame; return the chosen ``ChurnModel``.

    ``frame`` has one row per customer (or per customer and cutoff when ``time_column`` is given), a
    label column (Yes/No, True/False or 1/0), an optional id column (never a feature; groups the
    splits) and any feature columns. See the module docstring for every rule applied.
    ``derived_features`` (``purchase_features.PurchaseProcessFeatures``, fitted without labels) adds its
    columns to every frame the model sees; ``train_with_purchase_features`` decides whether to use it.
    """
    families, imbalance = tuple(families), tuple(imbalance)
    _check_arguments(frame, label, id_column, time_column, families, imbalance, selection_metric)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    labels_all = coerce_label(frame[label])
    require_two_classes(labels_all, label)
    groups_all = group_codes(frame[id_column] if id_column else None, frame.height)
    holdout, purged, split = _holdout_mask(
        frame, labels_all, groups_all, time_column, label_window_days, holdout_share, seed
    )
    training = ~holdout & ~purged
    train_frame, holdout_frame = frame.filter(pl.Series(training)), frame.filter(pl.Series(holdout))
    train_labels, holdout_labels = labels_all[training], labels_all[holdout]
    require_two_classes(train_labels, label)
    groups = group_codes(train_frame[id_column] if id_column else None, train_frame.height)
    if id_column:
        split["customers_in_training_and_holdout"] = int(
            train_frame[id_column].unique().is_in(holdout_frame[id_column].unique().implode()).sum()
        )

    excluded = [c for c in (label, id_column, time_column) if c]
    preparer = FeaturePreparer(derived=derived_features).fit(train_frame, exclude=excluded)
    check_for_label_leakage(preparer, train_frame, train_labels, label, seed)
    matrix = preparer.transform(train_frame)
    holdout_matrix = preparer.transform(holdout_frame)
    folds = stratified_group_folds(train_labels, groups, n_splits, seed)
    timings["preparation"] = time.perf_counter() - started

    caps = dict(DEFAULT_MAX_TRAINING_ROWS) | (max_training_rows or {})
    budget = search_budget_seconds / len(families)
    fitted: dict[str, FittedFamily] = {}
    summaries: dict[str, dict] = {}
    cv_splits: dict[str, tuple] = {}
    imbalance_table: list[dict] = []
    for family in families:
        family_started = time.perf_counter()
        fitted[family], summaries[family], rows, cv_splits[family] = _train_family(
            family,
            imbalance,
            matrix,
            train_labels,
            groups,
            folds,
            n_splits,
            budget,
            max_trials_per_family,
            caps,
            cv_max_rows,
            search_max_rows,
            selection_metric,
            seed,
        )
        summaries[family]["holdout"] = classification_metrics(
            holdout_labels, fitted[family].predict_proba(holdout_matrix), fitted[family].threshold
        )
        imbalance_table += rows
        timings[f"family_{family}"] = time.perf_counter() - family_started

    chosen_family = _choose(summaries, selection_metric)
    baseline_started = time.perf_counter()
    baseline_models, baseline_summaries, baseline_missing = _fit_serving_baselines(
        preparer,
        matrix,
        train_labels,
        holdout_matrix,
        holdout_labels,
        folds,
        n_splits,
        cv_splits[chosen_family][0],
        frequency_column,
        recency_column,
        seed,
    )
    served, served_reason = _serving_choice(chosen_family, summaries, baseline_summaries, selection_metric)
    timings["baselines"] = time.perf_counter() - baseline_started
    refit_started = time.perf_counter()
    if served == chosen_family:
        fitted[chosen_family] = _refit_on_all_rows(
            fitted[chosen_family], summaries[chosen_family], matrix, train_labels, groups, caps, seed
        )
        summaries[chosen_family]["holdout"] = classification_metrics(
            holdout_labels, fitted[chosen_family].predict_proba(holdout_matrix), fitted[chosen_family].threshold
        )
    timings["refit_chosen"] = time.perf_counter() - refit_started
    serving = fitted[chosen_family] if served == chosen_family else baseline_models[served]
    serving_summary = summaries[chosen_family] if served == chosen_family else baseline_summaries[served]
    explainer, explanation_note = _explainer(
        chosen_family, fitted, summaries, selection_metric, matrix, train_labels, seed
    )
    if served != chosen_family:
        explanation_note += f"; the served model is the baseline {served}, whose probabilities the reasons accompany"

    training_base_rate = float(train_labels.mean())
    recency_baseline, baselines = _baselines(
        preparer,
        train_frame,
        holdout_frame,
        train_labels,
        holdout_labels,
        folds,
        n_splits,
        recency_column,
        training_base_rate,
    )
    model = ChurnModel(
        label=label,
        id_column=id_column,
        time_column=time_column,
        preparer=preparer,
        chosen=serving,
        explainer=explainer,
        training_base_rate=training_base_rate,
        recency_baseline=recency_baseline,
        baseline_models=baseline_models,
    )
    importance_rows = group_sample(groups, IMPORTANCE_SAMPLE_ROWS, seed + 5)
    chosen_summary = summaries[chosen_family]
    comparison = [_comparison_row(f, s["imbalance"], s["cv"], s["holdout"]) for f, s in summaries.items()]
    comparison.append(
        _comparison_row("base_rate", "-", baselines["base_rate"]["cv"], baselines["base_rate"]["holdout"])
    )
    comparison += [_comparison_row(name, "-", s["cv"], s["holdout"]) for name, s in baseline_summaries.items()]
    for row in comparison:
        row["served"] = row["model"] == served
    model.report = {
        "model_name": "churn",
        "label": label,
        "id_column": id_column,
        "time_column": time_column,
        "primary_metric": primary_metric,
        "selection_metric": selection_metric,
        "served": served,
        "served_reason": served_reason,
        "chosen_family": chosen_family,
        "chosen_imbalance": chosen_summary["imbalance"],
        "chosen_params": chosen_summary["params"],
        "threshold": serving.threshold,
        "metrics": serving_summary["holdout"],
        "cv_metrics": serving_summary["cv"],
        "baselines": {
            "base_rate": baselines["base_rate"]["holdout"],
            "recency_only": baselines["recency_only"].get("holdout", baselines["recency_only"]),
        }
        | {name: s["holdout"] for name, s in baseline_summaries.items() if name != "recency_only"}
        | {
            name: {"available": False, "reason": why}
            for name, why in baseline_missing.items()
            if name != "recency_only"
        },
        "baseline_models": baseline_summaries,
        "families": summaries,
        "comparison_table": comparison,
        "imbalance_comparison": imbalance_table,
        "explanations": {"family": explainer.family, "note": explanation_note},
        "global_importance": global_importance_table(model, matrix[importance_rows]),
        "rules": {
            "selection": f"highest cross-validated {selection_metric}; "
            f"a simpler family wins within {SELECTION_TOLERANCE}",
            "serving": (
                f"the chosen family serves only if its cross-validated {selection_metric} beats the best "
                f"baseline (logistic_onehot, frequency_only, recency_only) by more than "
                f"{SELECTION_TOLERANCE} on the same rows and folds; otherwise that baseline serves"
            ),
            "threshold": "maximises F1 on calibrated out-of-fold predictions",
            "calibration": "isotonic regression fitted on out-of-fold raw scores, interpolated between block centres",
            "risk_levels": {
                "Low": f"p < {RISK_LEVEL_CUT_POINTS[0]}",
                "Medium": f"{RISK_LEVEL_CUT_POINTS[0]} <= p < {RISK_LEVEL_CUT_POINTS[1]}",
                "High": f"p >= {RISK_LEVEL_CUT_POINTS[1]}",
            },
            "cross_validation": f"{n_splits}-fold stratified group folds on {id_column or 'rows'}",
            "smote": "inside each training fold only (imblearn Pipeline); never on validation or holdout rows",
        },
        "split": split
        | {"training_rows": int(training.sum()), "holdout_rows": int(holdout.sum()), "n_splits": n_splits},
        "data": {
            "rows": frame.height,
            "base_rate": float(labels_all.mean()),
            "training_base_rate": training_base_rate,
            "features": preparer.source_columns,
            "model_matrix_columns": len(preparer.feature_names),
            "numeric_from_text": preparer.numeric_from_text,
            "categorical": {c: len(v) for c, v in preparer.categorical_levels.items()},
            "dropped_columns": preparer.dropped_columns,
        },
    }
    timings["total"] = time.perf_counter() - started
    model.report["timings_seconds"] = {k: round(v, 2) for k, v in timings.items()}
    plot_rows = np.sort(np.random.default_rng(seed).permutation(holdout_labels.size)[:PLOT_SAMPLE_ROWS])
    model.holdout_predictions = {"labels": holdout_labels[plot_rows]} | {
        name: candidate.predict_proba(holdout_matrix[plot_rows])
        for name, candidate in (fitted | baseline_models).items()
    }
    return model


def _fit_serving_baselines(
    preparer,
    matrix,
    labels,
    holdout_matrix,
    holdout_labels,
    folds,
    n_splits,
    cv_rows,
    frequency_column,
    recency_column,
    seed,
):
    """The plain baselines on the chosen family's cross-validation rows and folds, and their holdout figures."""
    estimators, missing = baseline_estimators(preparer.feature_names, frequency_column, recency_column, seed)
    models, summaries = {}, {}
    for name, estimator in estimators.items():
        models[name], _, cv = fit_baseline(name, estimator, matrix[cv_rows], labels[cv_rows], folds[cv_rows], n_splits)
        summaries[name] = {
            "imbalance": "none",
            "params": models[name].params,
            "rows_fitted": int(cv_rows.size),
            "cv": cv,
            "holdout": classification_metrics(
                holdout_labels, models[name].predict_proba(holdout_matrix), models[name].threshold
            ),
        }
    return models, summaries, missing


def _serving_choice(chosen_family, summaries, baseline_summaries, selection_metric) -> tuple[str, str]:
    model_score = summaries[chosen_family]["cv"][selection_metric]
    best = max(
        baseline_summaries, key=lambda name: np.nan_to_num(baseline_summaries[name]["cv"][selection_metric], nan=-1.0)
    )
    best_score = baseline_summaries[best]["cv"][selection_metric]
    gain = model_score - best_score
    if gain > SELECTION_TOLERANCE:
        return chosen_family, (
            f"{chosen_family} cross-validated {selection_metric} {model_score:.4f} beats the best baseline "
            f"{best} ({best_score:.4f}) by {gain:.4f} (> {SELECTION_TOLERANCE})"
        )
    return best, (
        f"baseline {best} serves: {chosen_family} cross-validated {selection_metric} {model_score:.4f} does not beat "
        f"it ({best_score:.4f}) by more than {SELECTION_TOLERANCE} on the same rows and folds"
    )


def _explainer(chosen_family, fitted, summaries, selection_metric, matrix, labels, seed):
    if chosen_family in BOOSTED_TREE_FAMILIES:
        return fitted[chosen_family], f"SHAP contributions of the chosen model ({chosen_family})"
    boosted = [f for f in BOOSTED_TREE_FAMILIES if f in fitted]
    if boosted:
        best = max(boosted, key=lambda f: summaries[f]["cv"][selection_metric])
        return fitted[best], (
            f"the chosen family ({chosen_family}) has no TreeSHAP; reasons come from {best}, "
            "the best boosted tree family trained alongside it"
        )
    candidate = Candidate("lightgbm", "class_weight", dict(DEFAULT_PARAMS["lightgbm"]))
    pipeline = pipeline_for(candidate, labels, seed).fit(matrix, labels)
    return FittedFamily("lightgbm", "class_weight", candidate.params, pipeline, identity_calibrator(), 0.5), (
        f"no boosted tree family was trained; reasons come from a default LightGBM fitted for explanations "
        f"only (the chosen family is {chosen_family})"
    )


def _baselines(
    preparer,
    train_frame,
    holdout_frame,
    train_labels,
    holdout_labels,
    folds,
    n_splits,
    recency_column,
    training_base_rate,
):
    base_cv = base_rate_metrics(train_labels, training_base_rate)
    baselines = {"base_rate": {"cv": base_cv, "holdout": base_rate_metrics(holdout_labels, training_base_rate)}}
    if not recency_column or recency_column not in preparer.numeric_columns:
        reason = f"no numeric {recency_column!r} column in the input" if recency_column else "recency_column=None"
        baselines["recency_only"] = {"available": False, "reason": reason}
        return None, baselines
    train_recency = preparer.raw_values(train_frame)[recency_column].to_numpy().astype(np.float64)
    holdout_recency = preparer.raw_values(holdout_frame)[recency_column].to_numpy().astype(np.float64)
    oof = np.empty(train_labels.size)
    for train_rows, validation_rows in fold_index_pairs(folds, n_splits):
        fold_baseline = RecencyBaseline(recency_column).fit(train_recency[train_rows], train_labels[train_rows])
        oof[validation_rows] = fold_baseline.predict_proba(train_recency[validation_rows])
    baseline = RecencyBaseline(recency_column).fit(train_recency, train_labels)
    baselines["recency_only"] = {
        "available": True,
        "cv": classification_metrics(train_labels, oof, max_f1_threshold(train_labels, oof)),
        "holdout": baseline.metrics(holdout_recency, holdout_labels) | {"column": recency_column},
    }
    return baseline, baselines
