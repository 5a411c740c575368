"""Product recommendations: implicit collaborative models (item-kNN, EASE, ALS, NMF baseline), content
similarity, a validated hybrid blend, popularity cold start, time-split evaluation and explicit ratings.

Public API:
    fit_recommender(interactions, products=None, seed=0, ..., exposure_cap=None|"auto"|ExposureCap) -> Recommender
        rec.recommend(customer_ids, k=10, exclude_seen=True, groups=None, strategy=None) -> pl.DataFrame
        rec.similar_products(product_ids, k=10) -> pl.DataFrame
        rec.report -> dict (primary_metric, metrics, baseline, strategies, candidates, chosen_model, why, ...)
    time_split(interactions, holdout_days=None, as_of=None, holdout_fraction=0.1) -> (train, holdout)
    evaluate_on_holdout(model, holdout, k=10, groups=None) -> dict   # champion vs challenger, same holdout
    evaluate_recommender(model, holdout, k=10, groups=None) -> dict  # + per-strategy and cold customers
    fit_rating_model(ratings, seed=0) -> RatingModel (.predict(pairs) -> np.ndarray, .report)
    interactions_from_order_items(order_items, as_of=None, half_life_days=180) -> pl.DataFrame
"""

from customer_assets.ml.recommend.evaluate import evaluate_on_holdout, evaluate_recommender, time_split
from customer_assets.ml.recommend.exposure import ExposureCap
from customer_assets.ml.recommend.interactions import interactions_from_order_items, validate_interactions
from customer_assets.ml.recommend.ratings import RatingModel, fit_rating_model
from customer_assets.ml.recommend.recommender import POPULARITY, Recommender, fit_recommender

__all__ = [
    "ExposureCap",
    "Recommender",
    "RatingModel",
    "evaluate_on_holdout",
    "evaluate_recommender",
    "fit_rating_model",
    "POPULARITY",
    "fit_recommender",
    "interactions_from_order_items",
    "time_split",
    "validate_interactions",
]
