"""Recommendation recipes (pure, no Dagster): how a model is trained, so a champion can be refit on a new split,
the time split both are evaluated on, the rating model's holdout figures and the popularity gate."""

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from customer_assets.ml.recommend import (
    POPULARITY,
    ExposureCap,
    evaluate_on_holdout,
    fit_rating_model,
    fit_recommender,
    interactions_from_order_items,
)


def weighted_interactions(lines: pl.DataFrame, ratings: pl.DataFrame, until: dt.datetime, recipe: dict) -> pl.DataFrame:
    """Recency-weighted purchases up to `until`; a review written by then scales its pair's weight
    (rating 1 -> 1 - w, 3 -> 1, 5 -> 1 + w). Weight-aware models (NMF, ALS) use this; item-kNN and EASE
    binarise the matrix, so for them ratings change nothing."""
    frame = interactions_from_order_items(lines, as_of=until, half_life_days=recipe["half_life_days"])
    strength = recipe.get("rating_weight", 0.0)
    rated = ratings.filter(pl.col("ts") <= until) if ratings.height else ratings
    if strength == 0 or rated.height == 0:
        return frame
    latest = (
        rated.sort("ts")
        .unique(["customer_id", "product_id"], keep="last")
        .select("customer_id", "product_id", pl.col("rating").cast(pl.Float64))
    )
    return (
        frame.join(latest, on=["customer_id", "product_id"], how="left")
        .with_columns(weight=pl.col("weight") * (1 + strength * (pl.col("rating").fill_null(3.0) - 3.0) / 2.0))
        .drop("rating")
    )


def fit_recipe(recipe: dict, interactions: pl.DataFrame, products: pl.DataFrame, k: int):
    params = recipe.get("model_params") or {}
    cap = recipe.get("exposure_cap")  # absent from recipes recorded before the cap existed: off
    # Half-lives absent from older recipes are chosen on validation again ("auto"); None means off.
    return fit_recommender(
        interactions,
        products,
        seed=recipe["seed"],
        algorithm=recipe["algorithm"],
        model_params=params,
        new_product_weight=recipe.get("new_product_weight"),
        k=k,
        exposure_cap=ExposureCap(**cap) if isinstance(cap, dict) else cap,
        interaction_half_life_days=recipe.get("interaction_half_life_days", "auto"),
        popularity_half_life_days=recipe.get("popularity_half_life_days", "auto"),
    )


def resolved_recipe(recipe: dict, model) -> dict:
    """The recipe with every choice the fit made on validation fixed (algorithm, its tuned parameters, the
    recency half-lives, new-product weight, exposure cap), so a refit on more history repeats the recipe
    instead of searching again (only the blend weights are re-chosen)."""
    report = model.report
    chosen = report["chosen_model"]
    resolved = {
        **recipe,
        "algorithm": chosen,
        "new_product_weight": report["new_product_weight"],
        "model_params": {chosen: report.get("model_params") or {}},
        "interaction_half_life_days": report.get("interaction_half_life_days"),
        "popularity_half_life_days": report.get("popularity_half_life_days"),
    }
    if "exposure_cap" in recipe:
        resolved["exposure_cap"] = report["exposure_cap"]
    return resolved


@dataclass
class Split:
    as_of: dt.date
    end: dt.datetime
    cutoff: dt.datetime
    lines: pl.DataFrame
    ratings: pl.DataFrame
    products: pl.DataFrame
    holdout: pl.DataFrame
    groups: pl.DataFrame


def evaluate_recipe(recipe: dict, split: Split, k: int):
    train = weighted_interactions(split.lines, split.ratings, split.cutoff, recipe)
    model = fit_recipe(recipe, train, split.products, k)
    return model, evaluate_on_holdout(model, split.holdout, k=k, groups=split.groups)


def rating_figures(ratings: pl.DataFrame, cutoff: dt.datetime, seed: int) -> dict:
    """fit_rating_model on reviews up to the cutoff, RMSE on the later reviews beside the global mean."""
    train, held = ratings.filter(pl.col("ts") <= cutoff), ratings.filter(pl.col("ts") > cutoff)
    if train.height < 10 or held.height == 0:
        return {"note": f"too few reviews for a holdout ({train.height} before, {held.height} after the cutoff)"}
    model = fit_rating_model(train, seed=seed)
    actual = held["rating"].cast(pl.Float64).to_numpy()
    rmse = float(np.sqrt(np.mean((model.predict(held) - actual) ** 2)))
    mean_rmse = float(np.sqrt(np.mean((train["rating"].cast(pl.Float64).mean() - actual) ** 2)))
    return {
        "rmse": rmse,
        "global_mean_rmse": mean_rmse,
        "n_train": train.height,
        "n_holdout": held.height,
        "internal_validation": model.report.get("metrics", {}),
    }


def beats_popularity(evaluation: dict | None) -> bool:
    if evaluation is None:
        return False
    primary = evaluation["primary_metric"]
    return evaluation["model"][primary] > evaluation["popularity"][primary]


def is_popularity(recipe: dict | None) -> bool:
    return bool(recipe) and recipe.get("algorithm") == POPULARITY


def passes_gate(recipe: dict | None, evaluation: dict | None) -> bool:
    """What serves beats popularity on the holdout, or is popularity itself."""
    return evaluation is not None and (is_popularity(recipe) or beats_popularity(evaluation))
