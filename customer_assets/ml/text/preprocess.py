"""Offline text preprocessing: cleaning, tokenizing, negation marking and stemming.

Everything here works without downloaded data: the tokenizer is a regular expression (the same pattern
drives NLTK's ``RegexpTokenizer`` for single texts and Polars' Rust regex engine for whole columns), the
stemmer is NLTK's Snowball stemmer, and stop words / negation cues / clause breakers come from the
hand-written ``data/languages.json`` shipped inside this package.

Bulk work goes through Polars expressions on an exploded token frame (one row per token) so a million
reviews never meet a Python loop over rows; Python only touches the *distinct* tokens (for stemming).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

import numpy as np
import polars as pl

# Words with inner apostrophes ("don't"), the punctuation that ends a negation scope, and emoji /
# dingbats (they carry sentiment in app-store reviews). Valid in both Python `re` and Rust `regex`.
EMOJI_CLASS = r"[\u2600-\u27BF\U0001F300-\U0001FAFF]"
TOKEN_PATTERN = r"\w+(?:'\w+)*|[.,;:!?]|" + EMOJI_CLASS
SCOPE_PUNCTUATION = (".", ",", ";", ":", "!", "?")
# Tokens kept as sentiment features although they are punctuation.
EXPRESSIVE_PUNCTUATION = ("!", "?")
NEGATION_PREFIX = "neg_"
NEGATION_WINDOW = 3
DEFAULT_MAX_CHARS = 5_000


@dataclass(frozen=True)
class LanguageResources:
    """Stop words, negation cues and clause breakers for one language (bundled, hand-written)."""

    language: str
    stop_words: frozenset[str]
    negations: frozenset[str]
    clause_breakers: frozenset[str]

    @property
    def topic_stop_words(self) -> frozenset[str]:
        return self.stop_words | self.negations | self.clause_breakers


@lru_cache(maxsize=1)
def _bundled_languages() -> dict[str, Any]:
    payload = resources.files(__package__).joinpath("data").joinpath("languages.json").read_text(encoding="utf-8")
    return {name: spec for name, spec in json.loads(payload).items() if not name.startswith("_")}


def supported_languages() -> list[str]:
    return sorted(_bundled_languages())


def language_resources(language: str) -> LanguageResources:
    """Bundled resources for `language`; ValueError listing the supported ones otherwise."""
    if not isinstance(language, str) or language.lower() not in _bundled_languages():
        raise ValueError(f"language {language!r} is not supported; choose one of {supported_languages()}")
    spec = _bundled_languages()[language.lower()]
    return LanguageResources(
        language=language.lower(),
        stop_words=frozenset(spec["stop_words"]),
        negations=frozenset(spec["negations"]),
        clause_breakers=frozenset(spec["clause_breakers"]),
    )


def tokenize(text: str) -> list[str]:
    """Tokenize one text with NLTK's RegexpTokenizer (lower-cased, same pattern as `token_frame`)."""
    from nltk.tokenize import RegexpTokenizer

    if not isinstance(text, str):
        return []
    return RegexpTokenizer(TOKEN_PATTERN).tokenize(_clean_one(text))


def _clean_one(text: str) -> str:
    return clean_texts([text]).fill_null("")[0]


def _as_optional_strings(texts: Any) -> pl.Series:
    """Any sequence of texts as a String Series; non-strings (None, numbers, NaN) become null."""
    if isinstance(texts, pl.Series):
        if texts.dtype == pl.String:
            return texts.rename("text")
        if texts.dtype in (pl.Object, pl.Null):
            texts = texts.to_list()
        else:
            return pl.Series("text", [None] * len(texts), dtype=pl.String)
    elif isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, not a single string")
    elif hasattr(texts, "to_list"):
        texts = texts.to_list()
    elif isinstance(texts, np.ndarray):
        texts = texts.tolist()
    elif not isinstance(texts, Iterable):
        raise ValueError(f"texts must be a sequence of strings, got {type(texts).__name__}")
    return pl.Series("text", [t if isinstance(t, str) else None for t in texts], dtype=pl.String)


def clean_texts(texts: Any, max_chars: int = DEFAULT_MAX_CHARS, lowercase: bool = True) -> pl.Series:
    """Normalise texts for every downstream step.

    NFKC unicode normalisation, lower case, typographic apostrophes unified, and texts longer than
    `max_chars` cut to their head (3/4 of the budget) plus their tail (1/4): reviews often end with
    the verdict, so keeping the tail matters more than keeping the middle. Non-strings become null.
    `lowercase=False` keeps case for VADER, which reads capitals as emphasis.
    """
    if max_chars < 20:
        raise ValueError(f"max_chars must be at least 20, got {max_chars}")
    raw = _as_optional_strings(texts)
    head, tail = (max_chars * 3) // 4, max_chars // 4
    text = pl.col("text").str.normalize("NFKC")
    text = text.str.to_lowercase() if lowercase else text
    frame = pl.DataFrame({"text": raw}).select(text.str.replace_all(r"[\u2018\u2019\u02bc`´]", "'"))
    long_text = pl.col("text").str.len_chars() > max_chars
    return frame.select(
        pl.when(long_text)
        .then(pl.col("text").str.head(head) + pl.lit(" ") + pl.col("text").str.tail(tail))
        .otherwise(pl.col("text"))
        .alias("text")
    ).to_series()


