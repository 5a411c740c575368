"""Review analytics, fully offline: sentiment, topics and aspect opinions.

Public API (Polars in, Polars out; nothing here downloads data or opens a network connection):

- ``train_sentiment_model(texts, ratings, language="english", seed=0, holdout_fraction=0.2, C=None)``
  -> ``SentimentModel`` with ``.predict(texts)`` (polars: sentiment_label, sentiment_score),
  ``.report`` (holdout metrics of the served classifier and VADER, champion, primary_metric="macro_f1";
  the model beside the plain TF-IDF word(1,2)+LR baseline under ``model_vs_baseline``, ``served``),
  ``.champion`` ("tfidf_logreg" or "vader") and ``.holdout_rows``. Picklable.
- ``evaluate_on_holdout(model, texts, ratings)`` -> metrics dict for champion/challenger comparison.
- ``holdout_split(labels, holdout_fraction, seed)`` / ``labels_from_ratings(ratings)``.
- ``vader_scores(texts)`` -> polars: neg, neu, pos, compound, sentiment_label, sentiment_score.
- ``fit_topics(texts, k_range=(4, 10), seed=0, language="english", ...)`` -> ``TopicResult`` with
  ``doc_topics``, ``topics`` (topic_id, label, top_terms, size), ``coherence`` (k, c_v, u_mass),
  ``stability``, ``report`` and ``assign(texts)``.
- ``extract_aspects(texts, lexicon=None, sentiment_model=None, language="english")`` -> polars rows
  doc_index, aspect, sentence, sentiment_label, sentiment_score; ``DEFAULT_ASPECT_LEXICON``,
  ``extend_lexicon``.
- ``clean_texts``, ``tokenize``, ``supported_languages``.

Languages: english (default), german, french, spanish, italian, portuguese, dutch (stop words,
negation cues and clause breakers bundled in ``data/languages.json``; Snowball stemmers from NLTK).
"""

from .aspects import DEFAULT_ASPECT_LEXICON, extend_lexicon, extract_aspects, split_clauses
from .preprocess import clean_texts, supported_languages, tokenize
from .sentiment import (
    LABELS,
    SentimentModel,
    classification_metrics,
    evaluate_on_holdout,
    holdout_split,
    labels_from_ratings,
    train_sentiment_model,
)
from .topics import TopicResult, fit_topics
from .vader import vader_scores

__all__ = [
    "DEFAULT_ASPECT_LEXICON",
    "LABELS",
    "SentimentModel",
    "TopicResult",
    "classification_metrics",
    "clean_texts",
    "evaluate_on_holdout",
    "extend_lexicon",
    "extract_aspects",
    "fit_topics",
    "holdout_split",
    "labels_from_ratings",
    "split_clauses",
    "supported_languages",
    "tokenize",
    "train_sentiment_model",
    "vader_scores",
]
