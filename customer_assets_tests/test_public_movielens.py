"""MovieLens-small (22 years of ratings, 1996-2018) with the shopping-app reviews through the whole graph
(public_data_runs.py).
"""

import polars as pl
import pytest

from customer_assets.examples import public_data
from customer_assets_tests.public_data_runs import (
    REVIEW_MARTS,
    marts_row_counts,
    run_public_data,
    small_searches,  # noqa: F401 - an autouse fixture, used by pytest
)

pytestmark = pytest.mark.slow


def test_movielens_and_app_reviews_through_the_pipeline(tmp_path, shared_data):
    tables = public_data.convert(shared_data)
    ratings = pl.read_csv(shared_data / "movielens-small" / "ratings.csv")
    assert tables["orders"].height == ratings.height
    settings, results, text, warehouse = run_public_data(tmp_path, tables)

    assert warehouse.row_count("raw", "orders") == ratings.height  # all 22 years
    assert warehouse.row_count("raw", "reviews") == tables["reviews"].height
    assert warehouse.row_count("raw", "events") == 0  # optional table absent: empty, not a crash
    marts = marts_row_counts(warehouse)
    assert {"customer_features", "churn_training_set", "customer_360", "churn_scores", "customer_segments",
            "product_recommendations", "similar_products", *REVIEW_MARTS} <= set(marts)
    features = warehouse.read_table("marts", "customer_features")
    ts = ratings.with_columns(ts=pl.from_epoch("timestamp", "s"))["ts"]
    as_of = ts.max().date()
    assert features["as_of_date"][0] == as_of
    # The as-of date is the last order (MovieLens, 2018); the app reviews, the only ones with text, are from
    # 2025, after it: as of that day no review has text, so topics and per-customer sentiment are empty.
    texts_by_then = warehouse.scalar("SELECT count(*) FROM raw.reviews WHERE review_text IS NOT NULL "
                                     "AND CAST(review_ts AS DATE) <= ?", [as_of])
    assert texts_by_then == 0
    assert all(rows > 0 for name, rows in marts.items() if name not in {"review_topics", "customer_sentiment"}), marts
    assert "Models beside their plain baselines" in text and "churn_model:" in text
    busiest = ratings.group_by("userId").len().sort(["len", "userId"], descending=True)["userId"][0]
    row = features.filter(pl.col("customer_id") == f"U{busiest}").row(0, named=True)
    assert row["frequency"] == row["review_count"] == ratings.filter(pl.col("userId") == busiest).height
    training = warehouse.read_table("marts", "churn_training_set")
    assert training.height > 0 and 0 < training["churned"].mean() < 1
