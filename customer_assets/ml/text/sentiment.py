"""Three-class review sentiment trained on star ratings, with VADER as the zero-training baseline.

Labels come from ratings: 1-2 negative, 3 neutral, 4-5 positive. Texts are split into a stratified
training part and a holdout the model never sees (vocabularies, idf and hyper-parameter searches use the
training part only). Two classifiers are trained: the model (TF-IDF word + char n-grams, optionally NB-SVM
scaled, + logistic regression, every hyper-parameter chosen by validation folds of the training part) and
the plain baseline (scikit-learn TF-IDF word 1-2 grams + logistic regression, C on the same folds). The
model serves only if it beats the baseline on the holdout (binary macro-F1, `report["served"]`); the served
classifier ("tfidf_logreg") and VADER are then compared on the same holdout and the one with the higher
macro-F1 (`report["primary_metric"]`) is the champion that `SentimentModel.predict` uses.

Score = P(positive) - P(negative) in [-1, 1] (VADER: its compound score). Empty, missing, non-string
or letter-less texts (e.g. "12345") are neutral with score 0 and are left out of training/holdout.

For champion/challenger comparisons call `evaluate_on_holdout(model, texts, ratings)` with the same
holdout rows for both models (`holdout_split` reproduces the split from the ratings and seed;
`model.holdout_rows` holds the row positions the model was scored on; they stay unseen by the served
classifier only with `refit_on_all=False`, which the pipeline uses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from .baseline import BASELINE_NAME, WordNgramTfidf
from .features import BlockUnion, ReviewVectorizer, scale_columns
from .model_search import (
    C_GRID,
    SELECTION_METRIC,
    ModelConfig,
    binary_macro_f1,
    fit_logistic,
    log_count_ratios,
    search_baseline_c,
    search_model,
    validation_folds,
)
from .preprocess import DEFAULT_MAX_CHARS, clean_texts, has_text, language_resources
from .vader import VADER_LANGUAGE, vader_scores

LABELS = ("negative", "neutral", "positive")
PRIMARY_METRIC = "macro_f1"
ENGINE_TFIDF = "tfidf_logreg"
ENGINE_VADER = "vader"
MIN_TRAINING_TEXTS = 20


def labels_from_ratings(ratings: Any) -> np.ndarray:
    """Star ratings (1-5) -> 'negative' (1-2), 'neutral' (3), 'positive' (4-5); ValueError on bad ratings."""
    values = pl.Series("rating", ratings if not isinstance(ratings, np.ndarray) else ratings.tolist(), strict=False)
    try:
        numeric = values.cast(pl.Float64, strict=True)
    except Exception as exc:  # polars raises its own error types for unparsable values
        raise ValueError(f"ratings must be numbers between 1 and 5: {exc}") from exc
    if numeric.null_count() or numeric.is_nan().any():
        raise ValueError(f"ratings contain {numeric.null_count() + int(numeric.is_nan().sum())} missing values")
    array = numeric.to_numpy()
    if len(array) and (array.min() < 1 or array.max() > 5):
        raise ValueError(f"ratings must lie in [1, 5]; got min {array.min()}, max {array.max()}")
    return np.where(array < 2.5, "negative", np.where(array < 3.5, "neutral", "positive"))


def holdout_split(labels: np.ndarray, holdout_fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """Boolean mask of holdout rows, stratified by label and reproducible from the seed."""
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    rows = np.arange(len(labels))
    counts = dict(zip(*np.unique(labels, return_counts=True)))
    stratify = labels if min(counts.values()) >= 2 else None
    _, holdout = train_test_split(rows, test_size=holdout_fraction, random_state=seed, stratify=stratify)
    mask = np.zeros(len(labels), dtype=bool)
    mask[holdout] = True
    return mask


def classification_metrics(true_labels: np.ndarray, predicted_labels: np.ndarray, scores: np.ndarray) -> dict:
    """Accuracy, macro-F1, per-class F1 over the three classes, and binary accuracy on the rows whose
    true label is positive or negative (predicted positive iff score > 0)."""
    true_labels, predicted_labels = np.asarray(true_labels), np.asarray(predicted_labels)
    per_class = f1_score(true_labels, predicted_labels, labels=list(LABELS), average=None, zero_division=0)
    polar = true_labels != "neutral"
    binary_predictions = np.where(np.asarray(scores)[polar] > 0, "positive", "negative")
    return {
        "accuracy": float(accuracy_score(true_labels, predicted_labels)),
        "macro_f1": float(
            f1_score(true_labels, predicted_labels, labels=list(LABELS), average="macro", zero_division=0)
        ),
        "per_class_f1": {label: float(value) for label, value in zip(LABELS, per_class)},
        "binary_accuracy": float(np.mean(binary_predictions == true_labels[polar])) if polar.any() else float("nan"),
        "n_rows": int(len(true_labels)),
        "n_binary_rows": int(polar.sum()),
    }


@dataclass
class SentimentModel:
    """Fitted sentiment model. `predict` uses `champion` ('tfidf_logreg' or 'vader'). Picklable."""

    language: str
    vectorizer: ReviewVectorizer | BlockUnion | WordNgramTfidf  # whichever `report["served"]` names
    classifier: LogisticRegression
    champion: str = ENGINE_TFIDF
    max_chars: int = DEFAULT_MAX_CHARS
    report: dict = field(default_factory=dict)
    holdout_rows: np.ndarray | None = field(default=None, repr=False)
    trained_review_ids: np.ndarray | None = field(default=None, repr=False)
    """Ids of the reviews it was trained on (set by the pipeline), so a later challenger is compared with it
    only on reviews it never saw."""

    def predict(self, texts: Any) -> pl.DataFrame:
        """polars DataFrame with sentiment_label ('negative'/'neutral'/'positive') and sentiment_score."""
        if self.champion == ENGINE_VADER:
            return vader_scores(texts, max_chars=self.max_chars).select("sentiment_label", "sentiment_score")
        return self.predict_with_classifier(texts)

    def predict_with_classifier(self, texts: Any) -> pl.DataFrame:
        """Predictions of the TF-IDF + logistic regression model whatever the champion is."""
        cleaned = clean_texts(texts, max_chars=self.max_chars)
        usable = has_text(cleaned).to_numpy()
        probabilities = np.zeros((len(cleaned), len(LABELS)))
        probabilities[:, LABELS.index("neutral")] = 1.0
        usable_rows = np.flatnonzero(usable)
        batch = self.vectorizer.batch_size
        class_columns = [LABELS.index(label) for label in self.classifier.classes_]
        for start in range(0, len(usable_rows), batch):
            rows = usable_rows[start : start + batch]
            blocks = self.vectorizer.transform_blocks(cleaned.gather(rows))
            batch_probabilities = np.zeros((len(rows), len(LABELS)))
            batch_probabilities[:, class_columns] = _class_probabilities(self.classifier, blocks)
            probabilities[rows] = batch_probabilities
        labels = np.asarray(LABELS)[probabilities.argmax(axis=1)]
        scores = probabilities[:, LABELS.index("positive")] - probabilities[:, LABELS.index("negative")]
        return pl.DataFrame({"sentiment_label": labels, "sentiment_score": scores})


def _class_probabilities(classifier: LogisticRegression, blocks: tuple) -> np.ndarray:
    """`classifier.predict_proba(hstack(blocks))` without building the stacked matrix (stacking CSR
    blocks side by side rebuilds every index: it cost more than the whole prediction)."""
    decision = classifier.intercept_ + sum(
        block @ classifier.coef_[:, start : start + block.shape[1]].T
        for block, start in zip(blocks, np.cumsum([0] + [b.shape[1] for b in blocks[:-1]]))
    )
    if decision.shape[1] == 1:  # two classes: sklearn's logistic of a single decision value
        positive = expit(decision[:, 0])
        return np.column_stack([1 - positive, positive])
    return softmax(decision, axis=1)


def _usable_rows(texts: Any, ratings: Any, max_chars: int) -> tuple[pl.Series, np.ndarray, np.ndarray]:
    cleaned = clean_texts(texts, max_chars=max_chars)
    labels = labels_from_ratings(ratings)
    if len(cleaned) != len(labels):
        raise ValueError(f"texts and ratings differ in length: {len(cleaned)} texts, {len(labels)} ratings")
    return cleaned, labels, has_text(cleaned).to_numpy()


def _classifier_metrics(model: "SentimentModel", texts: pl.Series, labels: np.ndarray) -> dict:
    predicted = model.predict_with_classifier(texts)
    scores = predicted["sentiment_score"].to_numpy()
    metrics = classification_metrics(labels, predicted["sentiment_label"].to_numpy(), scores)
    return {**metrics, SELECTION_METRIC: binary_macro_f1(labels, scores)}


def _fit_model(cleaned: pl.Series, labels: np.ndarray, config: ModelConfig, language: str, seed: int):
    vectorizer = ReviewVectorizer(
        language=language, char_ngram_range=config.char_ngram_range, word_bigrams=config.word_bigrams
    ).fit(cleaned)
    features = vectorizer.transform(cleaned)
    if config.nb_scaling:
        vectorizer.column_scales_ = log_count_ratios(features, labels)
        features = scale_columns(features, vectorizer.column_scales_)
    if config.plain_words:
        plain = WordNgramTfidf().fit(cleaned)
        vectorizer = BlockUnion((vectorizer, plain))
        features = sp.hstack([features, plain.transform(cleaned)], format="csr")
    return vectorizer, fit_logistic(features, labels, config.C, config.class_weight, seed)


def _fit_baseline(cleaned: pl.Series, labels: np.ndarray, C: float, seed: int):
    vectorizer = WordNgramTfidf().fit(cleaned)
    return vectorizer, fit_logistic(vectorizer.transform(cleaned), labels, C, None, seed)


def train_sentiment_model(
    texts: Any,
    ratings: Any,
    language: str = "english",
    seed: int = 0,
    holdout_fraction: float = 0.2,
    C: float | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    refit_on_all: bool = True,
) -> SentimentModel:
    """Train the sentiment model and the plain baseline on rating-derived labels, pick what serves on a
    stratified holdout, and return it with the report.

    Model: TF-IDF word 1-2 grams (stemmed, negation-marked) + char n-grams, optionally NB-SVM log-count-ratio
    scaled, + logistic regression; C, scaling, word/char n-gram ranges and class weights are chosen by
    validation inside the training part (`model_search`). Baseline: scikit-learn TF-IDF word 1-2 grams +
    logistic regression, C chosen on the same validation folds. Both are refitted on the whole training part
    and scored on the holdout; the model serves only if it beats the baseline there on binary macro-F1
    (`report["served"]`, `report["served_reason"]`). VADER is then compared with the served classifier as
    before (`champion`). `C`, when given, is one more candidate in both C grids, not a fixed value.

    `refit_on_all` (default): once the holdout has decided what serves and with which hyper-parameters, the
    served classifier is refitted on every usable row, holdout included (the usual "select, then refit";
    the reported holdout figures stay those of the fit on the training part). A pipeline that must compare
    this model with a champion on the same unseen rows passes False, so `holdout_rows` stays unseen.
    """
    language = language_resources(language).language
    cleaned, labels, usable = _usable_rows(texts, ratings, max_chars)
    rows = np.flatnonzero(usable)
    if len(rows) < MIN_TRAINING_TEXTS:
        raise ValueError(f"need at least {MIN_TRAINING_TEXTS} texts with words to train, got {len(rows)}")
    if len(np.unique(labels[rows])) < 2:
        raise ValueError(f"ratings give a single sentiment class ({labels[rows][0]}): need at least two")
    if C is not None and not C > 0:
        raise ValueError(f"C must be positive, got {C}")
    c_grid = tuple(sorted(set(C_GRID) | ({float(C)} if C is not None else set())))

    is_holdout = holdout_split(labels[rows], holdout_fraction, seed)
    train_rows, holdout_rows = rows[~is_holdout], rows[is_holdout]
    train_texts, train_labels = cleaned.gather(train_rows), labels[train_rows]
    folds = validation_folds(train_labels, seed)
    config, model_search_table, search_seconds = search_model(train_texts, train_labels, folds, language, seed, c_grid)
    baseline_C, baseline_search_table = search_baseline_c(train_texts, train_labels, folds, seed, c_grid)

    vectorizer, classifier = _fit_model(train_texts, train_labels, config, language, seed)
    model = SentimentModel(language=language, vectorizer=vectorizer, classifier=classifier, max_chars=max_chars)
    baseline_vectorizer, baseline_classifier = _fit_baseline(train_texts, train_labels, baseline_C, seed)
    baseline = SentimentModel(
        language=language, vectorizer=baseline_vectorizer, classifier=baseline_classifier, max_chars=max_chars
    )

    holdout_texts, holdout_labels = cleaned.gather(holdout_rows), labels[holdout_rows]
    candidates = {
        "model": _classifier_metrics(model, holdout_texts, holdout_labels),
        "baseline": _classifier_metrics(baseline, holdout_texts, holdout_labels),
    }
    model_score, baseline_score = (candidates[name][SELECTION_METRIC] for name in ("model", "baseline"))
    served = "model" if model_score > baseline_score else "baseline"
    served_reason = (
        f"model {SELECTION_METRIC}={model_score:.4f} "
        + ("beats" if served == "model" else "does not beat")
        + f" baseline ({BASELINE_NAME}) {SELECTION_METRIC}={baseline_score:.4f} on the holdout of "
        f"{len(holdout_rows)} rows: the {served} serves"
    )
    if served == "baseline":
        model.vectorizer, model.classifier = baseline_vectorizer, baseline_classifier
    if refit_on_all:
        all_texts, all_labels = cleaned.gather(rows), labels[rows]
        model.vectorizer, model.classifier = (
            _fit_model(all_texts, all_labels, config, language, seed)
            if served == "model"
            else _fit_baseline(all_texts, all_labels, baseline_C, seed)
        )
        if served == "baseline":
            baseline_vectorizer = model.vectorizer
        else:
            vectorizer = model.vectorizer
    metrics = {ENGINE_TFIDF: candidates[served]}
    if language == VADER_LANGUAGE:
        # VADER reads case and punctuation, so it gets the original (not lower-cased) holdout texts.
        original = clean_texts(texts, max_chars=max_chars, lowercase=False).gather(holdout_rows)
        vader = vader_scores(original, max_chars=max_chars)
        metrics[ENGINE_VADER] = {
            **classification_metrics(
                holdout_labels, vader["sentiment_label"].to_numpy(), vader["sentiment_score"].to_numpy()
            ),
            SELECTION_METRIC: binary_macro_f1(holdout_labels, vader["sentiment_score"].to_numpy()),
        }
        vader_note = "VADER (vaderSentiment lexicon) scored on the same holdout"
    else:
        vader_note = f"VADER skipped: it is English-only and the language is {language}"

    champion = max(metrics, key=lambda engine: (metrics[engine][PRIMARY_METRIC], engine == ENGINE_TFIDF))
    model.champion = champion
    model.holdout_rows = holdout_rows
    class_counts = dict(zip(*np.unique(labels[rows], return_counts=True)))
    chosen_C = config.C if served == "model" else baseline_C
    model.report = {
        "model": "sentiment",
        "language": language,
        "primary_metric": PRIMARY_METRIC,
        "higher_is_better": True,
        "champion": champion,
        "metrics": {**metrics[champion], PRIMARY_METRIC: metrics[champion][PRIMARY_METRIC]},
        "engines": metrics,
        # `baseline` stays VADER's figures (the pipeline reads it as "VADER is available"); the TF-IDF baseline
        # the model must beat is under `model_vs_baseline`.
        "baseline": metrics.get(ENGINE_VADER, {}),
        "baseline_name": ENGINE_VADER if ENGINE_VADER in metrics else None,
        "served": served,
        "served_reason": served_reason,
        "selection_metric": SELECTION_METRIC,
        "model_vs_baseline": {
            "validation": f"holdout of {len(holdout_rows)} rows (never used for fitting or the searches)",
            "model": {**candidates["model"], "hyper_parameters": config.describe()},
            "baseline": {**candidates["baseline"], "name": BASELINE_NAME, "hyper_parameters": {"C": baseline_C}},
            "served": served,
            "served_reason": served_reason,
        },
        "search": {
            "validation": f"{len(folds)} fold(s) of the training part ({len(folds[0][0]) + len(folds[0][1])} rows)",
            "C_grid": list(c_grid),
            "model": model_search_table,
            "baseline": baseline_search_table,
            "model_search_seconds": round(search_seconds, 2),
        },
        "vader_note": vader_note,
        "binary_accuracy_gain_over_vader": (
            metrics[ENGINE_TFIDF]["binary_accuracy"] - metrics[ENGINE_VADER]["binary_accuracy"]
            if ENGINE_VADER in metrics
            else None
        ),
        "label_rule": "ratings 1-2 negative, 3 neutral, 4-5 positive",
        "binary_rule": "rows rated 1-2 or 4-5; predicted positive iff sentiment_score > 0",
        "score_rule": "P(positive) - P(negative) for tfidf_logreg; VADER compound for vader",
        "n_texts": int(len(labels)),
        "n_without_text": int((~usable).sum()),
        "n_train": int(len(train_rows)),
        "n_holdout": int(len(holdout_rows)),
        "refit_on_all": bool(refit_on_all),
        "n_final_fit": int(len(rows) if refit_on_all else len(train_rows)),
        "class_counts": {label: int(class_counts.get(label, 0)) for label in LABELS},
        "seed": int(seed),
        "holdout_fraction": float(holdout_fraction),
        "regularisation_C": float(chosen_C),
        "n_word_features": vectorizer.n_word_features if served == "model" else baseline_vectorizer.n_features,
        "n_char_features": len(vectorizer.char_vocabulary_) if served == "model" else 0,
        "char_ngram_range": list(config.char_ngram_range) if served == "model" and config.char_ngram_range else None,
        "max_chars": int(max_chars),
        "preprocessing": "NFKC, lower case, NLTK-compatible regexp tokens, Snowball stems, negation marking "
        "(3 tokens after a negator, stopping at punctuation/contrast words); bundled language file, no downloads"
        if served == "model"
        else "NFKC, lower case, scikit-learn word tokens (baseline serves)",
    }
    return model


def evaluate_on_holdout(model: SentimentModel, texts: Any, ratings: Any) -> dict:
    """Score any fitted model (champion or challenger) on the given rows with the same metrics as
    `report["metrics"]`, using the model's own `predict` (so its champion engine). Rows without text
    are left out, as in training."""
    cleaned, labels, usable = _usable_rows(texts, ratings, model.max_chars)
    if not usable.any():
        raise ValueError("no holdout text contains words: nothing to evaluate")
    raw = clean_texts(texts, max_chars=model.max_chars, lowercase=False).filter(pl.Series(usable))
    predicted = model.predict(raw)
    metrics = classification_metrics(
        labels[usable], predicted["sentiment_label"].to_numpy(), predicted["sentiment_score"].to_numpy()
    )
    return {**metrics, "primary_metric": PRIMARY_METRIC, "engine": model.champion}
