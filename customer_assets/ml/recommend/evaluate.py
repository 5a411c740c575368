"""Time-split evaluation of top-k recommendations, always beside the popularity baseline.

- `time_split(interactions, holdout_days=None, as_of=None, holdout_fraction=0.1)` -> (train, holdout):
  the last days before `as_of` are held out; the model is fitted on train only.
- `evaluate_on_holdout(model, holdout, k=10, groups=None)` -> flat dict of metrics of `model.recommend` on the
  holdout customers the model knows ("warm"), the popularity baseline on the same customers, and the lift.
  A champion and a challenger evaluated on the same holdout are directly comparable.
- `evaluate_recommender(model, holdout, k=10, groups=None)` adds the per-strategy breakdown (collaborative,
  content, hybrid, popular) and the cold-start customers (those only present in the holdout).

Metrics (means over customers with at least one relevant item): precision@k, recall@k (hits / relevant items),
ndcg@k (binary gains), map@k (average precision normalised by min(relevant, k)), and catalog coverage
(distinct recommended items / items in the model's catalogue). Relevant items are the holdout items the
customer had not interacted with in training, because seen items are excluded from recommendations. A model
with an exposure cap is evaluated on the lists all its customers get in one batch, since the cap shares items
out between customers.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import scipy.sparse as sp

from customer_assets.ml.recommend.interactions import validate_interactions
from customer_assets.ml.recommend.topk import stored_in

METRIC_NAMES = ("precision", "recall", "ndcg", "map")


def time_split(
    interactions: pl.DataFrame,
    holdout_days: float | None = None,
    as_of=None,
    holdout_fraction: float = 0.1,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, holdout): holdout = interactions in (as_of - holdout_days, as_of]; train = ts <= cutoff.

    Without holdout_days the cutoff is the ts quantile leaving `holdout_fraction` of interactions held out.
    Interactions after `as_of` are dropped from both parts.
    """
    return split_by_time(validate_interactions(interactions), holdout_days, as_of, holdout_fraction)


def split_by_time(frame: pl.DataFrame, holdout_days=None, as_of=None, holdout_fraction: float = 0.1):
    """time_split on already validated interactions."""
    if "ts" not in frame.columns:
        raise ValueError("time_split needs a 'ts' column in interactions")
    if as_of is not None:
        frame = frame.filter(pl.col("ts") <= pl.lit(as_of).cast(pl.Datetime("us")))
    if holdout_days is not None:
        if holdout_days <= 0:
            raise ValueError("holdout_days must be > 0")
        end = frame["ts"].max() if as_of is None else as_of
        cutoff = pl.Series([end]).cast(pl.Datetime("us"))[0] - timedelta(days=holdout_days)
    else:
        if not 0 < holdout_fraction < 1:
            raise ValueError("holdout_fraction must be in (0, 1)")
        ordered = frame["ts"].sort()
        cutoff = ordered[max(int(np.floor((1 - holdout_fraction) * ordered.len())) - 1, 0)]
    train = frame.filter(pl.col("ts") <= cutoff)
    holdout = frame.filter(pl.col("ts") > cutoff)
    if train.height == 0 or holdout.height == 0:
        raise ValueError(f"time split at {cutoff} leaves train={train.height}, holdout={holdout.height} rows")
    return train, holdout


