"""The deployable part of a segmentation: fitted transform + chosen clusterer + naming. Picklable.

This is the object to register (scaler and model together); ``SegmentationResult`` wraps it with the
labels, report and profiles of one fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .algorithms import CentroidModel, CoreSampleModel
from .baseline import QuantileBaseline
from .naming import SegmentNaming, name_clusters
from .repair import RepairedClusterer
from .transform import FittedTransform


@dataclass
class SegmentModel:
    transform: FittedTransform
    clusterer: CentroidModel | CoreSampleModel | RepairedClusterer | QuantileBaseline
    naming: SegmentNaming
    id_column: str = "customer_id"
    # The quantile baseline learnt on the same fit rows, so a holdout scores both with fit-time edges.
    # None in models pickled before it existed (evaluate_on_holdout then learns it on the holdout).
    baseline: QuantileBaseline | None = None

    @property
    def algorithm(self) -> str:
        return self.clusterer.algorithm

    @property
    def feature_columns(self) -> list[str]:
        return list(self.transform.columns)

    def cluster_points(self, points: np.ndarray) -> np.ndarray:
        """Raw cluster labels for already-transformed rows."""
        return self.clusterer.predict(points)

    def assign_points(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(segment_id, segment_name) for already-transformed rows."""
        return self.naming.map(self.cluster_points(points))

    def assign(self, features: pl.DataFrame, id_column: str | None = None) -> pl.DataFrame:
        """Labels for any customers (seen or not) through the fitted transform and chosen model."""
        id_column = id_column or self.id_column
        if id_column not in features.columns:
            raise ValueError(f"id column {id_column!r} not in the frame")
        if features.height == 0:
            raise ValueError("no rows to assign")
        segment_ids, segment_names = self.assign_points(self.transform.transform(features))
        return labels_frame(features.get_column(id_column), segment_ids, segment_names)

    def predict(self, features: pl.DataFrame) -> pl.DataFrame:
        """The MLflow pyfunc entry point (the registry's wrapper calls ``predict``): same as ``assign``."""
        return self.assign(features)

    @property
    def is_baseline(self) -> bool:
        return isinstance(self.clusterer, QuantileBaseline)

    def as_baseline(self, fit_features: pl.DataFrame) -> "SegmentModel":
        """The same transform with the quantile baseline as its clusterer, its groups named by the same rule
        on the fit rows: what serves when the clustering does not beat the baseline."""
        if self.baseline is None:
            raise ValueError("this model was fitted without a quantile baseline")
        points = self.transform.transform(fit_features)
        naming = name_clusters(points, self.baseline.predict(points), self.feature_columns)
        return SegmentModel(self.transform, self.baseline, naming, self.id_column, self.baseline)


def labels_frame(ids: pl.Series, segment_ids: np.ndarray, segment_names: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            ids.name: ids,
            "segment_id": pl.Series("segment_id", segment_ids, dtype=pl.Int32),
            "segment_name": pl.Series("segment_name", segment_names.tolist(), dtype=pl.String),
        }
    )
