"""Validation search for the sentiment model's and the baseline's hyper-parameters (inside training only).

Both are searched on the same validation folds of the training part (never the holdout), scored by the
selection metric: binary macro-F1 on the rows whose label is positive or negative, predicted positive iff
P(positive) > P(negative) — the figure the real-data harness reports.

The model's search is staged so that it stays cheap at 100k+ reviews:
1. one wide `ReviewVectorizer` (word 1-2 grams + char 2-5 grams) per fold; feature settings are column
   subsets of it (`renormalised_view`), so only one vectorizer is fitted per fold;
2. C over `C_GRID` for the wide TF-IDF features, plain and NB-SVM-style log-count-ratio scaled (the two
   want different C: NB scaling shrinks uninformative columns itself, so it prefers weaker regularisation);
3. at the better of those, one fit each: narrower feature sets (no char n-grams, char 3-5, char 2-4, word
   unigrams + char 2-5), the baseline's own unstemmed word 1-2 gram block added beside them, and balanced
   class weights;
4. C one grid step either side for the best of those.
About 15 fits per fold instead of the full ~160-point grid.
Above `SEARCH_MAX_ROWS` training texts the search runs on a seeded stratified sample (the final fit uses all).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from .baseline import WordNgramTfidf
from .features import ReviewVectorizer, renormalised_view, scale_columns

SELECTION_METRIC = "binary_macro_f1"
C_GRID = (0.5, 2.0, 8.0, 32.0)
SEARCH_MAX_ROWS = 12_000
# Up to this many training texts the search uses 3 folds (a single split's validation part would be a few
# hundred texts: too noisy); above, one 75/25 split of the (sampled) rows keeps the search to one pass.
THREE_FOLD_MAX_ROWS = 2_500
NB_SMOOTHING = 1.0
WIDE_CHAR_RANGE = (2, 5)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    C: float
    nb_scaling: bool = False
    word_bigrams: bool = True
    char_ngram_range: tuple[int, int] | None = WIDE_CHAR_RANGE
    class_weight: str | None = None
    plain_words: bool = False  # add the baseline's unstemmed word 1-2 gram TF-IDF block as a third block

    def describe(self) -> dict:
        return {
            "C": self.C,
            "nb_scaling": self.nb_scaling,
            "word_ngram_range": [1, 2 if self.word_bigrams else 1],
            "char_ngram_range": list(self.char_ngram_range) if self.char_ngram_range else None,
            "class_weight": self.class_weight,
            "plain_word_block": self.plain_words,
        }


def binary_macro_f1(true_labels: np.ndarray, scores: np.ndarray) -> float:
    """Macro-F1 of positive vs negative over the rows whose true label is one of them (score > 0 = positive)."""
    true_labels = np.asarray(true_labels)
    polar = (true_labels == "positive") | (true_labels == "negative")
    if not polar.any():
        return float("nan")
    predicted = np.where(np.asarray(scores)[polar] > 0, "positive", "negative")
    return float(
        f1_score(true_labels[polar], predicted, labels=["negative", "positive"], average="macro", zero_division=0)
    )


def polarity_scores(classifier: LogisticRegression, features: sp.csr_matrix) -> np.ndarray:
    """P(positive) - P(negative), 0 for a class the classifier never saw."""
    probabilities = classifier.predict_proba(features)
    classes = list(classifier.classes_)

    def column(label: str) -> np.ndarray:
        return probabilities[:, classes.index(label)] if label in classes else np.zeros(features.shape[0])

    return column("positive") - column("negative")


def fit_logistic(features, labels: np.ndarray, C: float, class_weight: str | None, seed: int) -> LogisticRegression:
    # No warm start along C: scikit-learn scales the loss by 1/n, so the gradient change between grid points
    # falls below tol and a warm-started L-BFGS stops at once (every C scored the same).
    return LogisticRegression(C=C, class_weight=class_weight, max_iter=1000, tol=1e-3, random_state=seed).fit(
        features, labels
    )


def log_count_ratios(features: sp.csr_matrix, labels: np.ndarray, smoothing: float = NB_SMOOTHING) -> np.ndarray:
    """NB-SVM's r = log((p / |p|_1) / (q / |q|_1)) over binarised features, p from positive rows, q from negative."""
    present = features.copy()
    present.data = np.ones_like(present.data)
    positive = np.asarray(present[labels == "positive"].sum(axis=0)).ravel() + smoothing
    negative = np.asarray(present[labels == "negative"].sum(axis=0)).ravel() + smoothing
    return np.log(positive / positive.sum()) - np.log(negative / negative.sum())