def per_customer_metrics(
    top_items: np.ndarray, relevant: sp.csr_matrix, n_relevant: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-row precision/recall/ndcg/ap at k = top_items.shape[1]; top_items holds item positions, -1 = none."""
    n_rows, k = top_items.shape
    hits = stored_in(relevant, np.arange(n_rows)[:, None], top_items).astype(np.float64)
    n_relevant = np.maximum(n_relevant.astype(np.float64), 1.0)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k).astype(np.int64) - 1]
    cumulative_hits = np.cumsum(hits, axis=1)
    return {
        "precision": hits.sum(axis=1) / k,
        "recall": hits.sum(axis=1) / n_relevant,
        "ndcg": (hits * discounts).sum(axis=1) / ideal,
        "map": (hits * cumulative_hits / np.arange(1, k + 1)).sum(axis=1) / np.minimum(n_relevant, k),
    }


def summarise(per_customer: dict[str, np.ndarray], top_items: np.ndarray, n_catalog: int, k: int) -> dict:
    shown = np.unique(top_items[top_items >= 0])
    out = {
        f"{name}@{k}": float(np.mean(per_customer[name])) if per_customer[name].size else 0.0 for name in METRIC_NAMES
    }
    out["coverage"] = float(shown.size / max(n_catalog, 1))
    out["n_customers"] = int(top_items.shape[0])
    return out


def _holdout_targets(model, holdout: pl.DataFrame):
    """(customer ids, relevant csr over the model's catalogue, n_relevant) for warm and cold customers."""
    holdout = validate_interactions(holdout, "holdout").select("customer_id", "product_id")
    seen = model.seen_pairs(holdout["customer_id"].unique())
    fresh = holdout.join(seen, on=["customer_id", "product_id"], how="anti")
    customers = fresh["customer_id"].unique().sort()
    known = model.customers.lookup(customers) >= 0
    out = {}
    for label, mask in (("warm", known), ("cold", ~known)):
        ids = customers.filter(pl.Series(mask))
        part = fresh.join(ids.to_frame("customer_id"), on="customer_id")
        rows = pl.DataFrame({"customer_id": ids, "row": np.arange(ids.len())})
        part = part.join(rows, on="customer_id")
        cols = model.items.lookup(part["product_id"])
        row = part["row"].to_numpy()
        n_relevant = np.bincount(row, minlength=ids.len())
        inside = cols >= 0
        relevant = sp.csr_matrix(
            (np.ones(inside.sum(), np.float32), (row[inside], cols[inside])), shape=(ids.len(), len(model.items))
        )
        out[label] = (ids, relevant, n_relevant)
    return out


def _top_items_array(model, recs: pl.DataFrame, ids: pl.Series, k: int) -> np.ndarray:
    rows = pl.DataFrame({"customer_id": ids, "row": np.arange(ids.len())})
    recs = recs.join(rows, on="customer_id")
    top = np.full((ids.len(), k), -1, np.int64)
    top[recs["row"].to_numpy(), recs["rank"].to_numpy() - 1] = model.items.lookup(recs["product_id"])
    return top


def recommend_as_batch(model, ids: pl.Series, k: int, groups=None, strategy=None) -> pl.DataFrame:
    """model.recommend for `ids`, as those customers get them in a batch of every customer the model knows.

    Only differs when the model has an exposure cap, which shares items out over the whole batch: the daily
    lists are made for all customers at once, so a batch of the holdout customers alone would overstate
    precision (nobody else competes for the capped slots).
    """
    if strategy is not None or getattr(model, "exposure", None) is None:
        return model.recommend(ids, k=k, exclude_seen=True, groups=groups, strategy=strategy)
    known = model.customers.ids
    wanted = ids.cast(known.dtype, strict=False)
    recs = model.recommend(
        pl.concat([known, wanted]).unique(maintain_order=True), k=k, exclude_seen=True, groups=groups
    )
    return recs.filter(pl.col("customer_id").is_in(wanted.implode())).with_columns(
        pl.col("customer_id").cast(ids.dtype)
    )


def _metrics_for(model, ids, relevant, n_relevant, k, groups, strategy) -> dict:
    recs = recommend_as_batch(model, ids, k, groups, strategy)
    top = _top_items_array(model, recs, ids, k)
    return summarise(per_customer_metrics(top, relevant, n_relevant), top, len(model.items), k)


def evaluate_on_holdout(model, holdout: pl.DataFrame, k: int = 10, groups=None) -> dict:
    """Model vs popularity on the holdout customers the model knows; same keys as `report["metrics"]`."""
    targets = _holdout_targets(model, holdout)["warm"]
    if targets[0].len() == 0:
        raise ValueError("holdout has no customer known to the model with an unseen item")
    model_metrics = _metrics_for(model, *targets, k, groups, None)  # type: ignore[call-arg]  # targets is (ids, relevant, n)
    popular = _metrics_for(model, *targets, k, groups, "popular")  # type: ignore[call-arg]  # targets is (ids, relevant, n)
    primary = model.report.get("primary_metric", f"ndcg@{k}")
    return {
        "k": k,
        "primary_metric": primary,
        "model": model_metrics,
        "popularity": popular,
        "lift_vs_popularity": {
            name: (model_metrics[name] / popular[name] if popular[name] > 0 else None)
            for name in model_metrics
            if "@" in name or name == "coverage"
        },
    }


def evaluate_recommender(model, holdout: pl.DataFrame, k: int = 10, groups=None) -> dict:
    """evaluate_on_holdout plus each strategy on the same warm customers and the cold-start customers."""
    out = evaluate_on_holdout(model, holdout, k=k, groups=groups)
    targets = _holdout_targets(model, holdout)
    out["strategies"] = {
        strategy: _metrics_for(model, *targets["warm"], k, groups, strategy)  # type: ignore[call-arg]  # targets is (ids, relevant, n)
        for strategy in model.available_strategies()
    }
    if targets["cold"][0].len():
        out["cold_customers"] = _metrics_for(model, *targets["cold"], k, groups, None)  # type: ignore[call-arg]  # targets is (ids, relevant, n)
    return out
