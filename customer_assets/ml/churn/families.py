"""The four model families, their bounded search spaces, and the pipelines that wrap them.

Every candidate is an imbalanced-learn ``Pipeline`` so that SMOTE, when used, only ever resamples the
rows the pipeline is fitted on (a training fold); at predict time samplers are skipped. Missing values
are median-imputed with missing-indicator columns wherever a step cannot take NaN (logistic regression,
random forest, and SMOTE); the boosted trees with class weights take NaN natively.
"""

from __future__ import annotations

import numpy as np
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from lightgbm import LGBMClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

FAMILIES = ("logistic", "random_forest", "xgboost", "lightgbm")
BOOSTED_TREE_FAMILIES = ("lightgbm", "xgboost")
"""Families whose own SHAP contributions explain predictions (random forest has none built in)."""

SIMPLICITY_ORDER = {"logistic": 0, "random_forest": 1, "xgboost": 2, "lightgbm": 3}
IMBALANCE_STRATEGIES = ("class_weight", "smote")

DEFAULT_MAX_TRAINING_ROWS = {"logistic": 200_000, "random_forest": 50_000, "xgboost": None, "lightgbm": None}
"""Per-family cap on rows used to fit (whole customers are sampled); boosted trees use every row."""

SMOTE_MAX_TRAINING_ROWS = 50_000
"""SMOTE's nearest-neighbour search grows faster than linearly, so SMOTE candidates fit on a sample."""

FOREST_TREE_SAMPLE_ROWS = 20_000
"""Each random-forest tree is grown on a bootstrap sample of at most this many rows (``max_samples``):
sklearn's forest is single-machine CPU-bound and full-size bootstraps made it the slowest family by far."""

MAX_THREADS = 2
SINGLE_THREAD_BELOW_ROWS = 100_000
"""OpenMP threads only pay off on large fits; on small ones they mostly spin and wait, badly so when
other processes share the two cores."""


def threads_for(rows: int) -> int:
    return 1 if rows < SINGLE_THREAD_BELOW_ROWS else MAX_THREADS


# Tree size is bounded on purpose: TreeSHAP reasons cost about trees x leaves x depth^2 per customer,
# and scoring must explain the riskiest 10% of a million customers in well under a minute.
DEFAULT_PARAMS = {
    "logistic": {"C": 1.0},
    "random_forest": {"n_estimators": 100, "max_depth": 12, "min_samples_leaf": 5, "max_features": "sqrt"},
    # For the boosted trees ``n_estimators`` is a cap: the search keeps the tree count that scored best on its
    # validation split (``best_tree_count``), so a slower learning rate costs no hand-picked number of trees.
    "xgboost": {
        "n_estimators": 500,
        "learning_rate": 0.05,
        "max_depth": 4,
        "min_child_weight": 5.0,
        "subsample": 0.9,
        "colsample_bytree": 0.9,
        "reg_lambda": 1.0,
    },
    "lightgbm": {
        "n_estimators": 500,
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_child_samples": 50,
        "subsample": 0.9,
        "colsample_bytree": 0.9,
        "reg_lambda": 1.0,
    },
}
TREE_COUNT_STEP = 25
"""Tree counts scored on the search's validation split: every multiple of this up to the cap."""


def sample_params(family: str, rng: np.random.Generator) -> dict:
    """One random point of the family's bounded search space."""
    if family == "logistic":
        return {"C": float(10 ** rng.uniform(-3, 1))}
    if family == "random_forest":
        return {
            "n_estimators": int(rng.choice([60, 100, 150])),
            "max_depth": int(rng.integers(6, 17)),
            "min_samples_leaf": int(rng.choice([1, 3, 5, 10, 25, 50])),
            "max_features": str(rng.choice(["sqrt", "log2"])) if rng.random() < 0.7 else 0.5,
        }
    boosted = {
        "n_estimators": int(rng.choice([300, 500])),
        "learning_rate": float(10 ** rng.uniform(-1.7, -0.9)),
        "subsample": float(rng.uniform(0.6, 1.0)),
        "colsample_bytree": float(rng.uniform(0.6, 1.0)),
        "reg_lambda": float(10 ** rng.uniform(-1, 1)),
    }
    if family == "xgboost":
        return boosted | {"max_depth": int(rng.integers(3, 7)), "min_child_weight": float(rng.choice([1, 5, 20]))}
    if family == "lightgbm":
        return boosted | {
            "num_leaves": int(rng.choice([7, 15, 31, 63])),
            "min_child_samples": int(rng.choice([10, 40, 100, 200])),
        }
    raise ValueError(f"unknown model family {family!r}; choose from {FAMILIES}")


