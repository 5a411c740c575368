"""2-D views for plotting: PCA for every row (linear, cheap), t-SNE for a sample (quadratic-ish)."""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from .sample_assign import draw_sample_indices


def pca_2d(points: np.ndarray, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    pca = PCA(n_components=2, random_state=seed).fit(points)
    return pca.transform(points), [float(v) for v in pca.explained_variance_ratio_]


def tsne_2d(points: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    perplexity = min(perplexity, max(1.0, (len(points) - 1) / 3))
    # Barnes-Hut t-SNE's OpenMP loops are short; on a busy 2-core machine their spin-waits made a
    # 150-row fit take 25 s with 2 threads versus 1.8 s with one.
    with threadpool_limits(limits=1, user_api="openmp"):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)


def embedding_frame(
    ids: pl.Series,
    points: np.ndarray,
    segment_ids: np.ndarray,
    segment_names: np.ndarray,
    tsne_sample_size: int = 2_000,
    seed: int = 0,
) -> tuple[pl.DataFrame, dict]:
    """Rows: id, segment_id, segment_name, pca_x, pca_y, tsne_x, tsne_y (null outside the t-SNE sample)."""
    pca_coords, explained = pca_2d(points, seed)
    tsne_x = np.full(len(points), np.nan)
    tsne_y = np.full(len(points), np.nan)
    tsne_rows = np.arange(0)
    if tsne_sample_size > 0 and len(points) >= 5:
        tsne_rows = draw_sample_indices(len(points), tsne_sample_size, np.random.default_rng(seed))
        tsne_coords = tsne_2d(points[tsne_rows], seed)
        tsne_x[tsne_rows], tsne_y[tsne_rows] = tsne_coords[:, 0], tsne_coords[:, 1]
    frame = pl.DataFrame(
        {
            ids.name: ids,
            "segment_id": pl.Series(segment_ids, dtype=pl.Int32),
            "segment_name": pl.Series(segment_names.tolist(), dtype=pl.String),
            "pca_x": pca_coords[:, 0],
            "pca_y": pca_coords[:, 1],
            "tsne_x": tsne_x,
            "tsne_y": tsne_y,
        }
    ).with_columns(pl.col("tsne_x", "tsne_y").fill_nan(None))
    return frame, {"pca_explained_variance_ratio": explained, "tsne_rows": int(len(tsne_rows))}
