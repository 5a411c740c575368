"""The churn champion / challenger decision on the time holdout: the rows at the latest cutoff.

Pure (no Dagster): the training asset (customer_assets/defs/churn/assets.py) evaluates both models with
`evaluate_on_holdout` on `split_holdout`'s rows and hands the figures here; the rule and its words are the
shared lifecycle's (customer_assets/mlops/lifecycle.py).
"""

import datetime as dt

import polars as pl

from customer_assets.ml.churn.baselines import FREQUENCY_BASELINE, LOGISTIC_BASELINE, RECENCY_BASELINE
from customer_assets.mlops import lifecycle, registry
from customer_assets.mlops.lifecycle import finite
from customer_assets.models import CHURN

PRIMARY_METRIC = CHURN.primary_metric
TIME_COLUMN = "cutoff_date"
BASELINE_NAMES = (LOGISTIC_BASELINE, FREQUENCY_BASELINE, RECENCY_BASELINE)

PROMOTION_RULE = (
    "Challenger and champion are scored with evaluate_on_holdout on the same rows: marts.churn_training_set at "
    "its latest cutoff_date (the time holdout; no model trained on it). Metric: holdout ROC-AUC. No champion "
    "yet: the challenger becomes champion. A champion that cannot score the current training set (columns "
    "gone) is replaced. Otherwise the challenger gets the alias only if its ROC-AUC beats the champion's by "
    "more than CUSTOMER_ML_CHURN_PROMOTION_MARGIN."
)


def split_holdout(training_set: pl.DataFrame) -> tuple[pl.DataFrame, dt.date]:
    """The rows at the latest cutoff: the library's own time holdout, used to compare every model."""
    latest = training_set[TIME_COLUMN].max()
    return training_set.filter(pl.col(TIME_COLUMN) == latest), latest


def recency_baseline_score(evaluation: dict) -> float | None:
    baseline = evaluation.get("baseline_recency_only") or {}
    return finite(baseline.get(PRIMARY_METRIC))


def promotion_decision(
    challenger_eval: dict,
    champion_eval: dict | None,
    margin: float,
    champion_error: str | None = None,
    champion_exists: bool | None = None,
) -> registry.Decision:
    """PROMOTION_RULE on two evaluations of the same holdout rows (the shared lifecycle's rule)."""
    if champion_eval is not None and champion_eval.get("rows") != challenger_eval.get("rows"):
        raise ValueError("champion and challenger were not evaluated on the same holdout rows")
    challenger = finite(challenger_eval.get(PRIMARY_METRIC))
    return lifecycle.decide(
        PRIMARY_METRIC,
        challenger if challenger is not None else float("nan"),
        None if champion_eval is None else champion_eval.get(PRIMARY_METRIC),
        champion_exists=champion_eval is not None if champion_exists is None else champion_exists,
        champion_error=champion_error,
        higher_is_better=True,
        margin=margin,
    )


def plain_baseline_scores(evaluation: dict) -> dict[str, float]:
    """The holdout ROC-AUC of every plain baseline in an evaluation (recency, frequency, one-hot LR)."""
    scores = {}
    for key, metrics in evaluation.items():
        if key.startswith("baseline_") and key != "baseline_base_rate" and isinstance(metrics, dict):
            value = finite(metrics.get(PRIMARY_METRIC))
            if value is not None:
                scores[key.removeprefix("baseline_")] = value
    return scores
