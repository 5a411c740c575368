"""The CDNOW purchase history (1997-98, one product, no reviews or events) through the whole graph
(public_data_runs.py).
"""

import pytest

from customer_assets.examples import cdnow
from customer_assets_tests.public_data_runs import (
    REVIEW_MARTS,
    marts_row_counts,
    run_public_data,
    small_searches,  # noqa: F401 - an autouse fixture, used by pytest
)

pytestmark = pytest.mark.slow


def test_cdnow_purchase_history_through_the_pipeline(tmp_path, shared_data):
    tables = cdnow.convert(shared_data)
    settings, results, text, warehouse = run_public_data(tmp_path, tables)

    assert warehouse.row_count("raw", "orders") == 69_659
    assert warehouse.row_count("raw", "customers") == 23_570
    marts = marts_row_counts(warehouse)
    # No reviews in CDNOW: the review tables may be absent or empty; everything else is filled.
    filled = {name: rows for name, rows in marts.items() if name not in REVIEW_MARTS}
    assert {"customer_features", "churn_training_set", "customer_360", "churn_scores", "customer_segments",
            "segment_profiles", "drift_report", "model_monitoring"} <= set(filled)
    assert all(rows > 0 for name, rows in filled.items() if name not in {"product_recommendations",
                                                                        "similar_products"}), filled
    # One product: nothing to recommend. The recommender degrades with a reason; nothing else is affected.
    assert "recommendation_model: only 1 distinct product(s) bought" in text
    assert "Models beside their plain baselines" in text and "churn_model:" in text
    features = warehouse.read_table("marts", "customer_features")
    assert str(features["as_of_date"][0]) == "1998-06-30"
    scores = warehouse.read_table("marts", "churn_scores")
    assert scores.height > 0 and scores["churn_probability"].is_between(0, 1).all()
    # Segmentation: on CDNOW no clustering beats the single-feature (monetary) quantile split on the holdout
    # (measured: K-Means silhouette 0.31, quantile 0.45), so the baseline itself serves, and the summary says so.
    segments = warehouse.read_table("marts", "customer_segments")
    assert set(segments["algorithm"]) == {"value_quantile_baseline"}
    assert segments["segment_name"].n_unique() >= 2
    assert "quantile baseline itself" in text, text
