"""The read side of the published online snapshot: one version folder parsed into lookup tables.

`customer_assets.serving.snapshot` publishes and reads the Parquet files; `load_snapshot` turns one version into
a `SnapshotData` the service answers from (features by customer, published recommendations and similar products
per key in rank order, each customer's purchases, value rows and the ranked retention worklist).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from customer_assets.serving import snapshot as snapshots

ID = "customer_id"
HIGH_RISK_CUT = 0.5


@dataclass(frozen=True)
class SnapshotData:
    version: str
    manifest: dict
    features: pl.DataFrame
    rows: dict[str, int]
    countries: dict[str, str | None]
    recommendations: dict[str, list[tuple[str, float]]]
    recommendations_version: int | None
    recommendations_depth: int
    recommendation_strategies: dict[str, str]
    similar: dict[str, list[tuple[str, float]]]
    similar_version: int | None
    similar_depth: int
    purchases: dict[str, frozenset[str]]
    churn_rate: float | None
    created_at: dt.datetime | None
    value: pl.DataFrame | None = None  # marts.customer_value (customer_assets.serving.value reads it)
    value_index: dict[str, int] = field(default_factory=dict)
    targets: pl.DataFrame | None = None  # marts.retention_targets, ranked

    @property
    def as_of(self) -> str:
        return self.manifest.get("as_of")

    def age_seconds(self, now: dt.datetime | None = None) -> float | None:
        if self.created_at is None:
            return None
        return ((now or dt.datetime.now(dt.timezone.utc)) - self.created_at).total_seconds()


def grouped(frame: pl.DataFrame | None, key: str, item: str) -> dict[str, list[tuple[str, float]]]:
    """key -> [(item, score), ...] in rank order (frame: key, rank, item, score)."""
    if frame is None or frame.is_empty():
        return {}
    ordered = frame.sort(key, "rank")
    out: dict[str, list[tuple[str, float]]] = {}
    for k, i, s in zip(
        ordered[key].cast(pl.String).to_list(),
        ordered[item].cast(pl.String).to_list(),
        ordered["score"].cast(pl.Float64).to_list(),
    ):
        out.setdefault(k, []).append((i, s))
    return out


def _single_version(frame: pl.DataFrame | None) -> int | None:
    if frame is None or "model_version" not in frame.columns:
        return None
    versions = frame["model_version"].drop_nulls().unique().to_list()
    return int(versions[0]) if len(versions) == 1 else None


def _min_depth(frame: pl.DataFrame | None, key: str) -> int:
    return int(frame.group_by(key).len()["len"].min()) if frame is not None and frame.height else 0


def load_snapshot(online_dir: Path, version: str | None = None) -> SnapshotData:
    version, manifest, frames = snapshots.read_snapshot(online_dir, version)
    features = frames["features"].with_columns(pl.col(ID).cast(pl.String))
    recs = frames.get("recommendations")
    similar = frames.get("similar_products")
    purchases: dict[str, set] = {}
    if "purchases" in frames:
        for cid, pid in (
            frames["purchases"].select(pl.col(ID).cast(pl.String), pl.col("product_id").cast(pl.String)).iter_rows()
        ):
            purchases.setdefault(cid, set()).add(pid)
    scores = frames.get("churn_scores")
    churn_rate = (
        float((scores["churn_probability"] >= HIGH_RISK_CUT).mean()) if scores is not None and scores.height else None
    )
    created = manifest.get("created_at")
    strategies = {}
    if recs is not None and "strategy" in recs.columns and recs.height:
        strategies = dict(
            recs.group_by(ID).agg(pl.col("strategy").first()).select(pl.col(ID).cast(pl.String), "strategy").iter_rows()
        )
    return SnapshotData(
        version=version,
        manifest=manifest,
        features=features,
        rows={name: frame.height for name, frame in frames.items()},
        countries=(
            dict(features.select(ID, pl.col("country").cast(pl.String)).iter_rows())
            if "country" in features.columns
            else {}
        ),
        recommendations=grouped(recs, ID, "product_id"),
        recommendations_version=_single_version(recs),
        recommendations_depth=_min_depth(recs, ID),
        recommendation_strategies=strategies,
        similar=grouped(similar, "product_id", "similar_product_id"),
        similar_version=_single_version(similar),
        similar_depth=_min_depth(similar, "product_id"),
        purchases={k: frozenset(v) for k, v in purchases.items()},
        churn_rate=churn_rate,
        created_at=dt.datetime.fromisoformat(created) if created else None,
        value=frames.get("customer_value"),
        value_index=(
            {cid: i for i, cid in enumerate(frames["customer_value"][ID].cast(pl.String).to_list())}
            if "customer_value" in frames
            else {}
        ),
        targets=frames["retention_targets"].sort("rank") if "retention_targets" in frames else None,
    )