def has_text(cleaned: pl.Series) -> pl.Series:
    """True where a cleaned text holds a letter or an emoji (numbers and punctuation alone do not count)."""
    return cleaned.str.contains(r"[\p{L}" + EMOJI_CLASS[1:-1] + "]").fill_null(False).rename("has_text")


def token_frame(cleaned: pl.Series) -> pl.DataFrame:
    """One row per token, ordered by doc then position: doc (row position in `cleaned`), position, token."""
    lists = cleaned.str.extract_all(TOKEN_PATTERN)
    lengths = lists.list.len().fill_null(0).cast(pl.Int64).to_numpy()
    doc_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else lengths
    doc = np.repeat(np.arange(len(lengths), dtype=np.uint32), lengths)
    position = (np.arange(len(doc), dtype=np.int64) - np.repeat(doc_start, lengths)).astype(np.uint32)
    return pl.DataFrame(
        {"doc": doc, "position": position, "token": lists.explode().drop_nulls()},
        schema={"doc": pl.UInt32, "position": pl.UInt32, "token": pl.String},
    )


def mark_negation(tokens: pl.DataFrame, resources_: LanguageResources, window: int = NEGATION_WINDOW) -> pl.DataFrame:
    """Add a boolean `negated`: the `window` tokens after a negation cue, stopping at punctuation or a
    clause breaker ("but"), so "not good" yields a different feature than "good" while "not fast
    but great" keeps "great" positive.

    `tokens` must be ordered by doc then position (as `token_frame` returns it); scopes are numbered
    over the whole frame so forward fills need no per-document window.
    """
    token = pl.col("token")
    is_negation = token.is_in(list(resources_.negations)) | token.str.ends_with("n't")
    is_breaker = token.is_in(list(SCOPE_PUNCTUATION)) | token.is_in(list(resources_.clause_breakers))
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    scope = (is_breaker | (pl.col("position") == 0)).cast(pl.UInt32).cum_sum()
    return (
        tokens.with_columns(
            is_negation.alias("_neg"), is_breaker.alias("_brk"), scope.alias("_scope"), row.alias("_row")
        )
        .with_columns(
            pl.when("_neg").then("_row").forward_fill().alias("_neg_row"),
            pl.when("_neg").then("_scope").forward_fill().alias("_neg_scope"),
        )
        .with_columns(
            (
                ~pl.col("_neg")
                & ~pl.col("_brk")
                & (pl.col("_neg_scope") == pl.col("_scope"))
                & (pl.col("_row") - pl.col("_neg_row")).is_between(1, window)
            )
            .fill_null(False)
            .alias("negated")
        )
        .drop("_neg", "_brk", "_scope", "_row", "_neg_row", "_neg_scope")
    )


def dense_codes(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(distinct values, UInt32 code of each value into them) without a Python loop over rows."""
    distinct = values.unique()
    if values.is_empty():  # replace_strict keeps the input dtype on an empty series
        return distinct, pl.Series(values.name, [], dtype=pl.UInt32)
    codes = values.replace_strict(
        distinct, pl.Series(np.arange(len(distinct), dtype=np.uint32)), return_dtype=pl.UInt32
    )
    return distinct, codes


class SnowballStems:
    """NLTK Snowball stemmer applied to distinct tokens only, with a cache that is not pickled."""

    def __init__(self, language: str) -> None:
        self.language = language_resources(language).language
        self._stemmer = None
        self._cache: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"language": self.language}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["language"])

    def stem_words(self, words: Iterable[str]) -> list[str]:
        if self._stemmer is None:
            from nltk.stem.snowball import SnowballStemmer

            self._stemmer = SnowballStemmer(self.language)
        cache, stem = self._cache, self._stemmer.stem  # type: ignore[attr-defined]  # set just above
        if len(cache) > 2_000_000:  # bound memory on endless streams of novel tokens
            cache.clear()
        out = []
        for word in words:
            stemmed = cache.get(word)
            if stemmed is None:
                stemmed = cache[word] = stem(word)
            out.append(stemmed)
        return out

    def stem_series(self, tokens: pl.Series) -> pl.Series:
        distinct, codes = dense_codes(tokens)
        stems = pl.Series(self.stem_words(distinct.to_list()), dtype=pl.String)
        return stems.gather(codes).rename(tokens.name)
