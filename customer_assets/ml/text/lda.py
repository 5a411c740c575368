"""gensim's LdaModel with its E-step vectorised over a whole chunk of documents.

gensim's `LdaModel.inference` runs the variational updates one document at a time in Python (about
0.5-1 ms per short review here), which alone would exceed the 5-minute budget for 200k reviews. This
subclass keeps gensim's model, online M-step, priors and API, and replaces only `inference` with the
same updates written as sparse-matrix products over all documents of the chunk at once. Documents
stop updating once their mean absolute gamma change falls below `gamma_threshold`, as in gensim.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from gensim.matutils import dirichlet_expectation
from gensim.models import LdaModel


def bows_to_csr(chunk, n_terms: int, dtype=np.float64) -> sp.csr_matrix:
    """gensim bag-of-words documents (lists of (term_id, count)) as a CSR doc x term matrix."""
    chunk = chunk if isinstance(chunk, list) else list(chunk)
    lengths = np.fromiter((len(doc) for doc in chunk), dtype=np.int64, count=len(chunk))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    ids = np.fromiter((term for doc in chunk for term, _ in doc), dtype=np.int64, count=int(indptr[-1]))
    counts = np.fromiter((count for doc in chunk for _, count in doc), dtype=dtype, count=int(indptr[-1]))
    return sp.csr_matrix((counts, ids, indptr), shape=(len(chunk), n_terms))


class VectorizedLdaModel(LdaModel):
    """`gensim.models.LdaModel` whose `inference` processes a chunk with matrix operations."""

    def inference(self, chunk, collect_sstats=False):
        counts = chunk if sp.issparse(chunk) else bows_to_csr(chunk, self.num_terms, self.dtype)
        counts = sp.csr_matrix(counts, dtype=self.dtype)
        n_docs = counts.shape[0]
        rows = np.repeat(np.arange(n_docs), np.diff(counts.indptr))
        cols = counts.indices
        epsilon = np.finfo(self.dtype).eps

        gamma = self.random_state.gamma(100.0, 1.0 / 100.0, (n_docs, self.num_topics)).astype(self.dtype, copy=False)
        exp_e_log_theta = np.exp(dirichlet_expectation(gamma))
        beta_at_terms = self.expElogbeta[:, cols].T  # (nnz, k): each nonzero's topic-word weights

        def phi_norm(theta: np.ndarray) -> np.ndarray:
            return np.einsum("nk,nk->n", theta[rows], beta_at_terms) + epsilon

        norm = phi_norm(exp_e_log_theta)
        active = np.ones(n_docs, dtype=bool)
        for _ in range(self.iterations):
            ratio = sp.csr_matrix((counts.data / norm, counts.indices, counts.indptr), shape=counts.shape)
            new_gamma = self.alpha + exp_e_log_theta * (ratio @ self.expElogbeta.T)
            change = np.abs(new_gamma - gamma).mean(axis=1)
            gamma = np.where(active[:, None], new_gamma, gamma)
            exp_e_log_theta = np.exp(dirichlet_expectation(gamma))
            norm = phi_norm(exp_e_log_theta)
            active &= change >= self.gamma_threshold
            if not active.any():
                break

        sstats = None
        if collect_sstats:
            ratio = sp.csr_matrix((counts.data / norm, counts.indices, counts.indptr), shape=counts.shape)
            sstats = np.asarray((ratio.T @ exp_e_log_theta).T) * self.expElogbeta
        return gamma.astype(self.dtype, copy=False), sstats
