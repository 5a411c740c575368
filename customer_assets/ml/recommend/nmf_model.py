"""Non-negative matrix factorisation (scikit-learn) on the implicit matrix: the baseline users know."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import NMF


class NMFRecommender:
    name = "nmf"

    def __init__(self, n_components: int = 32, max_iter: int = 150, l1_ratio: float = 0.0, alpha: float = 0.0):
        self.n_components = n_components
        self.max_iter = max_iter
        self.l1_ratio = l1_ratio
        self.alpha = alpha

    def fit(self, matrix: sp.csr_matrix, seed: int = 0) -> NMFRecommender:
        n_components = max(1, min(self.n_components, min(matrix.shape) - 1))
        binary = matrix.copy()
        binary.data = np.ones_like(binary.data)  # weights of a few heavy buyers would otherwise dominate
        model = NMF(
            n_components=n_components,
            init="nndsvda",
            max_iter=self.max_iter,
            random_state=seed,
            alpha_W=self.alpha,
            l1_ratio=self.l1_ratio,
        )
        self.user_factors = model.fit_transform(binary).astype(np.float32)
        self.item_factors = model.components_.astype(np.float32)
        return self

    def score(self, user_rows: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.user_factors[user_rows] @ self.item_factors
