"""Synthetic customer feature frames for tests, benchmarks and demos (no data download).

- ``planted_customers``: five well-separated groups in log-RFM space, with the business name each
  group should receive, to check recovery and naming.
- ``realistic_customers``: one continuum driven by a latent engagement level: lognormal spend and
  order counts, recency that shortens as engagement grows, ~12% customers with no completed order
  (NULL recency / order value). No planted clusters, so honest silhouettes are modest.
"""

from __future__ import annotations

import numpy as np
import polars as pl

# Per planted group: median recency_days, frequency, monetary, login_frequency, engagement_score.
PLANTED_GROUPS = {
    "Inactive": (420.0, 1.5, 60.0, 0.3, 0.05),
    "Low Value": (60.0, 2.0, 45.0, 2.0, 0.25),
    "Medium Value": (25.0, 6.0, 320.0, 5.0, 0.45),
    "High Value": (12.0, 16.0, 1600.0, 10.0, 0.65),
    "Premium": (4.0, 45.0, 9000.0, 22.0, 0.85),
}


def planted_customers(n_rows: int, seed: int = 0, noise: float = 0.12) -> tuple[pl.DataFrame, np.ndarray]:
    """(features, planted group name per row); groups are equal-sized up to rounding."""
    rng = np.random.default_rng(seed)
    names = np.array(list(PLANTED_GROUPS))
    group = rng.permutation(np.arange(n_rows) % len(names))
    centres = np.log(np.array(list(PLANTED_GROUPS.values())))[group]
    values = np.exp(centres + rng.normal(0.0, noise, size=centres.shape))
    frequency = np.maximum(1.0, np.round(values[:, 1]))
    features = pl.DataFrame(
        {
            "customer_id": [f"c{i:07d}" for i in range(n_rows)],
            "recency_days": values[:, 0],
            "frequency": frequency,
            "monetary": values[:, 2],
            "avg_order_value": values[:, 2] / frequency,
            "login_frequency": values[:, 3],
            "engagement_score": np.clip(values[:, 4], 0.0, 1.0),
            "country": rng.choice(["DE", "FR", "US"], size=n_rows),
        }
    )
    return features, names[group]


def realistic_customers(n_rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    engagement = rng.normal(size=n_rows)
    tenure_days = rng.uniform(30, 1500, size=n_rows).round()
    frequency = rng.poisson(np.exp(1.2 + 0.8 * engagement + 0.3 * rng.normal(size=n_rows)) * tenure_days / 700)
    never_ordered = frequency == 0
    avg_order_value = np.exp(3.8 + 0.25 * engagement + 0.55 * rng.normal(size=n_rows))
    monetary = frequency * avg_order_value * np.exp(0.15 * rng.normal(size=n_rows))
    mean_gap = np.clip(tenure_days / np.maximum(frequency, 1), 1, None)
    recency_days = np.minimum(rng.exponential(mean_gap * np.exp(-0.4 * engagement)), tenure_days).round()
    login_frequency = np.exp(0.8 + 0.7 * engagement + 0.6 * rng.normal(size=n_rows))
    engagement_score = 1.0 / (1.0 + np.exp(-(engagement + 0.5 * rng.normal(size=n_rows))))
    return pl.DataFrame(
        {
            "customer_id": pl.int_range(n_rows, eager=True).cast(pl.String).alias("customer_id"),
            "recency_days": pl.Series(recency_days).set(pl.Series(never_ordered), None),
            "frequency": frequency.astype(np.int64),
            "monetary": monetary,
            "avg_order_value": pl.Series(avg_order_value).set(pl.Series(never_ordered), None),
            "tenure_days": tenure_days,
            "login_frequency": login_frequency,
            "engagement_score": engagement_score,
        }
    )
