"""The plain baseline's features: scikit-learn TF-IDF over word 1-2 grams, nothing else (no stemming, negation
marks or character n-grams). `train_sentiment_model` fits it beside its own model and serves it when the model
does not beat it. Same `transform_blocks` / `batch_size` interface as `ReviewVectorizer`, so `SentimentModel`
predicts with either."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

BASELINE_NAME = "tfidf_word12_logreg"
# min_df=2 drops the once-seen bigrams that make a 500k-review vocabulary balloon; below that many documents
# (toy inputs) every term is kept.
BASELINE_MIN_DF = 2


@dataclass
class WordNgramTfidf:
    batch_size: int = 100_000
    vectorizer_: TfidfVectorizer | None = field(default=None, repr=False)

    def fit(self, cleaned: pl.Series) -> "WordNgramTfidf":
        texts = cleaned.fill_null("").to_list()
        try:
            self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), min_df=BASELINE_MIN_DF).fit(texts)
        except ValueError:  # no term in two documents: tiny training sets
            self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2)).fit(texts)
        return self

    @property
    def n_features(self) -> int:
        return len(self.vectorizer_.vocabulary_)

    def transform_blocks(self, cleaned: pl.Series) -> tuple[sp.csr_matrix]:
        if self.vectorizer_ is None:
            raise ValueError("WordNgramTfidf is not fitted: call fit() first")
        return (sp.csr_matrix(self.vectorizer_.transform(cleaned.fill_null("").to_list())),)

    def transform(self, cleaned: pl.Series) -> sp.csr_matrix:
        return self.transform_blocks(cleaned)[0]