def validation_folds(labels: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, validation rows) pairs over positions in `labels`: 3 stratified folds for small training
    parts, one stratified 75/25 split of at most SEARCH_MAX_ROWS sampled rows above THREE_FOLD_MAX_ROWS."""
    rows = np.arange(len(labels))
    counts = np.unique(labels, return_counts=True)[1]
    if len(rows) <= THREE_FOLD_MAX_ROWS and counts.min() >= 3:
        folds = StratifiedKFold(3, shuffle=True, random_state=seed).split(rows, labels)
        return [(fit, val) for fit, val in folds]
    stratify = labels if counts.min() >= 2 else None
    if len(rows) > SEARCH_MAX_ROWS:
        rows, _ = train_test_split(rows, train_size=SEARCH_MAX_ROWS, random_state=seed, stratify=stratify)
        stratify = labels[rows] if stratify is not None else None
    fit, val = train_test_split(rows, test_size=0.25, random_state=seed, stratify=stratify)
    return [(np.sort(fit), np.sort(val))]


@dataclasses.dataclass
class _FoldFeatures:
    fit_rows: np.ndarray
    val_rows: np.ndarray
    fit_features: sp.csr_matrix  # wide word + char block, side by side
    val_features: sp.csr_matrix
    is_bigram: np.ndarray
    char_lengths: np.ndarray  # per char column, padding spaces included
    plain_fit: sp.csr_matrix  # the baseline's word 1-2 gram block (scikit-learn TF-IDF)
    plain_val: sp.csr_matrix

    def view(self, config: ModelConfig, labels: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        n_word = len(self.is_bigram)
        word_keep = self.is_bigram <= config.word_bigrams
        blocks_fit = [renormalised_view(self.fit_features[:, :n_word], word_keep)]
        blocks_val = [renormalised_view(self.val_features[:, :n_word], word_keep)]
        if config.char_ngram_range is not None:
            low, high = config.char_ngram_range
            char_keep = (self.char_lengths >= low) & (self.char_lengths <= high)
            blocks_fit.append(renormalised_view(self.fit_features[:, n_word:], char_keep))
            blocks_val.append(renormalised_view(self.val_features[:, n_word:], char_keep))
        fit, val = sp.hstack(blocks_fit, format="csr"), sp.hstack(blocks_val, format="csr")
        if config.nb_scaling:  # the review blocks only, as `_fit_model` does
            ratios = log_count_ratios(fit, labels[self.fit_rows])
            fit, val = scale_columns(fit, ratios), scale_columns(val, ratios)
        if config.plain_words:
            fit, val = sp.hstack([fit, self.plain_fit], format="csr"), sp.hstack([val, self.plain_val], format="csr")
        return fit, val


def _fold_features(cleaned: pl.Series, folds, language: str) -> list[_FoldFeatures]:
    prepared = []
    for fit_rows, val_rows in folds:
        vectorizer = ReviewVectorizer(language=language, char_ngram_range=WIDE_CHAR_RANGE).fit(cleaned.gather(fit_rows))
        is_bigram, char_lengths = vectorizer.column_groups()
        plain = WordNgramTfidf().fit(cleaned.gather(fit_rows))
        prepared.append(
            _FoldFeatures(
                fit_rows,
                val_rows,
                vectorizer.transform(cleaned.gather(fit_rows)),
                vectorizer.transform(cleaned.gather(val_rows)),
                is_bigram,
                char_lengths,
                plain.transform(cleaned.gather(fit_rows)),
                plain.transform(cleaned.gather(val_rows)),
            )
        )
    return prepared


class _Scorer:
    """Mean validation score of a config over the folds; a C path reuses one view of the features."""

    def __init__(self, folds: list[_FoldFeatures], labels: np.ndarray, seed: int):
        self.folds, self.labels, self.seed = folds, labels, seed
        self.table: list[dict] = []

    def path(self, configs: list[ModelConfig]) -> list[float]:
        """Scores of configs that differ only in C."""
        totals = np.zeros(len(configs))
        for fold in self.folds:
            fit, val = fold.view(configs[0], self.labels)
            for i, config in enumerate(configs):
                classifier = fit_logistic(fit, self.labels[fold.fit_rows], config.C, config.class_weight, self.seed)
                totals[i] += binary_macro_f1(self.labels[fold.val_rows], polarity_scores(classifier, val))
        scores = list(totals / len(self.folds))
        self.table.extend({**c.describe(), SELECTION_METRIC: s} for c, s in zip(configs, scores))
        return scores


def _neighbours(C: float, grid: tuple[float, ...]) -> list[float]:
    i = grid.index(C)
    return [grid[j] for j in (i - 1, i + 1) if 0 <= j < len(grid)]


def search_model(
    cleaned: pl.Series, labels: np.ndarray, folds, language: str, seed: int, c_grid: tuple[float, ...] = C_GRID
) -> tuple[ModelConfig, list[dict], float]:
    """(best ModelConfig, every config tried with its mean validation score, seconds spent)."""
    started = time.perf_counter()
    scorer = _Scorer(_fold_features(cleaned, folds, language), labels, seed)
    results: dict[ModelConfig, float] = {}
    for nb_scaling in (False, True):
        configs = [ModelConfig(C=C, nb_scaling=nb_scaling) for C in c_grid]
        results.update(zip(configs, scorer.path(configs)))
    # ties go to the earlier (simpler, more regularised) candidate: max keeps the first maximum
    best = max(results, key=results.get)
    variants = [
        dataclasses.replace(best, char_ngram_range=None),
        dataclasses.replace(best, char_ngram_range=(3, 5)),
        dataclasses.replace(best, char_ngram_range=(2, 4)),
        dataclasses.replace(best, word_bigrams=False),
        dataclasses.replace(best, plain_words=True),
        dataclasses.replace(best, class_weight="balanced"),
    ]
    for variant in variants:
        results[variant] = scorer.path([variant])[0]
    best = max(results, key=results.get)
    untried = [dataclasses.replace(best, C=C) for C in _neighbours(best.C, c_grid)]
    for config in untried:
        if config not in results:
            results[config] = scorer.path([config])[0]
    best = max(results, key=results.get)
    return best, scorer.table, time.perf_counter() - started


def search_baseline_c(
    cleaned: pl.Series, labels: np.ndarray, folds, seed: int, c_grid: tuple[float, ...] = C_GRID
) -> tuple[float, list[dict]]:
    """The baseline's C (word 1-2 gram TF-IDF + logistic regression, no class weights) on the same folds."""
    totals = np.zeros(len(c_grid))
    for fit_rows, val_rows in folds:
        vectorizer = WordNgramTfidf().fit(cleaned.gather(fit_rows))
        fit, val = vectorizer.transform(cleaned.gather(fit_rows)), vectorizer.transform(cleaned.gather(val_rows))
        for i, C in enumerate(c_grid):
            classifier = fit_logistic(fit, labels[fit_rows], C, None, seed)
            totals[i] += binary_macro_f1(labels[val_rows], polarity_scores(classifier, val))
    scores = totals / len(folds)
    table = [{"C": C, SELECTION_METRIC: float(s)} for C, s in zip(c_grid, scores)]
    return float(c_grid[int(np.argmax(scores))]), table
