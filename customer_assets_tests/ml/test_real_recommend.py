"""The recommender beats popularity on the MovieLens-small time split (reduced evaluation)."""

from __future__ import annotations

from customer_assets.evaluation.recommend import MARGIN, evaluate


def test_recommender_beats_popularity_on_movielens_time_split(shared_data):
    rows = evaluate(shared_data, reduced=True)
    assert {row.metric.split(" ")[0] for row in rows} == {"precision@10", "ndcg@10"}
    for row in rows:
        assert row.baseline_name == "popularity"
        assert row.model >= row.baseline + MARGIN, row
