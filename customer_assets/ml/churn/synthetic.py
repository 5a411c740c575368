"""Synthetic labelled snapshots shaped like ``customer_features`` with a known churn hazard.

For tests, benchmarks and demos only. Churn log-odds rise with days since the last order and support
tickets, and fall with order frequency, recent orders and engagement, so a sound model must beat the
base rate and a recency-only baseline, yet cannot be perfect (labels are Bernoulli draws).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

COUNTRIES = np.array(["DE", "FR", "GB", "US", "ES", "IT", "NL", "PL"])
COUNTRY_EFFECT = np.array([0.0, 0.1, -0.1, 0.2, 0.15, 0.05, -0.15, 0.25])


def true_churn_logit(recency_days, frequency, orders_90d, support_tickets_90d, engagement_score, country_effect):
    """The generating hazard (log-odds); missing recency (never ordered) counts as 365 days."""
    recency = np.where(np.isnan(recency_days), 365.0, recency_days)
    return (
        -1.4
        + 0.9 * (np.log1p(recency) - 3.5)
        - 0.5 * (np.log1p(frequency) - 1.5)
        - 0.25 * orders_90d
        + 0.45 * support_tickets_90d
        - 1.2 * (engagement_score - 0.5)
        + country_effect
    )


def make_churn_snapshots(
    n_customers: int = 2_000,
    n_cutoffs: int = 4,
    seed: int = 0,
    first_cutoff: dt.date = dt.date(2025, 1, 1),
    cutoff_spacing_days: int = 90,
) -> pl.DataFrame:
    """``n_customers * n_cutoffs`` rows: customer_id, cutoff_date, the FEATURES.md columns, churned (0/1)."""
    rng = np.random.default_rng(seed)
    rows = n_customers * n_cutoffs
    customer = np.tile(np.arange(n_customers), n_cutoffs)
    snapshot = np.repeat(np.arange(n_cutoffs), n_customers)

    activity = rng.gamma(shape=1.5, scale=1.3, size=n_customers)[customer] * np.exp(rng.normal(0, 0.35, rows))
    frustration = rng.beta(1.2, 5.0, size=n_customers)[customer]
    country_code = rng.integers(0, COUNTRIES.size, n_customers)[customer]
    tenure_days = (rng.integers(30, 1500, n_customers)[customer] + snapshot * cutoff_spacing_days).astype(float)

    orders_90d = rng.poisson(activity).astype(float)
    orders_prev_90d = rng.poisson(activity * np.exp(rng.normal(0, 0.3, rows))).astype(float)
    frequency = orders_90d + orders_prev_90d + rng.poisson(activity * np.maximum(tenure_days - 180, 0) / 90)
    recency_days = np.where(
        orders_90d > 0,
        rng.uniform(0, 90, rows) / np.sqrt(np.maximum(orders_90d, 1)),
        90 + rng.exponential(60 / (activity + 0.2), rows),
    )
    recency_days = np.minimum(np.round(recency_days), tenure_days)
    recency_days = np.where(frequency == 0, np.nan, recency_days)

    avg_order_value = np.round(rng.lognormal(3.6, 0.5, n_customers)[customer] * np.exp(rng.normal(0, 0.1, rows)), 2)
    monetary = np.round(frequency * avg_order_value, 2)
    sessions_90d = rng.poisson(2 + 4 * activity).astype(float)
    login_frequency = np.round(sessions_90d / 3 + rng.exponential(0.5, rows), 2)
    conversion_rate = np.where(sessions_90d > 0, np.minimum(orders_90d / np.maximum(sessions_90d, 1), 1.0), np.nan)
    support_tickets_90d = rng.poisson(0.2 + 2.0 * frustration).astype(float)
    engagement_score = 1 / (1 + np.exp(-(np.log(activity + 0.1) + rng.normal(0, 0.7, rows))))
    review_count = rng.poisson(0.3 * frequency).astype(float)
    has_review = review_count > 0
    avg_rating = np.where(
        has_review, np.clip(np.round(4.3 - 3 * frustration + rng.normal(0, 0.5, rows), 1), 1, 5), np.nan
    )
    avg_sentiment = np.where(has_review, np.clip(0.6 - 1.5 * frustration + rng.normal(0, 0.3, rows), -1, 1), np.nan)
    last_sentiment = np.where(has_review, np.clip(avg_sentiment + rng.normal(0, 0.3, rows), -1, 1), np.nan)

    logit = true_churn_logit(
        recency_days, frequency, orders_90d, support_tickets_90d, engagement_score, COUNTRY_EFFECT[country_code]
    )
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    cutoffs = np.datetime64(first_cutoff, "D") + np.arange(n_cutoffs) * np.timedelta64(cutoff_spacing_days, "D")

    return pl.DataFrame(
        {
            "customer_id": pl.Series(customer).cast(pl.String).str.zfill(7).str.replace(r"^", "C"),
            "cutoff_date": pl.Series(cutoffs[snapshot], dtype=pl.Date),
            "country": COUNTRIES[country_code],
            "recency_days": recency_days,
            "frequency": frequency,
            "monetary": monetary,
            "avg_order_value": avg_order_value,
            "tenure_days": tenure_days,
            "clv_to_date": monetary * 0.3,
            "orders_90d": orders_90d,
            "orders_prev_90d": orders_prev_90d,
            "order_trend": orders_90d - orders_prev_90d,
            "return_rate": np.round(rng.beta(1, 12, rows), 3),
            "cancel_rate": np.round(rng.beta(1, 20, rows), 3),
            "category_breadth": np.minimum(frequency, rng.integers(1, 8, rows)),
            "login_frequency": login_frequency,
            "sessions_90d": sessions_90d,
            "conversion_rate": conversion_rate,
            "support_tickets_90d": support_tickets_90d,
            "engagement_score": np.round(engagement_score, 3),
            "review_count": review_count,
            "avg_rating": avg_rating,
            "avg_sentiment": avg_sentiment,
            "last_sentiment": last_sentiment,
            "churned": churned,
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))
