"""Bounded random hyperparameter search and out-of-fold cross-validation for one model family."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from customer_assets.ml.churn.families import (
    BOOSTED_TREE_FAMILIES,
    DEFAULT_PARAMS,
    best_tree_count,
    build_pipeline,
    sample_params,
)

SEARCH_SCORERS = {"pr_auc": average_precision_score, "roc_auc": roc_auc_score}


@dataclass
class Candidate:
    family: str
    imbalance: str
    params: dict
    score: float = float("nan")
    seconds: float = 0.0


def pipeline_for(candidate: Candidate, labels: np.ndarray, seed: int):
    positives = int(labels.sum())
    negatives = int(labels.size - positives)
    return build_pipeline(
        candidate.family,
        candidate.params,
        candidate.imbalance,
        positive_weight=negatives / max(positives, 1),
        minority_count=min(positives, negatives),
        seed=seed,
        rows=labels.size,
    )


def random_search(
    family: str,
    imbalance_strategies: tuple[str, ...],
    matrix: np.ndarray,
    labels: np.ndarray,
    train_rows: np.ndarray,
    validation_rows: np.ndarray,
    budget_seconds: float,
    max_trials: int,
    metric: str,
    seed: int,
) -> list[Candidate]:
    """Score candidates on one group-disjoint split until the time or trial budget runs out.

    The family defaults are always tried once per imbalance strategy (so SMOTE and class weights are
    compared even with a zero budget); random points of the search space follow, alternating strategies.
    Boosted candidates keep the number of trees (up to their ``n_estimators`` cap) that scored best on the
    validation rows, so their ``params`` hold the validated tree count.
    """
    rng = np.random.default_rng(seed)
    scorer = SEARCH_SCORERS[metric]
    queue = [Candidate(family, strategy, dict(DEFAULT_PARAMS[family])) for strategy in imbalance_strategies]
    tried: list[Candidate] = []
    started = time.perf_counter()
    while len(tried) < max_trials:
        if queue:
            candidate = queue.pop(0)
        else:
            elapsed = time.perf_counter() - started
            typical = np.mean([c.seconds for c in tried])
            if elapsed + typical > budget_seconds:
                break
            strategy = imbalance_strategies[len(tried) % len(imbalance_strategies)]
            candidate = Candidate(family, strategy, sample_params(family, rng))
        trial_started = time.perf_counter()
        pipeline = pipeline_for(candidate, labels[train_rows], seed)
        pipeline.fit(matrix[train_rows], labels[train_rows])
        if family in BOOSTED_TREE_FAMILIES:
            trees, candidate.score = best_tree_count(pipeline, matrix[validation_rows], labels[validation_rows], scorer)
            candidate.params = candidate.params | {"n_estimators": trees}
        else:
            scores = pipeline.predict_proba(matrix[validation_rows])[:, 1]
            candidate.score = float(scorer(labels[validation_rows], scores))
        candidate.seconds = time.perf_counter() - trial_started
        tried.append(candidate)
    return tried


def out_of_fold_scores(
    candidate: Candidate,
    matrix: np.ndarray,
    labels: np.ndarray,
    fold_pairs: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    pipeline_factory=None,
) -> tuple[np.ndarray, list[float]]:
    """Raw (uncalibrated) scores for every row from the fold model that never saw it, and per-fold ROC-AUC.

    Each pipeline is fitted on the training rows of its fold only, so SMOTE never touches a validation
    row. ``pipeline_factory(candidate, train_labels, seed)`` exists so tests can observe what is fitted.
    """
    factory = pipeline_factory or pipeline_for
    scores = np.full(labels.size, np.nan)
    fold_auc: list[float] = []
    for train_rows, validation_rows in fold_pairs:
        pipeline = factory(candidate, labels[train_rows], seed)
        pipeline.fit(matrix[train_rows], labels[train_rows])
        scores[validation_rows] = pipeline.predict_proba(matrix[validation_rows])[:, 1]
        validation_labels = labels[validation_rows]
        if 0 < validation_labels.sum() < validation_labels.size:
            fold_auc.append(float(roc_auc_score(validation_labels, scores[validation_rows])))
    return scores, fold_auc
