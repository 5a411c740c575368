"""Explicit ratings on MovieLens-small: the served rating model vs the regularised-bias baseline, same folds.

5 random folds (fixed seed) of ratings.csv; on each, `fit_rating_model` (which tunes and blends its components
on an inner random validation split of the training folds only) and the baseline (global mean + customer and
product biases, regularisation tuned on the same inner split) are fitted on the other 4 folds and scored on the
held fold. RMSE and MAE are means over folds. Target: model RMSE <= 0.965 x baseline RMSE.
Reduced (CI): the ratings of a seeded 40 % of the customers, one of the 5 folds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from customer_assets.evaluation import EvalRow
from customer_assets.ml.recommend.interactions import IdIndex, validate_ratings
from customer_assets.ml.recommend.rating_baseline import fit_biases, tune_biases
from customer_assets.ml.recommend.rating_data import RatingArrays
from customer_assets.ml.recommend.ratings import fit_rating_model

DATASET = "movielens-small"
N_FOLDS = 5
FOLD_SEED = 20240501
TARGET_RATIO = 0.965
INNER_FRACTION = 0.1
REDUCED_CUSTOMER_SHARE = 0.4


def load_ratings(shared: Path) -> pl.DataFrame:
    raw = pl.read_csv(shared / DATASET / "ratings.csv")
    return raw.select(
        pl.col("userId").alias("customer_id"),
        pl.col("movieId").alias("product_id"),
        "rating",
        pl.col("timestamp").alias("ts"),
    )


def baseline_predictions(train: pl.DataFrame, test: pl.DataFrame, seed: int) -> np.ndarray:
    """The bias model a data scientist writes first: mu + b_u + b_i, regularisation tuned on an inner split."""
    frame = validate_ratings(train)
    customers, items = IdIndex.from_values(frame["customer_id"]), IdIndex.from_values(frame["product_id"])
    data = RatingArrays(
        customers.lookup(frame["customer_id"]), items.lookup(frame["product_id"]), frame["rating"].to_numpy(), None
    )
    n_users, n_items = len(customers), len(items)
    held = np.random.default_rng(seed).random(len(data)) < INNER_FRACTION
    inner, check = data.subset(~held), data.subset(held)
    seen_user = np.bincount(inner.users, minlength=n_users) > 0
    seen_item = np.bincount(inner.items, minlength=n_items) > 0
    check = RatingArrays(
        np.where(seen_user[check.users], check.users, -1),
        np.where(seen_item[check.items], check.items, -1),
        check.values,
        None,
    )
    regs, _, _ = tune_biases(inner, check, n_users, n_items)
    biases = fit_biases(data, n_users, n_items, **regs)
    pairs = RatingArrays(customers.lookup(test["customer_id"]), items.lookup(test["product_id"]), None, None)
    low, high = float(data.values.min()), float(data.values.max())
    return np.clip(biases.predict(pairs), low, high)


def fold_scores(ratings: pl.DataFrame, folds: list[int], n_folds: int = N_FOLDS) -> list[dict]:
    assignment = np.random.default_rng(FOLD_SEED).permutation(ratings.height) % n_folds
    scores = []
    for fold in folds:
        test_mask = pl.Series(assignment == fold)
        train, test = ratings.filter(~test_mask), ratings.filter(test_mask)
        actual = test["rating"].to_numpy().astype(np.float64)
        model = fit_rating_model(train, seed=fold, validation="random")
        predicted = model.predict(test)
        baseline = baseline_predictions(train, test, seed=fold)
        scores.append(
            {
                "fold": fold,
                "served": model.report["served"],
                "rmse": float(np.sqrt(np.mean((predicted - actual) ** 2))),
                "baseline_rmse": float(np.sqrt(np.mean((baseline - actual) ** 2))),
                "mae": float(np.mean(np.abs(predicted - actual))),
                "baseline_mae": float(np.mean(np.abs(baseline - actual))),
            }
        )
    return scores


def evaluate(shared: Path, reduced: bool = False) -> list[EvalRow]:
    ratings = load_ratings(shared)
    if reduced:
        customers = ratings["customer_id"].unique().sort().to_numpy()
        chosen = np.random.default_rng(FOLD_SEED).random(len(customers)) < REDUCED_CUSTOMER_SHARE
        ratings = ratings.filter(pl.col("customer_id").is_in(customers[chosen].tolist()))
    folds = [0] if reduced else list(range(N_FOLDS))
    scores = fold_scores(ratings, folds)
    mean = {key: float(np.mean([s[key] for s in scores])) for key in ("rmse", "baseline_rmse", "mae", "baseline_mae")}
    ratio = mean["rmse"] / mean["baseline_rmse"]
    served = ",".join(sorted({s["served"] for s in scores}))
    notes = (
        f"{len(folds)} of {N_FOLDS} random folds of {ratings.height} ratings; model/baseline RMSE = {ratio:.4f} "
        f"({'meets' if ratio <= TARGET_RATIO else 'misses'} the {TARGET_RATIO} target); served: {served}"
    )
    common = dict(
        dataset=DATASET + (" (reduced)" if reduced else ""),
        task="ratings",
        baseline_name="biases (tuned reg)",
        model_name="time biases + item-kNN + factors blend",
        higher_is_better=False,
    )
    return [
        EvalRow(
            metric="rmse",
            baseline=mean["baseline_rmse"],
            model=mean["rmse"],
            target=f"<= {TARGET_RATIO} x baseline",
            notes=notes,
            **common,
        ),
        EvalRow(metric="mae", baseline=mean["baseline_mae"], model=mean["mae"], notes=notes, **common),
    ]
