"""Review tables on reviews without text (ratings only, as in MovieLens): no 0/0 shares, checks still pass."""

import datetime as dt

import polars as pl

from customer_assets.defs.review.assets import _table_checks
from customer_assets.ml.text.review_tables import ReviewTables, product_sentiment


def test_products_whose_reviews_have_no_text_get_null_shares_and_pass_the_share_check():
    reviews = pl.DataFrame(
        {"review_id": ["r1", "r2", "r3"], "product_id": ["a", "a", "b"], "rating": [5, 4, 3],
         "sentiment_label": [None, None, "positive"], "sentiment_score": [None, None, 0.5],
         "aspects": [[], [], ["price:positive"]]},
        schema_overrides={"sentiment_label": pl.String, "sentiment_score": pl.Float64, "aspects": pl.List(pl.String)})
    products = product_sentiment(reviews, dt.date(2020, 1, 1))
    a, b = (products.filter(pl.col("product_id") == p).row(0, named=True) for p in ("a", "b"))
    assert a["review_count"] == 2 and a["positive_share"] is None and a["negative_share"] is None
    assert (b["positive_share"], b["neutral_share"], b["negative_share"]) == (1.0, 0.0, 0.0)
    customers = pl.DataFrame({"customer_id": ["c1"], "avg_sentiment": [0.5], "last_sentiment": [0.5]})
    tables = ReviewTables(review_sentiment=reviews, review_topics=pl.DataFrame(), product_sentiment=products,
                          customer_sentiment=customers, notes=[])
    checks = {c.check_name: c for results in _table_checks(tables).values() for c in results}
    assert checks["sentiment_shares_sum_to_one"].passed
    broken = products.with_columns(positive_share=pl.lit(0.5))
    tables.product_sentiment = broken
    checks = {c.check_name: c for results in _table_checks(tables).values() for c in results}
    assert not checks["sentiment_shares_sum_to_one"].passed  # the check still catches a wrong mix
