"""TF-IDF features for reviews: word 1-2 grams (stemmed, negation-marked) plus character n-grams.

Same idea as two scikit-learn TfidfVectorizers in a FeatureUnion (smooth idf, sublinear tf, each block
L2-normalised), but built from Polars token frames and sparse products so it transforms a million
reviews in well under a minute: scikit-learn's character analyzer is a Python loop per document
(~280 s per million reviews here). Character n-grams are taken inside tokens padded with spaces
(like ``analyzer="char_wb"``): the doc x char matrix is (doc x token counts) @ (token x char n-grams),
so only the *distinct* tokens of a batch are ever cut into n-grams in Python.

`word_bigrams` and `char_ngram_range` (None = no character block) are chosen by validation in training;
`column_groups` lets that search emulate narrower settings as column subsets of one wide fit (same df and
idf; `renormalised_view` redoes the per-block L2 norm). `column_scales_` multiplies every column by a
fitted weight at transform time (NB-SVM's log-count ratios when the search picks them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
import scipy.sparse as sp

from .preprocess import (
    EXPRESSIVE_PUNCTUATION,
    NEGATION_PREFIX,
    SCOPE_PUNCTUATION,
    SnowballStems,
    dense_codes,
    language_resources,
    mark_negation,
    token_frame,
)

_DROPPED_PUNCTUATION = [p for p in SCOPE_PUNCTUATION if p not in EXPRESSIVE_PUNCTUATION]


def _counts_matrix(pairs: pl.DataFrame, n_docs: int, n_cols: int) -> sp.csr_matrix:
    """CSR doc x column counts from a frame of (doc, col) rows, one row per occurrence (scipy sums
    the duplicates while converting)."""
    ones = np.ones(pairs.height, dtype=np.float64)
    rows, cols = pairs["doc"].to_numpy(), pairs["col"].to_numpy()
    matrix = sp.csr_matrix((ones, (rows, cols)), shape=(n_docs, n_cols))
    matrix.sum_duplicates()
    return matrix


def _tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf times idf, rows L2-normalised. Overwrites `counts` (a temporary we own): fresh
    allocations of tens of millions of floats cost more than the arithmetic on this machine."""
    weighted = counts
    np.log(weighted.data, out=weighted.data)
    weighted.data += 1.0
    weighted.data *= idf[weighted.indices]
    row_lengths = np.diff(weighted.indptr)
    squared = np.concatenate([[0.0], np.cumsum(weighted.data**2)])
    norms = np.sqrt(squared[weighted.indptr[1:]] - squared[weighted.indptr[:-1]])
    norms[norms == 0] = 1.0
    weighted.data /= np.repeat(norms, row_lengths)
    return weighted


def scale_columns(matrix: sp.csr_matrix, scales: np.ndarray) -> sp.csr_matrix:
    """matrix @ diag(scales) in place on the stored values (no sparse product, no copy of the indices)."""
    matrix.data *= scales[matrix.indices]
    return matrix


