"""Aspect opinions: which clause of a review talks about quality, price, shipping or service, and
with what sentiment.

Reviews are split by regex into sentences and then into clauses at contrast words ("but",
"however" ...: the language file's clause breakers), because one sentence often carries two opinions
("Shipping was slow but the quality is great"). Each clause that mentions an aspect term yields a row
scored by the given sentiment model, or, for English without a model, by VADER with a small
shop-review lexicon (`COMMERCE_LEXICON`: "slow", "late", "overpriced" ... are neutral in plain VADER).

The lexicon is configuration: a dict aspect -> terms; a trailing "*" matches any word ending
("deliver*" matches delivery, delivered), spaces match any whitespace. Extend it with
`extend_lexicon(DEFAULT_ASPECT_LEXICON, {"app": ["app", "login", "crash*"]})`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import polars as pl

from .preprocess import DEFAULT_MAX_CHARS, clean_texts, language_resources
from .vader import COMMERCE_LEXICON, VADER_LANGUAGE, vader_scores

DEFAULT_ASPECT_LEXICON: dict[str, list[str]] = {
    "quality": [
        "quality",
        "durable",
        "sturdy",
        "flimsy",
        "broke",
        "broken",
        "breaks",
        "defective",
        "material*",
        "build",
        "well made",
        "cheaply made",
        "fake",
        "counterfeit",
        "damaged",
        "faulty",
    ],
    "price": [
        "price*",
        "pricing",
        "cost*",
        "expensive",
        "cheap",
        "cheaper",
        "overpriced",
        "afford*",
        "value",
        "money",
        "tariff*",
        "fee",
        "fees",
        "discount*",
        "deal",
        "deals",
    ],
    "shipping": [
        "ship*",
        "deliver*",
        "arriv*",
        "packag*",
        "parcel*",
        "courier*",
        "tracking",
        "dispatch*",
        "on time",
        "late",
        "driver*",
    ],
    "service": [
        "service",
        "customer service",
        "support",
        "refund*",
        "return*",
        "staff",
        "agent*",
        "help*",
        "chat",
        "respond*",
        "response*",
        "rude",
        "representative*",
        "complaint*",
    ],
}
SENTENCE_END = r"[.!?;\n]+"
_CLAUSE_MARK = "\x1f"


def extend_lexicon(base: Mapping[str, Sequence[str]], extra: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """New lexicon: `base` plus `extra` (terms of an existing aspect are added, new aspects appended)."""
    merged = {aspect: list(terms) for aspect, terms in base.items()}
    for aspect, terms in extra.items():
        merged.setdefault(aspect, [])
        merged[aspect] += [term for term in terms if term not in merged[aspect]]
    return merged


def _aspect_pattern(terms: Sequence[str]) -> str:
    parts = []
    for term in terms:
        if not isinstance(term, str) or not term.strip("* "):
            raise ValueError(f"aspect terms must be non-empty strings, got {term!r}")
        words = [re.escape(word) for word in term.lower().strip().rstrip("*").split()]
        parts.append(r"\s+".join(words) + (r"\w*" if term.strip().endswith("*") else ""))
    return r"(?i)\b(?:" + "|".join(parts) + r")\b"


def split_clauses(texts: Any, language: str = "english", max_chars: int = DEFAULT_MAX_CHARS) -> pl.DataFrame:
    """One row per non-empty clause: doc_index, sentence (original case, trimmed), clause_index."""
    breakers = sorted(language_resources(language).clause_breakers)
    breaker_pattern = r"(?i)\b(?:" + "|".join(re.escape(word) for word in breakers) + r")\b"
    cased = clean_texts(texts, max_chars=max_chars, lowercase=False)
    return (
        pl.DataFrame({"sentence": cased})
        .with_row_index("doc_index")
        .with_columns(
            pl.col("sentence")
            .str.replace_all(SENTENCE_END, _CLAUSE_MARK)
            .str.replace_all(breaker_pattern, _CLAUSE_MARK)
            .str.split(_CLAUSE_MARK)
        )
        .explode("sentence")
        .with_columns(
            pl.col("sentence").str.strip_chars(" \t,:-\u2013\u2014"),
            pl.int_range(pl.len(), dtype=pl.Int64).over("doc_index").alias("clause_index"),
        )
        .filter(pl.col("sentence").str.contains(r"\w"))
        .with_columns(pl.col("doc_index").cast(pl.Int64))
    )


def extract_aspects(
    texts: Any,
    lexicon: Mapping[str, Sequence[str]] | None = None,
    sentiment_model: Any = None,
    language: str = "english",
    max_chars: int = DEFAULT_MAX_CHARS,
) -> pl.DataFrame:
    """Rows (doc_index, aspect, sentence, sentiment_label, sentiment_score), one per clause and aspect
    mentioned in it. `sentiment_model` is anything with `.predict(texts)` returning sentiment_label and
    sentiment_score (a `SentimentModel`); without one, English clauses are scored by VADER."""
    lexicon = DEFAULT_ASPECT_LEXICON if lexicon is None else lexicon
    if not isinstance(lexicon, Mapping) or not lexicon:
        raise ValueError("lexicon must be a non-empty dict aspect -> list of terms")
    if sentiment_model is None and language_resources(language).language != VADER_LANGUAGE:
        raise ValueError(f"no sentiment_model given and VADER is English-only: pass a model trained for {language}")
    schema = {
        "doc_index": pl.Int64,
        "aspect": pl.String,
        "sentence": pl.String,
        "sentiment_label": pl.String,
        "sentiment_score": pl.Float64,
    }
    clauses = split_clauses(texts, language, max_chars)
    mentions = pl.concat(
        [
            clauses.filter(pl.col("sentence").str.contains(_aspect_pattern(terms))).with_columns(
                pl.lit(aspect).alias("aspect")
            )
            for aspect, terms in lexicon.items()
        ]
    ).select("doc_index", "clause_index", "aspect", "sentence")
    if mentions.is_empty():
        return pl.DataFrame(schema=schema)
    distinct = mentions.select("sentence").unique(maintain_order=True)
    if sentiment_model is None:
        scored = vader_scores(distinct["sentence"], extra_lexicon=COMMERCE_LEXICON, max_chars=max_chars)
    else:
        scored = sentiment_model.predict(distinct["sentence"])
    distinct = distinct.with_columns(
        scored["sentiment_label"].alias("sentiment_label"),
        scored["sentiment_score"].cast(pl.Float64).alias("sentiment_score"),
    )
    return (
        mentions.join(distinct, on="sentence", how="left", maintain_order="left")
        .sort("doc_index", "clause_index", maintain_order=True)
        .select(list(schema))
        .cast(schema)
    )
