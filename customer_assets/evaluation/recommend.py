"""Recommendations on MovieLens-small: ``fit_recommender`` beside popularity, same time-split holdout.

Protocol (as ``benchmarks/bench_recommend.py``): ratings are implicit interactions (weight 1); the last
365 days of the file are held out and the model is fitted on everything before, choosing its model,
parameters and blend on its own rolling validation folds inside the training part (never on the holdout).
``evaluate_on_holdout`` scores the model and the popularity baseline on the same holdout customers (those
the model knows who rated something new): precision@10 and NDCG@10 (primary).

``reduced``: one candidate (item-kNN, the cheapest), no parameter tuning, no content model, and the
training catalogue restricted to movies with at least ``REDUCED_MIN_ITEM_RATINGS`` training ratings
(item-kNN cost grows with the square of the catalogue). Popularity recommends from the same catalogue, so
the comparison stays fair; holdout items outside it count as misses for both.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from customer_assets.evaluation import EvalRow
from customer_assets.ml.recommend import evaluate_on_holdout, fit_recommender, time_split

TASK = "recommend"
HOLDOUT_DAYS = 365
K = 10
REDUCED_MIN_ITEM_RATINGS = 10
MARGIN = 0.02  # absolute, on both metrics: the bar the tests hold the model to


def movielens_interactions(shared: Path) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    folder = shared / "movielens-small"
    if not (folder / "ratings.csv").is_file():
        return None
    ratings = pl.read_csv(folder / "ratings.csv")
    interactions = ratings.select(
        pl.col("userId").alias("customer_id"),
        pl.col("movieId").alias("product_id"),
        pl.lit(1.0).alias("weight"),
        pl.col("timestamp").alias("ts"),
    )
    movies = pl.read_csv(folder / "movies.csv").select(
        pl.col("movieId").alias("product_id"),
        pl.col("title").alias("name"),
        pl.col("genres").str.replace_all("|", " ", literal=True).alias("description"),
        pl.col("genres").alias("category"),
    )
    return interactions, movies


def evaluate(shared: Path, reduced: bool = False) -> list[EvalRow]:
    loaded = movielens_interactions(Path(shared))
    if loaded is None:
        return []
    interactions, movies = loaded
    started = time.perf_counter()
    train, holdout = time_split(interactions, holdout_days=HOLDOUT_DAYS)
    if reduced:
        counts = train.group_by("product_id").len()
        kept = counts.filter(pl.col("len") >= REDUCED_MIN_ITEM_RATINGS).select("product_id")
        train = train.join(kept, on="product_id")
        model = fit_recommender(train, seed=0, candidates=["itemknn"], tune_max_interactions=0)
        setting = f"reduced: item-kNN only, no tuning, movies with >= {REDUCED_MIN_ITEM_RATINGS} train ratings"
    else:
        model = fit_recommender(train, products=movies, seed=0)
        setting = "full: all candidates, tuned on rolling validation folds, content from genres"
    scored = evaluate_on_holdout(model, holdout, k=K)
    model_name = f"fit_recommender ({model.report['chosen_model']})"
    notes = (
        f"{setting}; last {HOLDOUT_DAYS} days held out, {scored['model']['n_customers']} holdout customers; "
        f"{time.perf_counter() - started:.1f} s"
    )
    return [
        EvalRow(
            "movielens_small",
            TASK,
            f"{metric} (time-split holdout)",
            "popularity",
            float(scored["popularity"][metric]),
            model_name,
            float(scored["model"][metric]),
            target=f"popularity + {MARGIN}",
            notes=notes,
        )
        for metric in (f"precision@{K}", f"ndcg@{K}")
    ]
