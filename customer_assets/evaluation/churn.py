"""Churn on real tables: the churn library beside the baselines a data scientist fits first.

- bank_churn (Churn_Modelling.csv, label Exited; RowNumber / CustomerId / Surname are identifiers): stratified
  K-fold (5 full, 3 reduced on a 3,000-row stratified sample); in every fold the library, one-hot + scaled
  logistic regression and LightGBM with default parameters train on the same rows and are scored on the
  same held-out fold (mean of the fold ROC-AUC / PR-AUC). Full run only: the same with every column read
  as text (the library parses numeric text; the baseline LR gets the typed table).
- cdnow (CDNOW_master.txt): point-in-time snapshots at cutoffs 90 days apart ending 1998-04-01 (features from
  purchases before each cutoff; label = no purchase in the 90 days from the cutoff). The holdout is the
  latest cutoff: the library's own time holdout (it never trains on those rows, and purges training
  snapshots whose label window passes it); the harness scores the model and the single-column baselines
  (frequency, recency, BG/NBD expected purchases) on those rows itself.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from customer_assets.evaluation import EvalRow
from customer_assets.ml.churn import train_churn_model
from customer_assets.ml.churn.snapshots import read_cdnow, transaction_snapshots

TASK = "churn"
SEED = 0
BANK_IDENTIFIERS = ("RowNumber", "Surname")  # CustomerId stays as the library's id column (never a feature)
BANK_REDUCED_ROWS = 3_000
CDNOW_REDUCED_CUSTOMERS = 4_000
CDNOW_LATEST_CUTOFF = dt.date(1998, 4, 1)  # its 90-day label window ends with the data (1998-06-30)
LABEL_WINDOW_DAYS = 90

FULL = dict(families=("logistic", "xgboost", "lightgbm"), search_budget_seconds=15.0, max_trials_per_family=8)
REDUCED = dict(families=("logistic", "lightgbm"), search_budget_seconds=1.0, max_trials_per_family=2)


def _stratified_sample(frame: pl.DataFrame, label: str, rows: int) -> pl.DataFrame:
    keep = StratifiedKFold(n_splits=round(frame.height / rows), shuffle=True, random_state=SEED)
    _, sample = next(keep.split(np.zeros(frame.height), frame[label].to_numpy()))
    return frame[np.sort(sample)]


def _logistic_onehot(train: pl.DataFrame, test: pl.DataFrame, label: str, features: list[str]) -> np.ndarray:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    text = [c for c in features if train.schema[c] == pl.String]
    numeric = [c for c in features if c not in text]
    pipeline = make_pipeline(
        ColumnTransformer(
            [("onehot", OneHotEncoder(handle_unknown="ignore"), text), ("scale", StandardScaler(), numeric)]
        ),
        LogisticRegression(max_iter=1000),
    )
    pipeline.fit(train.select(features).to_pandas(), train[label].to_numpy())
    return pipeline.predict_proba(test.select(features).to_pandas())[:, 1]


def _lightgbm_default(train: pl.DataFrame, test: pl.DataFrame, label: str, features: list[str]) -> np.ndarray:
    from lightgbm import LGBMClassifier

    def table(frame):
        data = frame.select(features).to_pandas()
        for column in features:
            if frame.schema[column] == pl.String:
                data[column] = data[column].astype("category")
        return data

    model = LGBMClassifier(n_jobs=1, random_state=SEED, verbose=-1).fit(table(train), train[label].to_numpy())
    return model.predict_proba(table(test))[:, 1]


def _scores(labels, probabilities) -> dict:
    return {
        "roc_auc": float(roc_auc_score(labels, probabilities)),
        "pr_auc": float(average_precision_score(labels, probabilities)),
    }


def bank_scores(typed: pl.DataFrame, text: pl.DataFrame | None, n_splits: int, library_options: dict) -> dict:
    """Mean fold ROC-AUC / PR-AUC of every approach, all on the same stratified folds."""
    label, id_column = "Exited", "CustomerId"
    features = [c for c in typed.columns if c not in (label, id_column)]
    labels = typed[label].to_numpy()
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=SEED).split(np.zeros(typed.height), labels)
    per_fold: dict[str, list[dict]] = {}
    served: list[str] = []
    for train_rows, test_rows in folds:
        train, test = typed[train_rows], typed[test_rows]
        model = train_churn_model(train, label=label, id_column=id_column, seed=SEED, **library_options)
        served.append(model.report["served"])
        predictions = {
            "churn_library": model.predict_proba(test),
            "logistic_onehot": _logistic_onehot(train, test, label, features),
            "lightgbm_default": _lightgbm_default(train, test, label, features),
        }
        if text is not None:
            text_model = train_churn_model(
                text[train_rows], label=label, id_column=id_column, seed=SEED, **library_options
            )
            predictions["churn_library_text"] = text_model.predict_proba(text[test_rows])
        for name, probabilities in predictions.items():
            per_fold.setdefault(name, []).append(_scores(labels[test_rows], probabilities))
    means = {
        name: {k: float(np.mean([f[k] for f in folds_])) for k in ("roc_auc", "pr_auc")}
        for name, folds_ in per_fold.items()
    }
    return means | {"served": served}


def _bank(shared: Path, reduced: bool) -> list[EvalRow]:
    path = shared / "bank_churn" / "Churn_Modelling.csv"
    typed = pl.read_csv(path).drop(BANK_IDENTIFIERS)
    text = None if reduced else pl.read_csv(path, infer_schema=False).drop(BANK_IDENTIFIERS)
    if reduced:
        typed = _stratified_sample(typed, "Exited", BANK_REDUCED_ROWS)
    n_splits = 3 if reduced else 5
    scores = bank_scores(typed, text, n_splits, REDUCED if reduced else FULL)
    dataset = f"bank_churn{' (reduced)' if reduced else ''}"
    notes = f"{n_splits}-fold stratified, {typed.height} rows; served per fold: {','.join(scores['served'])}"
    model = scores["churn_library"]
    rows = []
    for metric in ("roc_auc", "pr_auc"):
        rows.append(
            EvalRow(
                dataset,
                TASK,
                metric,
                "logistic_onehot",
                scores["logistic_onehot"][metric],
                "churn_library",
                model[metric],
                target="baseline + 0.01" if metric == "roc_auc" else "",
                notes=notes,
            )
        )
        rows.append(
            EvalRow(
                dataset,
                TASK,
                metric,
                "lightgbm_default",
                scores["lightgbm_default"][metric],
                "churn_library",
                model[metric],
                target=">= baseline" if metric == "roc_auc" else "",
                notes=notes,
            )
        )
    if "churn_library_text" in scores:
        for metric in ("roc_auc", "pr_auc"):
            rows.append(
                EvalRow(
                    "bank_churn (all columns read as text)",
                    TASK,
                    metric,
                    "logistic_onehot (typed)",
                    scores["logistic_onehot"][metric],
                    "churn_library (text)",
                    scores["churn_library_text"][metric],
                    notes="library parses numeric text",
                )
            )
    return rows


def cdnow_snapshots(shared: Path, reduced: bool) -> pl.DataFrame:
    transactions = read_cdnow(shared / "cdnow" / "CDNOW_master.txt")
    if reduced:
        customers = transactions["customer_id"].unique().sort().sample(CDNOW_REDUCED_CUSTOMERS, seed=SEED)
        transactions = transactions.filter(pl.col("customer_id").is_in(customers.implode()))
    cutoff_count = 3 if reduced else 4
    cutoffs = [CDNOW_LATEST_CUTOFF - dt.timedelta(days=LABEL_WINDOW_DAYS * k) for k in range(cutoff_count - 1, -1, -1)]
    return transaction_snapshots(transactions, cutoffs, quantity="quantity", label_window_days=LABEL_WINDOW_DAYS)


def cdnow_scores(snapshots: pl.DataFrame, library_options: dict) -> dict:
    model = train_churn_model(
        snapshots,
        label="churned",
        id_column="customer_id",
        seed=SEED,
        time_column="cutoff_date",
        label_window_days=LABEL_WINDOW_DAYS,
        **library_options,
    )
    latest = snapshots["cutoff_date"].max()
    if model.report["split"]["holdout_cutoff"] != str(latest):
        raise RuntimeError("the library's time holdout is not the latest cutoff")
    holdout = snapshots.filter(pl.col("cutoff_date") == latest)
    labels = holdout["churned"].to_numpy()
    # Single-column baselines need no fitting for ranking metrics: fewer purchases / longer since the last
    # purchase / fewer expected purchases = more likely to churn.
    scores = {
        "churn_library": _scores(labels, model.predict_proba(holdout)),
        "frequency_only": _scores(labels, -holdout["frequency"].to_numpy()),
        "recency_only": _scores(labels, holdout["recency_days"].to_numpy()),
        "bgnbd_expected_purchases": _scores(labels, -holdout["bgnbd_expected_purchases"].to_numpy()),
    }
    return scores | {
        "served": model.report["served"],
        "holdout_rows": holdout.height,
        "training_rows": model.report["split"]["training_rows"],
    }


def _cdnow(shared: Path, reduced: bool) -> list[EvalRow]:
    snapshots = cdnow_snapshots(shared, reduced)
    scores = cdnow_scores(snapshots, REDUCED if reduced else FULL)
    dataset = f"cdnow{' (reduced)' if reduced else ''}"
    notes = (
        f"holdout = latest cutoff ({scores['holdout_rows']} customers), {scores['training_rows']} training "
        f"snapshots; served: {scores['served']}"
    )
    rows = []
    for metric in ("roc_auc", "pr_auc"):
        for baseline in ("frequency_only", "recency_only", "bgnbd_expected_purchases"):
            target = "> baseline" if metric == "roc_auc" and baseline != "bgnbd_expected_purchases" else ""
            rows.append(
                EvalRow(
                    dataset,
                    TASK,
                    metric,
                    baseline,
                    scores[baseline][metric],
                    "churn_library",
                    scores["churn_library"][metric],
                    target=target,
                    notes=notes,
                )
            )
    return rows


def evaluate(shared: Path, reduced: bool = False) -> list[EvalRow]:
    return _bank(shared, reduced) + _cdnow(shared, reduced)
