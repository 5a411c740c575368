"""Blending collaborative, content and popularity scores, with weights chosen on validation data.

Each signal is scaled to a row maximum of 1 before blending so that the weights are comparable across
customers. Items with no interactions (new products) have no collaborative score; they are scored by content
similarity with weight max(content, new_product_weight) so they can reach customers even when the
validation data sets the content weight to 0. new_product_weight=1.0 puts a new product's content score on
the same scale as an established product's collaborative score (a new product as similar to a customer's
history as their best collaborative match competes for the top slots); fit_recommender picks the largest
weight that does not cost validation accuracy, because products without interactions are often not new but
unpopular (MovieLens: ~1k never-rated titles flooded the lists at weight 1.0).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from customer_assets.ml.recommend.topk import row_max_normalise

TIE_BREAK = 1e-4  # popularity nudge so zero-score items are ordered by popularity, not by index


@dataclass(frozen=True)
class BlendWeights:
    collaborative: float = 1.0
    content: float = 0.0
    popularity: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def blend(
    weights: BlendWeights,
    collaborative: np.ndarray | sp.csr_matrix | None,
    content: np.ndarray | sp.csr_matrix | None,
    popularity: np.ndarray,
    new_items: np.ndarray,
    new_product_weight: float,
) -> np.ndarray:
    """Blended dense (n, n_items) float32 scores from row-max normalised components (dense or CSR).

    Sparse components are summed sparsely and densified once: at 20k items every full pass over a dense
    block costs more than the sparse arithmetic.
    """
    present = [c for c in (collaborative, content) if c is not None]
    if not present:
        raise ValueError("blend needs a collaborative or a content block")
    n_rows = present[0].shape[0]
    dense = None
    sparse_total = None

    def add(block, column_weights):
        nonlocal dense, sparse_total
        if sp.issparse(block):
            scaled = block @ sp.diags(column_weights) if np.ndim(column_weights) else block * column_weights
            sparse_total = scaled if sparse_total is None else sparse_total + scaled
        else:
            scaled = block * (column_weights[None, :] if np.ndim(column_weights) else column_weights)
            dense = scaled if dense is None else dense + scaled

    if collaborative is not None and weights.collaborative > 0:
        add(collaborative, np.float32(weights.collaborative))
    if content is not None:
        extra = max(weights.content, new_product_weight) - weights.content
        if extra > 0 and new_items.size:
            column_weights = np.full(popularity.size, weights.content, np.float32)
            column_weights[new_items] += extra
            add(content, column_weights)
        elif weights.content > 0:
            add(content, np.float32(weights.content))
    if dense is None:
        dense = np.zeros((n_rows, popularity.size), np.float32)
    if sparse_total is not None:
        total = sparse_total.tocsr()  # products and sums of CSR have no duplicate entries
        rows = np.repeat(np.arange(n_rows), np.diff(total.indptr))
        dense[rows, total.indices] += total.data
    dense += (weights.popularity + TIE_BREAK) * popularity[None, :]
    return dense.astype(np.float32, copy=False)


def normalised(block):
    return None if block is None else row_max_normalise(block)


def weight_grid(has_collaborative: bool, has_content: bool, popularities=None) -> list[BlendWeights]:
    contents = (0.0, 0.1, 0.3) if has_content else (0.0,)
    popularities = tuple(popularities) if popularities is not None else (0.0, 0.1, 0.2)
    if not has_collaborative:
        return [BlendWeights(0.0, 1.0 if has_content else 0.0, p) for p in popularities]
    # (1, 0, 0) must stay in the grid: report["strategies"]["collaborative"] is read from it.
    return [BlendWeights(1.0, c, p) for c, p in itertools.product(contents, popularities)]
