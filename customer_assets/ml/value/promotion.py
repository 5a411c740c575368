"""The value champion / challenger decision on the last horizon before the as-of date (pure, no Dagster)."""

from customer_assets.ml.value.evaluation import beats_naive
from customer_assets.mlops import lifecycle, registry
from customer_assets.mlops.lifecycle import finite
from customer_assets.models import VALUE

PRIMARY_METRIC = VALUE.primary_metric

PROMOTION_RULE = (
    "Challenger and champion predict the same customers' purchases and spend in the last horizon before the as-of "
    "date (fitted on / applied to the orders before it). No champion yet, or a champion that cannot score: the "
    "challenger becomes champion. A challenger that does not beat the naive baseline never replaces a champion "
    "that does. Otherwise the re-estimated challenger replaces the champion unless its holdout value MAE is worse "
    "than the champion's by more than CUSTOMER_ML_VALUE_PROMOTION_TOLERANCE (relative, default 0.02): the model "
    "class is fixed and its parameters are re-estimated on newer data, so newer wins a tie. The champion may have "
    "been fitted on orders inside the current holdout (it was fitted at its own, earlier as-of date), which can "
    "only favour it."
)


def promotion_decision(
    challenger_eval: dict, champion_eval: dict | None, tolerance: float, champion_error: str | None = None
) -> registry.Decision:
    """PROMOTION_RULE on two evaluations of the same holdout customers and window."""
    challenger = finite(challenger_eval["model"][PRIMARY_METRIC])
    challenger = challenger if challenger is not None else float("inf")
    if champion_error or champion_eval is None:  # the shared rule: a broken or missing champion is replaced
        return lifecycle.decide(
            PRIMARY_METRIC,
            challenger,
            None,
            champion_exists=bool(champion_error),
            champion_error=champion_error,
            higher_is_better=False,
        )
    if champion_eval["customers"] != challenger_eval["customers"]:
        raise ValueError("champion and challenger were not evaluated on the same holdout customers")
    champion = finite(champion_eval["model"][PRIMARY_METRIC])
    champion = champion if champion is not None else float("inf")
    challenger_wins, _ = beats_naive(challenger_eval)
    champion_wins, _ = beats_naive(champion_eval)
    if champion_wins and not challenger_wins:
        return registry.Decision(
            False,
            f"champion kept: the challenger does not beat the naive baseline on the "
            f"holdout and the champion does ({PRIMARY_METRIC} {challenger:.4f} vs "
            f"champion {champion:.4f})",
            challenger,
            champion,
        )
    if challenger <= champion * (1.0 + tolerance):
        return registry.Decision(
            True,
            f"challenger {PRIMARY_METRIC}={challenger:.4f} vs champion {champion:.4f} "
            f"on the same holdout: not worse by more than {tolerance:.0%}, so the model "
            "re-estimated on newer data replaces it",
            challenger,
            champion,
        )
    return registry.Decision(
        False,
        f"champion kept: challenger {PRIMARY_METRIC}={challenger:.4f} is worse than the "
        f"champion's {champion:.4f} by more than {tolerance:.0%} on the same holdout",
        challenger,
        champion,
    )
