"""The segmentation champion / challenger decision on the fixed customer holdout (pure, no Dagster).

The shared lifecycle's rule (customer_assets/mlops/lifecycle.py) on holdout silhouette, plus two vetoes of
this domain: a challenger that does not beat its value-quantile baseline, or whose bootstrap stability is
below MIN_STABILITY, never replaces a champion.
"""

import math

from customer_assets.ml.segmentation.evaluate import beats_baseline
from customer_assets.mlops import lifecycle, registry

MIN_STABILITY = 0.8

PROMOTION_RULE = (
    "Both models are scored with evaluate_on_holdout on the same held-out customers (md5(customer_id) bucket "
    "< holdout_percent of 100; never used for fitting). Primary metric: holdout silhouette (higher is better). "
    "No champion yet: the challenger becomes champion. Otherwise the challenger is promoted only if its "
    "silhouette beats the champion's by more than the margin AND it beats its own value-quantile baseline on "
    "the holdout AND its bootstrap stability ARI is at least 0.8; a champion that can no longer score the "
    "current features (e.g. a feature column disappeared) is replaced."
)


def primary_score(evaluation: dict | None) -> float | None:
    """The evaluation's primary metric, None when there is no evaluation or the figure is missing / NaN."""
    if evaluation is None:
        return None
    value = evaluation["metrics"].get(evaluation["primary_metric"])
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def promotion_decision(
    challenger_eval: dict,
    champion_eval: dict | None,
    challenger_stability: float | None,
    margin: float,
    champion_error: str | None = None,
) -> registry.Decision:
    """Apply PROMOTION_RULE to two holdout evaluations (same rows)."""
    metric = challenger_eval["primary_metric"]
    challenger = primary_score(challenger_eval)
    challenger_value = challenger if challenger is not None else float("nan")
    # A champion that finds fewer than 2 clusters on the holdout has no silhouette: the lifecycle replaces it.
    champion = primary_score(champion_eval) if champion_eval is not None else None
    decision = lifecycle.decide(
        metric,
        challenger_value,
        champion,
        champion_exists=champion_eval is not None or bool(champion_error),
        champion_error=champion_error,
        higher_is_better=challenger_eval["primary_metric_higher_is_better"],
        margin=margin,
    )
    if not decision.promote or champion_eval is None:
        return decision
    vetoes = []
    if not beats_baseline(challenger_eval):
        vetoes.append("it does not beat its value-quantile baseline on the holdout")
    if challenger_stability is None or challenger_stability < MIN_STABILITY:
        vetoes.append(f"its bootstrap stability ARI {challenger_stability} is below {MIN_STABILITY}")
    if vetoes:
        return registry.Decision(
            False,
            decision.reason.replace("beats champion", "would beat champion")
            + "; champion kept because "
            + " and ".join(vetoes),
            challenger_value,
            champion,
        )
    return decision
