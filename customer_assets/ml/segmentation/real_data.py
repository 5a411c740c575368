"""Customer-like features from the MovieLens ratings file, to try the library on real behaviour.

Stand-in mapping (users -> customers, a day with ratings -> an order, a rating -> an item bought):
recency_days = days from the user's last rating to the as-of date (day after the last rating in the
file); frequency = distinct days with ratings; monetary = number of ratings; avg_order_value =
ratings per active day; tenure_days = days since the first rating; engagement_score = share of
the user's tenure weeks with a rating. Reads a path the caller gives; never downloads.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl


def movielens_customer_features(ratings_csv: str | Path) -> pl.DataFrame:
    path = Path(ratings_csv)
    if not path.is_file():
        raise ValueError(f"ratings file not found: {path}")
    ratings = pl.read_csv(path).with_columns(pl.from_epoch("timestamp", time_unit="s").dt.date().alias("day"))
    as_of = ratings.get_column("day").max() + pl.duration(days=1)
    as_of_date = pl.select(as_of).item()
    return (
        ratings.group_by("userId")
        .agg(
            pl.col("day").max().alias("last_day"),
            pl.col("day").min().alias("first_day"),
            pl.col("day").n_unique().alias("frequency"),
            pl.len().alias("monetary"),
            pl.col("day").dt.truncate("1w").n_unique().alias("active_weeks"),
        )
        .with_columns(
            (pl.lit(as_of_date) - pl.col("last_day")).dt.total_days().cast(pl.Float64).alias("recency_days"),
            (pl.lit(as_of_date) - pl.col("first_day")).dt.total_days().cast(pl.Float64).alias("tenure_days"),
            (pl.col("monetary") / pl.col("frequency")).alias("avg_order_value"),
        )
        .with_columns(
            (pl.col("active_weeks") / (pl.col("tenure_days") / 7).ceil().clip(lower_bound=1))
            .clip(upper_bound=1.0)
            .alias("engagement_score")
        )
        .select(
            pl.col("userId").cast(pl.String).alias("customer_id"),
            "recency_days",
            pl.col("frequency").cast(pl.Float64),
            pl.col("monetary").cast(pl.Float64),
            "avg_order_value",
            "tenure_days",
            "engagement_score",
        )
        .sort("customer_id")
    )