def _classifier(family: str, params: dict, balanced: bool, positive_weight: float, seed: int, rows: int):
    threads = threads_for(rows)
    if family == "logistic":
        return LogisticRegression(
            C=params["C"], class_weight="balanced" if balanced else None, max_iter=300, random_state=seed
        )
    if family == "random_forest":
        return RandomForestClassifier(
            **params,
            class_weight="balanced_subsample" if balanced else None,
            n_jobs=MAX_THREADS,
            max_samples=min(1.0, FOREST_TREE_SAMPLE_ROWS / max(rows, 1)),
            random_state=seed,
        )
    if family == "xgboost":
        return XGBClassifier(
            **params,
            tree_method="hist",
            n_jobs=threads,
            random_state=seed,
            eval_metric="logloss",
            scale_pos_weight=positive_weight if balanced else 1.0,
        )
    if family == "lightgbm":
        return LGBMClassifier(
            **params,
            subsample_freq=1,
            class_weight="balanced" if balanced else None,
            n_jobs=threads,
            random_state=seed,
            verbose=-1,
        )
    raise ValueError(f"unknown model family {family!r}; choose from {FAMILIES}")


def build_pipeline(
    family: str,
    params: dict,
    imbalance: str,
    positive_weight: float,
    minority_count: int,
    seed: int,
    rows: int = 0,
) -> Pipeline:
    """An unfitted pipeline: [imputer] -> [scaler] -> [SMOTE] -> classifier."""
    if imbalance not in IMBALANCE_STRATEGIES:
        raise ValueError(f"unknown imbalance strategy {imbalance!r}; choose from {IMBALANCE_STRATEGIES}")
    steps = []
    use_smote = imbalance == "smote"
    if family in ("logistic", "random_forest") or use_smote:
        steps.append(("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)))
    if family == "logistic":
        steps.append(("scale", StandardScaler()))
    if use_smote:
        neighbours = max(1, min(5, minority_count - 1))
        steps.append(("smote", SMOTE(k_neighbors=neighbours, random_state=seed)))
    classifier = _classifier(
        family, params, balanced=not use_smote, positive_weight=positive_weight, seed=seed, rows=rows
    )
    steps.append(("model", classifier))
    return Pipeline(steps)


def best_tree_count(pipeline: Pipeline, matrix: np.ndarray, labels: np.ndarray, scorer) -> tuple[int, float]:
    """(tree count, validation score) of the best prefix of a fitted boosted pipeline's trees."""
    transformed = matrix
    for _, step in pipeline.steps[:-1]:
        if hasattr(step, "transform"):  # samplers (SMOTE) only act while fitting
            transformed = step.transform(transformed)
    model = pipeline.named_steps["model"]
    if isinstance(model, LGBMClassifier):
        fitted_trees = model.booster_.current_iteration()
    else:
        fitted_trees = model.get_booster().num_boosted_rounds()
    counts = list(range(TREE_COUNT_STEP, fitted_trees + 1, TREE_COUNT_STEP)) or [fitted_trees]
    scores = []
    for count in counts:
        if isinstance(model, LGBMClassifier):
            probabilities = model.predict_proba(transformed, num_iteration=count)[:, 1]
        else:
            probabilities = model.predict_proba(transformed, iteration_range=(0, count))[:, 1]
        scores.append(float(scorer(labels, probabilities)))
    best = int(np.nanargmax(scores)) if np.isfinite(scores).any() else len(counts) - 1
    return counts[best], scores[best]


def transformed_feature_sources(pipeline: Pipeline, feature_sources: list[str]) -> list[str]:
    """Source column of every column the final classifier sees (imputer indicators map to their column)."""
    if "impute" not in pipeline.named_steps:
        return list(feature_sources)
    imputer = pipeline.named_steps["impute"]
    sources = list(feature_sources)
    if imputer.indicator_ is not None:
        sources += [feature_sources[i] for i in imputer.indicator_.features_]
    return sources


def raw_contributions(pipeline: Pipeline, matrix: np.ndarray) -> np.ndarray:
    """SHAP contributions (log-odds) from the boosted tree's own TreeSHAP; last column is the bias."""
    transformed = matrix
    for name, step in pipeline.steps[:-1]:
        if name != "smote":
            transformed = step.transform(transformed)
    model = pipeline.named_steps["model"]
    # Contributions are computed row-parallel, so both cores help whatever thread count the fit used.
    if isinstance(model, LGBMClassifier):
        return np.asarray(model.booster_.predict(transformed, pred_contrib=True, num_threads=MAX_THREADS))
    if isinstance(model, XGBClassifier):
        import xgboost

        booster = model.get_booster()
        booster.set_param({"nthread": MAX_THREADS})
        return booster.predict(xgboost.DMatrix(transformed, nthread=MAX_THREADS), pred_contribs=True)
    raise ValueError(f"{type(model).__name__} has no built-in SHAP contributions")
