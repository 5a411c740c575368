"""Explicit ratings on real data (MovieLens-small): the served model must beat the tuned bias baseline, and the
fit must fall back to the baseline when there is nothing beyond biases to learn."""

import numpy as np
import polars as pl

from customer_assets.evaluation import ratings as rating_eval
from customer_assets.ml.recommend import fit_rating_model

# The full 5-fold run reaches ~0.957 x baseline RMSE; the reduced run (40 % of customers, one fold) ~0.968.
# 0.98 leaves room for noise on the reduced run and still fails if a component stops contributing.
REDUCED_MAX_RATIO = 0.98


def test_reduced_movielens_model_beats_bias_baseline(shared_data):
    rows = {row.metric: row for row in rating_eval.evaluate(shared_data, reduced=True)}
    rmse, mae = rows["rmse"], rows["mae"]
    assert rmse.model <= REDUCED_MAX_RATIO * rmse.baseline, rmse.notes
    assert mae.model < mae.baseline
    assert "served: model" in rmse.notes


def test_baseline_is_served_when_ratings_are_noise_around_biases():
    # Ratings = customer bias + product bias + pure noise: nothing for kNN, factors or time terms to find.
    rng = np.random.default_rng(3)
    n = 20_000
    users, items = rng.integers(0, 400, n), rng.integers(0, 300, n)
    raw = 3.5 + 0.4 * rng.normal(0, 1, 400)[users] + 0.4 * rng.normal(0, 1, 300)[items] + rng.normal(0, 1.0, n)
    ratings = pl.DataFrame({"customer_id": users, "product_id": items, "rating": np.clip(np.round(raw), 1, 5),
                            "ts": 1_600_000_000 + rng.integers(0, 400 * 86_400, n)})
    model = fit_rating_model(ratings, seed=0, validation="random")
    report = model.report
    assert report["served"] == "baseline", report["served_reason"]
    assert report["rmse"] >= report["baseline_rmse"]
    # What is served is the plain bias model: mu + b_u + b_i, whatever the timestamp.
    pairs = pl.DataFrame({"customer_id": [0, 0], "product_id": [1, 1], "ts": [1_600_000_000, 1_640_000_000]})
    predicted = model.predict(pairs)
    assert predicted[0] == predicted[1]
