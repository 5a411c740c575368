"""Business names for clusters, derived from cluster profiles so they survive refits.

Cluster ids are arbitrary (they change with the seed and the algorithm); names are not. The rule
(``NAMING_RULE``) works on each cluster's mean in the transformed feature space:

- value score = mean over the value columns present (monetary, clv_to_date, frequency,
  avg_order_value; if none is present, every feature except recency) of the cluster mean;
- recency score = cluster mean of recency_days (higher = longer since the last order).

1. The cluster with the highest recency score is "Inactive" (if recency_days is not a feature, the
   cluster with the lowest value score is).
2. The other m clusters are ordered by value score, lowest first. For m >= 4 they are spread
   evenly over Low Value, Medium Value, High Value, Premium: the r-th (0-based) gets name index
   round_half_down(r * 3 / (m - 1)), so the lowest is Low Value and the highest Premium. k = 5 gives the five
   names once each; m=5 -> Low, Medium, Medium, High, Premium, and
   larger m share names the same way. With m <= 3 there is no separate top tier, so Premium is not
   used: m=3 -> Low, Medium, High; m=2 -> Low, High; m=1 -> Medium Value.
3. segment_id follows the same order: 0 = Inactive, then 1..m by rising value, so ids are stable
   across refits with the same number of clusters, and tell apart clusters that share a name.
4. DBSCAN noise (cluster -1) is segment_id -1, "Outlier".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .sample_assign import NOISE_LABEL, cluster_centroids
from .transform import RECENCY_COLUMN

INACTIVE = "Inactive"
VALUE_NAMES = ("Low Value", "Medium Value", "High Value", "Premium")
SEGMENT_NAMES = (INACTIVE, *VALUE_NAMES)
OUTLIER_NAME = "Outlier"
OUTLIER_SEGMENT_ID = -1
VALUE_COLUMNS = ("monetary", "clv_to_date", "frequency", "avg_order_value")

NAMING_RULE = (
    "Inactive = cluster with the highest mean (transformed) recency_days (lowest value score if recency is "
    "absent); the other m clusters are sorted by value score (mean of transformed monetary, clv_to_date, "
    "frequency, avg_order_value present) and the r-th lowest (0-based) gets "
    "[Low Value, Medium Value, High Value, Premium][round_half_down(r*3/(m-1))] for m >= 4; m=3 -> Low, "
    "Medium, High; m=2 -> Low, High; m=1 -> Medium Value (Premium needs 4+ value clusters); "
    "segment_id = 0 for Inactive, then 1..m by rising value; DBSCAN noise = -1 'Outlier'"
)


def value_column_positions(columns: list[str]) -> list[int]:
    value = [i for i, c in enumerate(columns) if c in VALUE_COLUMNS]
    return value or [i for i, c in enumerate(columns) if c != RECENCY_COLUMN] or list(range(len(columns)))


def row_value_score(points: np.ndarray, columns: list[str]) -> np.ndarray:
    """Per-row value score in the transformed space (used by the quantile baseline)."""
    return points[:, value_column_positions(columns)].mean(axis=1)


def value_name_index(rank: int, n_ranked: int) -> int:
    if n_ranked <= 3:
        # Too few value tiers for a distinct top tier: Premium is kept for 4+ value clusters.
        return {1: (1,), 2: (0, 2), 3: (0, 1, 2)}[n_ranked][rank]
    position = rank * (len(VALUE_NAMES) - 1) / (n_ranked - 1)
    return int(math.ceil(position - 0.5))


@dataclass
class SegmentNaming:
    """Map from raw cluster labels to (segment_id, segment_name)."""

    cluster_ids: np.ndarray
    segment_ids: np.ndarray
    segment_names: list[str]
    profile_table: list[dict]

    def map(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        position = np.searchsorted(self.cluster_ids, labels)
        position = np.clip(position, 0, len(self.cluster_ids) - 1)
        known = (labels != NOISE_LABEL) & (self.cluster_ids[position] == labels)
        segment_ids = np.where(known, self.segment_ids[position], OUTLIER_SEGMENT_ID)
        names = np.asarray([*self.segment_names, OUTLIER_NAME], dtype=object)
        segment_names = names[np.where(known, position, len(self.segment_names))]
        return segment_ids.astype(np.int64), segment_names

    def names_by_segment_id(self) -> dict[int, str]:
        return {int(s): n for s, n in zip(self.segment_ids, self.segment_names)}


def name_clusters(points: np.ndarray, labels: np.ndarray, columns: list[str]) -> SegmentNaming:
    cluster_ids, centroids = cluster_centroids(points, labels)
    if len(cluster_ids) == 0:
        raise ValueError("no clusters to name: every row is noise")
    value_score = centroids[:, value_column_positions(columns)].mean(axis=1)
    if RECENCY_COLUMN in columns:
        recency_score = centroids[:, columns.index(RECENCY_COLUMN)]
        inactive = int(np.argmax(recency_score))
    else:
        recency_score = np.full(len(cluster_ids), math.nan)
        inactive = int(np.argmin(value_score))
    others = [i for i in np.argsort(value_score, kind="stable") if i != inactive]
    segment_ids = np.empty(len(cluster_ids), dtype=np.int64)
    names: list[str] = [""] * len(cluster_ids)
    segment_ids[inactive], names[inactive] = 0, INACTIVE
    for rank, cluster in enumerate(others):
        segment_ids[cluster] = rank + 1
        names[cluster] = VALUE_NAMES[value_name_index(rank, len(others))]
    table = [
        {
            "cluster_id": int(cluster_ids[i]),
            "segment_id": int(segment_ids[i]),
            "segment_name": names[i],
            "value_score": float(value_score[i]),
            "recency_score": None if math.isnan(recency_score[i]) else float(recency_score[i]),
        }
        for i in np.argsort(segment_ids)
    ]
    return SegmentNaming(cluster_ids, segment_ids, names, table)
