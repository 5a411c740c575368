"""What ``segment_customers`` returns: labels, report, profiles, the deployable model, embeddings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from .embedding import embedding_frame
from .model import SegmentModel
from .profiles import segment_profiles


@dataclass
class SegmentationResult:
    labels: pl.DataFrame
    report: dict
    model: SegmentModel
    profile_table: pl.DataFrame
    # Transformed rows of the fit call, kept for embedding(); dropped when pickled (64 MB per 1M rows).
    _points: np.ndarray | None = field(default=None, repr=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_points"] = None
        return state

    def assign(self, new_features: pl.DataFrame) -> pl.DataFrame:
        """Labels (id, segment_id, segment_name) for customers not seen in the fit."""
        return self.model.assign(new_features)

    def profiles(self, features: pl.DataFrame | None = None) -> pl.DataFrame:
        """Per segment: size, share, mean/median of each feature. Recomputed when ``features`` is given."""
        if features is None:
            return self.profile_table
        labels = self.model.assign(features)
        return segment_profiles(features, labels, self.model.feature_columns, self.model.id_column)

    def embedding(
        self, features: pl.DataFrame | None = None, tsne_sample_size: int = 2_000, seed: int = 0
    ) -> pl.DataFrame:
        """PCA 2-D for every row, t-SNE 2-D for a sample (tsne_x/tsne_y null elsewhere).

        Without ``features`` it embeds the customers of the fit call (not available after unpickling).
        """
        if features is None:
            if self._points is None:
                raise ValueError("the fitted rows are not kept after pickling; pass features to embed")
            points, labels = self._points, self.labels
        else:
            points = self.model.transform.transform(features)
            labels = self.model.assign(features)
        frame, _ = embedding_frame(
            labels.get_column(self.model.id_column),
            points,
            labels.get_column("segment_id").to_numpy(),
            labels.get_column("segment_name").to_numpy(),
            tsne_sample_size=tsne_sample_size,
            seed=seed,
        )
        return frame
