"""VADER baseline (the `vaderSentiment` package ships its lexicon: no download). English only.

Labels follow VADER's own thresholds: compound >= 0.05 positive, <= -0.05 negative, else neutral.
The score is the compound value, already in [-1, 1].
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

import numpy as np
import polars as pl

from .preprocess import DEFAULT_MAX_CHARS, clean_texts, has_text

VADER_LANGUAGE = "english"
POSITIVE_THRESHOLD = 0.05
# Words the general-purpose VADER lexicon leaves neutral but that are opinions in shop reviews.
# Used only where the caller asks (aspect extraction without a trained model), never for the
# baseline figures, which stay plain VADER.
COMMERCE_LEXICON: dict[str, float] = {
    "slow": -1.5,
    "slowly": -1.2,
    "late": -1.5,
    "delayed": -1.6,
    "delay": -1.4,
    "delays": -1.4,
    "overpriced": -2.0,
    "pricey": -1.0,
    "expensive": -1.2,
    "flimsy": -1.8,
    "damaged": -2.0,
    "broke": -2.0,
    "refund": -0.6,
    "rude": -2.0,
    "unhelpful": -1.8,
    "fast": 1.5,
    "quick": 1.4,
    "quickly": 1.3,
    "prompt": 1.3,
    "affordable": 1.5,
    "cheap": 0.3,
    "sturdy": 1.6,
    "durable": 1.6,
    "helpful": 1.8,
    "responsive": 1.4,
}


@lru_cache(maxsize=4)
def _analyzer(extra_items: tuple[tuple[str, float], ...] = ()):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(dict(extra_items))
    return analyzer


def vader_labels(compound: np.ndarray) -> np.ndarray:
    return np.where(
        compound >= POSITIVE_THRESHOLD, "positive", np.where(compound <= -POSITIVE_THRESHOLD, "negative", "neutral")
    )


def vader_scores(
    texts: Any, extra_lexicon: Mapping[str, float] | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> pl.DataFrame:
    """VADER polarity per text: neg, neu, pos, compound, sentiment_label, sentiment_score.

    Empty, missing and non-string texts score 0 / neutral. VADER is a per-sentence rule engine in pure
    Python (about 10-20k short texts per second here), so it is the slow path for large batches.
    """
    texts_cased = clean_texts(texts, max_chars=max_chars, lowercase=False)
    usable = has_text(texts_cased).to_numpy()
    analyzer = _analyzer(tuple(sorted((extra_lexicon or {}).items())))
    polarity = np.zeros((len(texts_cased), 4))
    for row, text in zip(np.flatnonzero(usable), texts_cased.filter(pl.Series(usable)).to_list()):
        scores = analyzer.polarity_scores(text)
        polarity[row] = (scores["neg"], scores["neu"], scores["pos"], scores["compound"])
    polarity[~usable, 1] = 1.0
    compound = polarity[:, 3]
    return pl.DataFrame(
        {
            "neg": polarity[:, 0],
            "neu": polarity[:, 1],
            "pos": polarity[:, 2],
            "compound": compound,
            "sentiment_label": vader_labels(compound),
            "sentiment_score": compound,
        }
    )
