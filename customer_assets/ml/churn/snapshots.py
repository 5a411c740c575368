"""Point-in-time churn snapshots from a raw transaction log (one row per purchase).

For every cutoff, features use only transactions dated strictly before it; the label is 1 when the
customer makes no purchase in [cutoff, cutoff + window). Only customers with a purchase before the cutoff
get a row. Features (days, distinct purchase days as "orders"):

- recency_days, frequency (purchase days), tenure_days (since the first purchase), monetary,
  avg_order_value, quantity (when a quantity column is given)
- orders_30d / orders_90d / orders_180d and spend_90d: activity in recent windows
- ipt_mean_days, ipt_std_days, ipt_last_days: inter-purchase-time statistics (null for one-time buyers),
  recency_over_ipt: days since the last purchase in units of the customer's usual gap
- bgnbd_expected_purchases, bgnbd_p_alive (``bgnbd=True``): a BG/NBD model fitted, without labels, on
  the cutoff's own (x, t_x, T), so nothing after the cutoff is used

The same columns as the pipeline's mart where they overlap (recency_days, frequency, tenure_days,
monetary, avg_order_value, orders_90d), so ``train_churn_model`` finds its frequency / recency baselines.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from customer_assets.ml.value.bgnbd import BgNbd

RECENT_WINDOWS_DAYS = (30, 90, 180)


def _purchase_days(transactions, customer, date, amount, quantity) -> pl.DataFrame:
    aggregations = [pl.col(amount).sum().alias("amount")]
    if quantity:
        aggregations.append(pl.col(quantity).sum().alias("quantity"))
    return transactions.group_by(customer, date).agg(aggregations).rename({customer: "customer_id", date: "day"})


def _features_at(days: pl.DataFrame, cutoff: dt.date, quantity: bool) -> pl.DataFrame:
    before = days.filter(pl.col("day") < cutoff).sort("customer_id", "day")
    age = (pl.lit(cutoff) - pl.col("day")).dt.total_days()
    gap = pl.col("day").diff().over("customer_id").dt.total_days()
    before = before.with_columns(age.alias("age_days"), gap.alias("gap_days"))
    aggregations = [
        pl.col("age_days").min().alias("recency_days"),
        pl.len().alias("frequency"),
        pl.col("age_days").max().alias("tenure_days"),
        pl.col("amount").sum().alias("monetary"),
        *[(pl.col("age_days") <= w).sum().alias(f"orders_{w}d") for w in RECENT_WINDOWS_DAYS],
        pl.col("amount").filter(pl.col("age_days") <= 90).sum().alias("spend_90d"),
        pl.col("gap_days").mean().alias("ipt_mean_days"),
        pl.col("gap_days").std().alias("ipt_std_days"),
        pl.col("gap_days").last().alias("ipt_last_days"),
    ]
    if quantity:
        aggregations.append(pl.col("quantity").sum().alias("quantity"))
    features = before.group_by("customer_id").agg(aggregations)
    return features.with_columns(
        pl.lit(cutoff).alias("cutoff_date"),
        (pl.col("monetary") / pl.col("frequency")).alias("avg_order_value"),
        (pl.col("recency_days") / pl.col("ipt_mean_days")).alias("recency_over_ipt"),
    )


def _with_bgnbd(features: pl.DataFrame, horizon_days: int) -> pl.DataFrame:
    x = (features["frequency"] - 1).to_numpy()
    t_x = (features["tenure_days"] - features["recency_days"]).to_numpy()
    T = features["tenure_days"].to_numpy()
    model = BgNbd().fit(x, t_x, T)
    return features.with_columns(
        pl.Series("bgnbd_expected_purchases", model.expected_purchases(horizon_days, x, t_x, T)),
        pl.Series("bgnbd_p_alive", model.p_alive(x, t_x, T)),
    )


def transaction_snapshots(
    transactions: pl.DataFrame,
    cutoffs: list[dt.date],
    customer: str = "customer_id",
    date: str = "date",
    amount: str = "amount",
    quantity: str | None = None,
    label_window_days: int = 90,
    bgnbd: bool = True,
) -> pl.DataFrame:
    """One row per (customer with a purchase before the cutoff, cutoff): features and ``churned`` (0/1)."""
    days = _purchase_days(transactions, customer, date, amount, quantity)
    last_day = days["day"].max()
    frames = []
    for cutoff in cutoffs:  # a handful of cutoffs; each is one vectorised group-by
        if cutoff + dt.timedelta(days=label_window_days) > last_day + dt.timedelta(days=1):
            raise ValueError(
                f"cutoff {cutoff}: its {label_window_days}-day label window passes the data's end {last_day}"
            )
        features = _features_at(days, cutoff, quantity is not None)
        if bgnbd:
            features = _with_bgnbd(features, label_window_days)
        window_end = cutoff + dt.timedelta(days=label_window_days)
        buyers = days.filter((pl.col("day") >= cutoff) & (pl.col("day") < window_end)).select("customer_id").unique()
        labelled = features.join(buyers.with_columns(pl.lit(0).alias("churned")), on="customer_id", how="left")
        frames.append(labelled.with_columns(pl.col("churned").fill_null(1).cast(pl.Int8)))
    return pl.concat(frames, how="vertical").sort("cutoff_date", "customer_id")


def read_cdnow(path) -> pl.DataFrame:
    """CDNOW_master.txt (header line, whitespace-separated): customer_id, date, quantity, amount."""
    text = path.read_text().replace("\r", "").splitlines()[1:]
    rows = pl.DataFrame({"line": text}).with_columns(
        pl.col("line").str.strip_chars().str.replace_all(r"\s+", " ").str.split(" ").alias("parts")
    )
    return rows.select(
        pl.col("parts").list.get(0).alias("customer_id"),
        pl.col("parts").list.get(1).str.to_date("%Y%m%d").alias("date"),
        pl.col("parts").list.get(2).cast(pl.Int64).alias("quantity"),
        pl.col("parts").list.get(3).cast(pl.Float64).alias("amount"),
    )