def renormalised_view(matrix: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """The columns in boolean `keep`, each row L2-normalised again (what a vectorizer fitted with only
    those n-grams would give, as df and idf do not depend on the other columns)."""
    view = sp.csr_matrix(matrix[:, np.flatnonzero(keep)])
    norms = np.sqrt(np.asarray(view.multiply(view).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    view.data /= np.repeat(norms, np.diff(view.indptr))
    return view


def _select_vocabulary(doc_freq: np.ndarray, min_df: int, max_features: int) -> np.ndarray:
    """Column indices kept: df >= min_df, the `max_features` most frequent (ties by index: deterministic)."""
    eligible = np.flatnonzero(doc_freq >= min_df)
    order = np.lexsort((eligible, -doc_freq[eligible]))
    return np.sort(eligible[order[:max_features]])


@dataclass
class ReviewVectorizer:
    """Fit on training texts (already passed through `clean_texts`), transform any texts to CSR."""

    language: str = "english"
    char_ngram_range: tuple[int, int] | None = (2, 5)
    word_bigrams: bool = True
    word_min_df: int = 2
    char_min_df: int = 3
    max_word_features: int = 300_000
    max_char_features: int = 300_000
    batch_size: int = 100_000
    stem_index_: dict[str, int] = field(default_factory=dict, repr=False)
    word_keys_: np.ndarray | None = field(default=None, repr=False)
    char_vocabulary_: dict[str, int] = field(default_factory=dict, repr=False)
    word_idf_: np.ndarray | None = field(default=None, repr=False)
    char_idf_: np.ndarray | None = field(default=None, repr=False)
    column_scales_: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._resources = language_resources(self.language)
        self._stems = SnowballStems(self.language)
        if self.char_ngram_range is None:
            return
        low, high = self.char_ngram_range
        if not 1 <= low <= high:
            raise ValueError(f"char_ngram_range must satisfy 1 <= low <= high, got {self.char_ngram_range}")

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_resources", "_stems")}

    def __setstate__(self, state: dict) -> None:
        state.setdefault("word_bigrams", True)  # models pickled before these settings existed
        state.setdefault("column_scales_", None)
        self.__dict__.update(state)
        self.__post_init__()

    def column_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """(is_bigram per word column, n-gram length per char column, padding spaces included)."""
        n_terms = 2 * len(self.stem_index_)
        grams = sorted(self.char_vocabulary_, key=self.char_vocabulary_.get)
        return self.word_keys_ >= n_terms, np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))

    @property
    def n_features(self) -> int:
        return self.n_word_features + len(self.char_vocabulary_)

    @property
    def n_word_features(self) -> int:
        return 0 if self.word_keys_ is None else len(self.word_keys_)

    def word_feature_names(self) -> list[str]:
        """Readable word features ("neg_good", "fast deliveri"), in column order (for inspection)."""
        stems = sorted(self.stem_index_, key=self.stem_index_.get)
        n_terms = 2 * len(stems)

        def term(key: int) -> str:
            return (NEGATION_PREFIX if key % 2 else "") + stems[key // 2]

        return [
            term(k) if k < n_terms else f"{term(k // n_terms - 1)} {term(k % n_terms)}"
            for k in self.word_keys_.tolist()
        ]

    # -- token level -------------------------------------------------------------------------------
    def _word_keys(self, tokens: pl.DataFrame, stem_index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
        """(doc, key) arrays of word features as integers, so no per-row string is ever built.

        A unigram key is 2 * stem id + negated; a bigram key is (left + 1) * n_terms + right, which
        never collides with a unigram (< n_terms). Bigrams do not straddle punctuation; tokens whose
        stem is not in `stem_index` produce no feature.
        """
        marked = mark_negation(tokens, self._resources)
        distinct, codes = dense_codes(marked["token"])
        stems = self._stems.stem_words(distinct.to_list())
        stem_of_distinct = np.fromiter((stem_index.get(stem, -1) for stem in stems), dtype=np.int64, count=len(stems))
        stem_ids = stem_of_distinct[codes.to_numpy()]
        docs = marked["doc"].to_numpy().astype(np.int64)
        token = marked["token"]
        punctuation = token.is_in(list(SCOPE_PUNCTUATION)).to_numpy()
        dropped = token.is_in(_DROPPED_PUNCTUATION).to_numpy()
        known = stem_ids >= 0
        unigram = 2 * stem_ids + marked["negated"].to_numpy()
        n_terms = 2 * len(stem_index)
        keep_unigram = known & ~dropped
        pair_ok = known[:-1] & known[1:] & ~punctuation[:-1] & ~punctuation[1:] & (docs[:-1] == docs[1:])
        pair_ok &= self.word_bigrams
        bigram = (unigram[:-1][pair_ok] + 1) * n_terms + unigram[1:][pair_ok]
        doc_keys = np.concatenate([docs[keep_unigram], docs[:-1][pair_ok]])
        keys = np.concatenate([unigram[keep_unigram], bigram])
        return doc_keys, keys

    @staticmethod
    def _char_tokens(tokens: pl.DataFrame) -> pl.DataFrame:
        return tokens.filter(~pl.col("token").is_in(list(SCOPE_PUNCTUATION))).select("doc", "token")

    def _char_ngrams(self, word: str) -> list[str]:
        padded = f" {word} "
        low, high = self.char_ngram_range
        return [
            padded[start : start + n] for n in range(low, high + 1) for start in range(0, max(len(padded) - n + 1, 1))
        ]

    def _token_char_matrix(self, words: list[str], vocabulary: dict[str, int]) -> sp.csr_matrix:
        rows, cols = [], []
        for row, word in enumerate(words):
            for gram in self._char_ngrams(word):
                col = vocabulary.get(gram)
                if col is not None:
                    rows.append(row)
                    cols.append(col)
        data = np.ones(len(rows), dtype=np.float64)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(words), len(vocabulary)))

    def _doc_char_counts(self, tokens: pl.DataFrame, n_docs: int, vocabulary: dict[str, int]) -> sp.csr_matrix:
        char_tokens = self._char_tokens(tokens)
        distinct, codes = dense_codes(char_tokens["token"])
        pairs = pl.DataFrame({"doc": char_tokens["doc"], "col": codes})
        doc_token = _counts_matrix(pairs, n_docs, len(distinct))
        return sp.csr_matrix(doc_token @ self._token_char_matrix(distinct.to_list(), vocabulary))

    # -- fit / transform ---------------------------------------------------------------------------
    def fit(self, cleaned: pl.Series) -> "ReviewVectorizer":
        n_docs = len(cleaned)
        if n_docs == 0:
            raise ValueError("cannot fit the vectorizer on zero texts")
        tokens = token_frame(cleaned)

        distinct_tokens = tokens.filter(~pl.col("token").is_in(_DROPPED_PUNCTUATION))["token"].unique().to_list()
        all_stems = sorted(set(self._stems.stem_words(distinct_tokens)))
        self.stem_index_ = {stem: i for i, stem in enumerate(all_stems)}
        docs, keys = self._word_keys(tokens, self.stem_index_)
        span = int(keys.max()) + 1 if len(keys) else 1
        distinct_pairs = np.unique(docs * span + keys)
        feature_keys, doc_freq = np.unique(distinct_pairs % span, return_counts=True)
        keep = _select_vocabulary(doc_freq, self.word_min_df, self.max_word_features)
        self.word_keys_ = feature_keys[keep]
        self.word_idf_ = np.log((1 + n_docs) / (1 + doc_freq[keep])) + 1.0

        if self.char_ngram_range is None:
            self.char_vocabulary_, self.char_idf_ = {}, np.zeros(0)
            if not self.n_word_features:
                raise ValueError("no term passed min_df: the training texts are empty or too few")
            return self
        distinct = self._char_tokens(tokens)["token"].unique().to_list()
        all_grams = sorted({gram for word in distinct for gram in self._char_ngrams(word)})
        full_vocabulary = {gram: i for i, gram in enumerate(all_grams)}
        presence = self._doc_char_counts(tokens, n_docs, full_vocabulary)
        char_df = np.diff(presence.tocsc().indptr)
        keep = _select_vocabulary(char_df, self.char_min_df, self.max_char_features)
        self.char_vocabulary_ = {all_grams[i]: j for j, i in enumerate(keep)}
        self.char_idf_ = np.log((1 + n_docs) / (1 + char_df[keep])) + 1.0
        if not self.n_word_features and not self.char_vocabulary_:
            raise ValueError("no term passed min_df: the training texts are empty or too few")
        return self

    def transform_blocks(self, cleaned: pl.Series) -> tuple[sp.csr_matrix, ...]:
        """(word tf-idf block, char tf-idf block) for one batch (the word block alone without char n-grams);
        `transform` stacks them side by side. Callers that only need X @ W can use the blocks and skip the
        costly horizontal stack."""
        if self.word_idf_ is None:
            raise ValueError("ReviewVectorizer is not fitted: call fit() first")
        n_docs = len(cleaned)
        tokens = token_frame(cleaned)
        docs, keys = self._word_keys(tokens, self.stem_index_)
        columns = np.searchsorted(self.word_keys_, keys)
        columns = np.minimum(columns, len(self.word_keys_) - 1)
        found = self.word_keys_[columns] == keys
        pairs = pl.DataFrame({"doc": docs[found], "col": columns[found]})
        word_block = _tfidf(_counts_matrix(pairs, n_docs, self.n_word_features), self.word_idf_)
        if self.char_ngram_range is None:
            blocks = (word_block,)
        else:
            char_counts = self._doc_char_counts(tokens, n_docs, self.char_vocabulary_)
            blocks = (word_block, _tfidf(char_counts, self.char_idf_))
        if self.column_scales_ is None:
            return blocks
        return tuple(
            scale_columns(block, scales)
            for block, scales in zip(blocks, np.split(self.column_scales_, [self.n_word_features]))
        )

    def transform(self, cleaned: pl.Series) -> sp.csr_matrix:
        if self.word_idf_ is None:
            raise ValueError("ReviewVectorizer is not fitted: call fit() first")
        if len(cleaned) == 0:
            return sp.csr_matrix((0, self.n_features))
        blocks = [
            sp.hstack(self.transform_blocks(cleaned.slice(start, self.batch_size)), format="csr")
            for start in range(0, len(cleaned), self.batch_size)
        ]
        return sp.vstack(blocks, format="csr")


@dataclass
class BlockUnion:
    """Blocks of several fitted vectorizers side by side (the review features plus the baseline's plain word
    block when the search picks it); same `transform_blocks` / `batch_size` interface as its parts."""

    parts: tuple
    batch_size: int = 100_000

    def transform_blocks(self, cleaned: pl.Series) -> tuple[sp.csr_matrix, ...]:
        return tuple(block for part in self.parts for block in part.transform_blocks(cleaned))

    def transform(self, cleaned: pl.Series) -> sp.csr_matrix:
        return sp.hstack(self.transform_blocks(cleaned), format="csr")

    def __getattr__(self, name: str):  # n_word_features, char_vocabulary_, ... of the review vectorizer
        if name == "parts":
            raise AttributeError(name)
        return getattr(self.parts[0], name)
