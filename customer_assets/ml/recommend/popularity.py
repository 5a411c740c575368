"""Popularity: the baseline every model is reported beside, and the cold-start list for new customers.

Popularity is the number of distinct customers who interacted with an item (not summed weight, so one bulk
buyer cannot make an item "popular"). Per-group popularity (country, segment) is shrunk towards the global
ranking so that a group with a handful of customers still gets a sensible list.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from customer_assets.ml.recommend.interactions import IdIndex


def item_popularity(matrix: sp.csr_matrix) -> np.ndarray:
    """Distinct customers per item (float32)."""
    return np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float32)


def normalised_popularity(popularity: np.ndarray) -> np.ndarray:
    peak = popularity.max() if popularity.size else 0.0
    return (popularity / peak).astype(np.float32) if peak > 0 else np.zeros_like(popularity, np.float32)


def groups_frame(groups: pl.DataFrame | dict | None) -> pl.DataFrame | None:
    """Normalise a customer -> group mapping (DataFrame customer_id, group; or a dict) to a DataFrame."""
    if groups is None:
        return None
    if isinstance(groups, dict):
        groups = pl.DataFrame({"customer_id": list(groups.keys()), "group": list(groups.values())})
    if not isinstance(groups, pl.DataFrame):
        raise ValueError("groups must be a polars DataFrame (customer_id, group) or a dict customer -> group")
    missing = [c for c in ("customer_id", "group") if c not in groups.columns]
    if missing:
        raise ValueError(f"groups is missing column(s) {missing}; it has {groups.columns}")
    return groups.select("customer_id", pl.col("group").cast(pl.String)).unique("customer_id", keep="last")


def group_popularity(
    matrix: sp.csr_matrix,
    customers: IdIndex,
    groups: pl.DataFrame,
    global_popularity: np.ndarray,
    prior_customers: float = 20.0,
) -> tuple[list[str], np.ndarray]:
    """(group names, groups x items scores): in-group share blended with the global share.

    score = (in_group_count + prior * global_share) / (group_size + prior): a group with far more than
    `prior_customers` customers ranks by its own taste, a tiny one mostly by the global list.
    """
    positions = customers.lookup(groups["customer_id"])
    known = positions >= 0
    names = sorted(groups["group"].unique().drop_nulls().to_list())
    if not names:
        return [], np.zeros((0, matrix.shape[1]), np.float32)
    group_of = (
        pl.Series(groups["group"].to_numpy()[known])
        .to_frame("group")
        .join(
            pl.DataFrame({"group": names, "gid": np.arange(len(names))}), on="group", how="left", maintain_order="left"
        )["gid"]
        .to_numpy()
    )
    membership = sp.csr_matrix(
        (np.ones(known.sum(), np.float32), (group_of, positions[known])), shape=(len(names), matrix.shape[0])
    )
    bought = matrix.copy()
    bought.data = np.ones_like(bought.data)
    counts = np.asarray((membership @ bought).todense(), dtype=np.float32)
    sizes = np.asarray(membership.sum(axis=1), dtype=np.float32)
    share = global_popularity / max(float(matrix.shape[0]), 1.0)
    scores = (counts + prior_customers * share[None, :]) / (sizes + prior_customers)
    return names, scores.astype(np.float32)
