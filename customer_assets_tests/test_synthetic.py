import datetime as dt

import polars as pl
import pytest

from customer_assets.sources.synthetic import SyntheticSpec, generate


@pytest.fixture(scope="module")
def tables():
    return generate(SyntheticSpec(customers=2000, seed=3))


def test_same_seed_gives_identical_tables(tables):
    again = generate(SyntheticSpec(customers=2000, seed=3))
    for name, frame in tables.items():
        assert frame.equals(again[name]), name
    other = generate(SyntheticSpec(customers=2000, seed=4))
    assert not other["orders"].equals(tables["orders"])


def test_keys_are_unique_and_foreign_keys_resolve(tables):
    assert tables["customers"]["customer_id"].is_unique().all()
    assert tables["orders"]["order_id"].is_unique().all()
    assert tables["reviews"]["review_id"].is_unique().all()
    customers = tables["customers"]["customer_id"].implode()
    assert tables["orders"]["customer_id"].is_in(customers).all()
    assert tables["order_items"]["order_id"].is_in(tables["orders"]["order_id"].implode()).all()
    assert tables["order_items"]["product_id"].is_in(tables["products"]["product_id"].implode()).all()
    assert tables["events"]["customer_id"].is_in(customers).all()


def test_dates_stay_inside_the_simulated_period(tables):
    spec = SyntheticSpec(customers=2000, seed=3)
    orders = tables["orders"]
    assert orders["order_ts"].min().date() >= spec.start_date
    assert orders["order_ts"].max().date() <= spec.end_date


def test_review_text_agrees_with_rating(tables):
    reviews = tables["reviews"]
    negative_words = r"(?i)disappointed|terrible|broke|slow|late|rude|overpriced|not worth|awful|not happy|damaged|would not|bad|lost|flimsy|never|too much|forever|poorly|stopped"
    low = reviews.filter(pl.col("rating") <= 2)["review_text"].str.contains(negative_words).mean()
    high = reviews.filter(pl.col("rating") >= 4)["review_text"].str.contains(negative_words).mean()
    assert low > 0.9 and high < 0.05


def test_churn_depends_on_behaviour(tables):
    """Customers who stop ordering had fewer orders and worse reviews: the hazard is behavioural."""
    orders = tables["orders"].filter(pl.col("status") == "completed")
    cutoff = dt.datetime(2026, 8, 2)
    before = orders.filter(pl.col("order_ts") < cutoff).group_by("customer_id").agg(n=pl.len())
    after = orders.filter(pl.col("order_ts") >= cutoff).select("customer_id").unique().with_columns(stayed=pl.lit(True))
    labelled = before.join(after, on="customer_id", how="left").with_columns(pl.col("stayed").fill_null(False))
    churn_rate = 1 - labelled["stayed"].mean()
    assert 0.15 < churn_rate < 0.7
    stayed_orders = labelled.filter(pl.col("stayed"))["n"].mean()
    churned_orders = labelled.filter(~pl.col("stayed"))["n"].mean()
    assert stayed_orders > churned_orders * 1.3


def test_purchases_follow_category_tastes(tables):
    """Most of a customer's items come from two categories: taste structure a recommender can learn."""
    items = tables["order_items"].join(tables["orders"].select("order_id", "customer_id"), on="order_id").join(
        tables["products"].select("product_id", "category"), on="product_id")
    per_customer = items.group_by("customer_id", "category").len().with_columns(
        share=pl.col("len") / pl.col("len").sum().over("customer_id"))
    top_two = per_customer.sort("share", descending=True).group_by("customer_id").head(2).group_by(
        "customer_id").agg(pl.col("share").sum(), n=pl.col("len").sum())
    assert top_two.filter(pl.col("n") >= 8)["share"].mean() > 0.7


def test_web_events_carry_logins_sessions_and_purchases(tables):
    kinds = set(tables["events"]["event_type"].unique())
    assert {"login", "page_view", "add_to_cart", "purchase", "support_ticket"} <= kinds
