"""Sentiment model training decisions (pure, no Dagster): which reviews train, when training is skipped, the
rows challenger and champion are compared on, the baseline beside them and the gate's verdict.

`knobs` is the ReviewKnobs settings section (customer_assets/defs/review/assets.py).
"""

import dataclasses

import numpy as np
import polars as pl

from customer_assets.ml.text.sentiment import LABELS, classification_metrics, evaluate_on_holdout, labels_from_ratings

MIN_COMPARISON_ROWS = 30


def labelled_reviews(reviews: pl.DataFrame, knobs) -> pl.DataFrame:
    """Reviews with a rating and some letters of text; a seeded sample above `train_max_reviews`."""
    labelled = reviews.filter(pl.col("rating").is_not_null() & pl.col("review_text").str.contains(r"\p{L}"))
    if labelled.height > knobs.train_max_reviews:
        labelled = labelled.sample(knobs.train_max_reviews, seed=knobs.seed).sort("review_id")
    return labelled


def training_skip_reason(labelled: pl.DataFrame, knobs) -> str | None:
    """Why training is skipped (None when it can go ahead)."""
    if labelled.height < knobs.min_reviews:
        return (
            f"only {labelled.height} review(s) with text and rating up to the as-of date (need "
            f"CUSTOMER_ML_REVIEW_MIN_REVIEWS={knobs.min_reviews}): no sentiment model trained"
        )
    classes = np.unique(labels_from_ratings(labelled["rating"]))
    if len(classes) < 2:
        return f"every labelled review has the same sentiment class ({classes[0]}): no sentiment model trained"
    return None


def comparison_rows_for(challenger, labelled: pl.DataFrame, champion) -> tuple[np.ndarray, str]:
    """Row positions (in `labelled`) on which challenger and champion are compared: the challenger's holdout
    without the reviews the champion was trained on (when it recorded them), so neither model has seen them."""
    rows = np.asarray(challenger.holdout_rows)
    seen = getattr(champion, "trained_review_ids", None)
    if champion is None or seen is None:
        return rows, "the challenger's holdout"
    unseen = rows[~np.isin(labelled["review_id"].gather(rows).to_numpy(), np.asarray(seen))]
    if len(unseen) < MIN_COMPARISON_ROWS:
        return rows, (
            f"the challenger's holdout (only {len(unseen)} of its rows are unseen by the champion, "
            f"fewer than {MIN_COMPARISON_ROWS}: the champion may have trained on some of them)"
        )
    return unseen, f"the {len(unseen)} rows of the challenger's holdout that the champion never trained on"


def baseline_on_holdout(challenger, holdout_texts, holdout_ratings) -> tuple[str, dict]:
    """VADER's figures on the given rows when the language allows; else the majority class."""
    if challenger.report.get("baseline"):
        vader = dataclasses.replace(challenger, champion="vader")
        return "vader", evaluate_on_holdout(vader, holdout_texts, holdout_ratings)
    counts = challenger.report["class_counts"]
    majority = max(LABELS, key=lambda label: counts.get(label, 0))
    truth = labels_from_ratings(holdout_ratings)
    return f"majority class ({majority})", classification_metrics(
        truth, np.full(len(truth), majority), np.zeros(len(truth))
    )


def gate_verdict(
    serving_engine: str, serving_metric: float, baseline_name: str, baseline_metric: float, metric: str
) -> tuple[bool, str]:
    if serving_engine == "vader" and baseline_name == "vader":
        return True, (
            f"VADER itself serves: the library's rule chose it as the better engine on the holdout "
            f"({metric}={serving_metric:.4f})"
        )
    passed = serving_metric > baseline_metric
    verb = "beats" if passed else "does not beat"
    return passed, (
        f"serving model ({serving_engine}) {metric}={serving_metric:.4f} {verb} the baseline "
        f"{baseline_name} {metric}={baseline_metric:.4f} on the same holdout"
    )


def comparison_rows(metric_sets: dict[str, dict | None]) -> list[dict]:
    """One row per metric, one column per model (challenger, champion, baseline) on the same holdout."""
    present = {name: metrics for name, metrics in metric_sets.items() if metrics}
    names = ["accuracy", "macro_f1", "binary_accuracy", *[f"f1_{label}" for label in LABELS]]

    def value(metrics: dict, name: str):
        if name.startswith("f1_"):
            return float(metrics.get("per_class_f1", {}).get(name[3:], float("nan")))
        return float(metrics.get(name, float("nan")))

    return [{"metric": name, **{model: value(metrics, name) for model, metrics in present.items()}} for name in names]
