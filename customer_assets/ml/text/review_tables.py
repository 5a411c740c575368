"""The four review tables of one as-of day (pure, no Dagster): scored reviews with topics and aspects, topics,
product and customer sentiment.

`knobs` is the ReviewKnobs settings section (customer_assets/defs/review/assets.py).
"""

import dataclasses
import datetime as dt

import numpy as np
import polars as pl

from customer_assets.ml.text.aspects import extract_aspects
from customer_assets.ml.text.topics import fit_topics
from customer_assets.ml.text.vader import vader_scores

SENTIMENT_SCHEMA = {
    "review_id": pl.String,
    "customer_id": pl.String,
    "product_id": pl.String,
    "as_of_date": pl.Date,
    "review_date": pl.Date,
    "review_ts": pl.Datetime("us"),
    "rating": pl.Int64,
    "sentiment_label": pl.String,
    "sentiment_score": pl.Float64,
    "topic_id": pl.Int64,
    "aspects": pl.List(pl.String),
}
TOPICS_SCHEMA = {
    "as_of_date": pl.Date,
    "topic_id": pl.Int64,
    "label": pl.String,
    "top_terms": pl.List(pl.String),
    "size": pl.Int64,
}
PRODUCT_SCHEMA = {
    "as_of_date": pl.Date,
    "product_id": pl.String,
    "review_count": pl.Int64,
    "average_rating": pl.Float64,
    "positive_share": pl.Float64,
    "neutral_share": pl.Float64,
    "negative_share": pl.Float64,
    "average_sentiment": pl.Float64,
    "top_aspects_praised": pl.List(pl.String),
    "top_aspects_criticized": pl.List(pl.String),
}
CUSTOMER_SCHEMA = {
    "customer_id": pl.String,
    "as_of_date": pl.Date,
    "avg_sentiment": pl.Float64,
    "last_sentiment": pl.Float64,
}


@dataclasses.dataclass
class ReviewTables:
    review_sentiment: pl.DataFrame
    review_topics: pl.DataFrame
    product_sentiment: pl.DataFrame
    customer_sentiment: pl.DataFrame
    notes: list[str]
    topic_report: dict | None = None
    coherence: pl.DataFrame | None = None


def score_reviews(texts: pl.Series, model, language: str, notes: list[str]) -> pl.DataFrame:
    """sentiment_label / sentiment_score per text; null where the text has no letters (nothing to judge)."""
    if model is not None:
        scored = model.predict(texts)
    elif language == "english":
        notes.append("no registered sentiment model: reviews scored with VADER (zero-training baseline)")
        scored = vader_scores(texts).select("sentiment_label", "sentiment_score")
    else:
        notes.append(f"no registered sentiment model and VADER is English-only ({language}): sentiment left empty")
        return pl.DataFrame(
            {"sentiment_label": [None] * len(texts), "sentiment_score": [None] * len(texts)},
            schema={"sentiment_label": pl.String, "sentiment_score": pl.Float64},
        )
    has_words = texts.fill_null("").str.contains(r"\p{L}")
    return scored.select(
        pl.when(has_words).then(pl.col("sentiment_label")).alias("sentiment_label"),
        pl.when(has_words).then(pl.col("sentiment_score").cast(pl.Float64)).alias("sentiment_score"),
    )


def review_topic_assignments(texts: pl.Series, knobs, notes: list[str]):
    """(topic_id per text, TopicResult or None). LDA is fitted on at most `topics_max_docs` texts (a seeded
    sample) and the rest are assigned with the fitted model."""
    n = len(texts)
    empty = pl.Series("topic_id", [None] * n, dtype=pl.Int64)
    if n < 2 * knobs.topics_k_max:
        notes.append(f"topics skipped: {n} review(s) are too few for up to {knobs.topics_k_max} topics")
        return empty, None
    rng = np.random.default_rng(knobs.seed)
    fit_rows = (
        np.sort(rng.choice(n, size=knobs.topics_max_docs, replace=False)) if n > knobs.topics_max_docs else np.arange(n)
    )
    try:
        result = fit_topics(
            texts.gather(fit_rows),
            k_range=(knobs.topics_k_min, knobs.topics_k_max),
            seed=knobs.seed,
            language=knobs.language,
            sample_size=knobs.topics_sample,
            stability_seeds=knobs.topics_stability_seeds,
        )
    except ValueError as exc:
        notes.append(f"topics skipped: {exc}")
        return empty, None
    topic_id = np.full(n, -1, dtype=np.int64)
    topic_id[fit_rows] = result.doc_topics["topic_id"].fill_null(-1).to_numpy()
    if len(fit_rows) < n:
        rest = np.setdiff1d(np.arange(n), fit_rows)
        topic_id[rest] = result.assign(texts.gather(rest))["topic_id"].fill_null(-1).to_numpy()
        notes.append(f"topics fitted on a {len(fit_rows):,}-review sample; {len(rest):,} reviews assigned to them")
    series = pl.Series("topic_id", topic_id)
    return pl.when(series >= 0).then(series).otherwise(None).alias("topic_id"), result


def review_aspects(texts: pl.Series, model, knobs, notes: list[str]) -> pl.DataFrame:
    """Aspect mentions (doc_index, aspect, sentiment_label); empty without a way to score them."""
    try:
        return extract_aspects(texts, lexicon=knobs.lexicon(), sentiment_model=model, language=knobs.language)
    except ValueError as exc:
        if "lexicon" in str(exc) or "aspect terms" in str(exc):
            raise
        notes.append(f"aspects skipped: {exc}")
        return pl.DataFrame(
            schema={
                "doc_index": pl.Int64,
                "aspect": pl.String,
                "sentence": pl.String,
                "sentiment_label": pl.String,
                "sentiment_score": pl.Float64,
            }
        )


def aspect_lists(aspects: pl.DataFrame, n_docs: int) -> pl.Series:
    """Per review, its distinct "aspect:label" strings in order of mention (empty list without any)."""
    per_doc = (
        aspects.select("doc_index", (pl.col("aspect") + ":" + pl.col("sentiment_label")).alias("pair"))
        .unique(maintain_order=True)
        .group_by("doc_index", maintain_order=True)
        .agg("pair")
    )
    return (
        pl.DataFrame({"doc_index": np.arange(n_docs, dtype=np.int64)})
        .join(per_doc, on="doc_index", how="left", maintain_order="left")
        .select(pl.col("pair").fill_null(pl.lit([], dtype=pl.List(pl.String))).cast(pl.List(pl.String)))
        .to_series()
        .alias("aspects")
    )


def product_sentiment(review_sentiment: pl.DataFrame, as_of: dt.date, top_n: int = 3) -> pl.DataFrame:
    """Per product: review count, average rating, sentiment mix (shares of scored reviews), average score and
    the aspects most often praised / criticized (by count of positive / negative mentions)."""
    reviews = review_sentiment.filter(pl.col("product_id").is_not_null())
    if reviews.is_empty():
        return pl.DataFrame(schema=PRODUCT_SCHEMA)
    scored = pl.col("sentiment_label").is_not_null().sum()
    mix = reviews.group_by("product_id").agg(
        pl.len().cast(pl.Int64).alias("review_count"),
        pl.col("rating").mean().cast(pl.Float64).alias("average_rating"),
        # A product whose reviews carry no text (ratings only, e.g. MovieLens) has no sentiment mix: null, not 0/0.
        *[
            pl.when(scored > 0).then((pl.col("sentiment_label") == label).sum() / scored).alias(f"{label}_share")
            for label in ("positive", "neutral", "negative")
        ],
        pl.col("sentiment_score").mean().alias("average_sentiment"),
    )
    mentions = (
        reviews.select("product_id", "aspects")
        .explode("aspects")
        .drop_nulls("aspects")
        .with_columns(pl.col("aspects").str.split_exact(":", 1).struct.rename_fields(["aspect", "label"]))
        .unnest("aspects")
        .group_by("product_id", "aspect", "label")
        .len()
        .sort(["product_id", "len", "aspect"], descending=[False, True, False])
    )

    def top(label: str, name: str) -> pl.DataFrame:
        return (
            mentions.filter(pl.col("label") == label)
            .group_by("product_id", maintain_order=True)
            .agg(pl.col("aspect").head(top_n).alias(name))
        )

    empty_list = pl.lit([], dtype=pl.List(pl.String))
    return (
        mix.join(top("positive", "top_aspects_praised"), on="product_id", how="left")
        .join(top("negative", "top_aspects_criticized"), on="product_id", how="left")
        .with_columns(
            pl.lit(as_of).alias("as_of_date"),
            pl.col("top_aspects_praised").fill_null(empty_list),
            pl.col("top_aspects_criticized").fill_null(empty_list),
        )
        .select([pl.col(name).cast(dtype) for name, dtype in PRODUCT_SCHEMA.items()])
        .sort("product_id")
    )


def customer_sentiment_as_of(review_sentiment: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Per customer, from the scored reviews dated up to `as_of`: the average score and the latest review's
    score. Point in time: use it with a past cutoff for churn training snapshots."""
    scored = review_sentiment.filter((pl.col("review_date") <= as_of) & pl.col("sentiment_score").is_not_null())
    if scored.is_empty():
        return pl.DataFrame(schema=CUSTOMER_SCHEMA)
    return (
        scored.sort("customer_id", "review_ts", "review_id")
        .group_by("customer_id")
        .agg(
            pl.col("sentiment_score").mean().alias("avg_sentiment"),
            pl.col("sentiment_score").last().alias("last_sentiment"),
        )
        .with_columns(pl.lit(as_of).alias("as_of_date"))
        .select([pl.col(name).cast(dtype) for name, dtype in CUSTOMER_SCHEMA.items()])
        .sort("customer_id")
    )


def build_review_tables(reviews: pl.DataFrame, model, as_of: dt.date, knobs) -> ReviewTables:
    """All four tables as of `as_of` from the reviews dated up to it (`model` None: VADER or empty scores)."""
    notes: list[str] = []
    reviews = reviews.filter(pl.col("review_date") <= as_of)
    if reviews.is_empty():
        notes.append(f"no reviews up to {as_of}: the review tables are empty for this day")
        return ReviewTables(
            pl.DataFrame(schema=SENTIMENT_SCHEMA),
            pl.DataFrame(schema=TOPICS_SCHEMA),
            pl.DataFrame(schema=PRODUCT_SCHEMA),
            pl.DataFrame(schema=CUSTOMER_SCHEMA),
            notes,
        )
    texts = reviews["review_text"].fill_null("")
    scores = score_reviews(texts, model, knobs.language, notes)
    topic_id, topic_result = review_topic_assignments(texts, knobs, notes)
    aspects = review_aspects(texts, model, knobs, notes)
    sentiment = (
        reviews.with_columns(pl.lit(as_of).alias("as_of_date"))
        .with_columns(scores.get_columns())
        .with_columns(topic_id, aspect_lists(aspects, reviews.height))
        .select([pl.col(name).cast(dtype) for name, dtype in SENTIMENT_SCHEMA.items()])
    )
    if topic_result is None:
        topics = pl.DataFrame(schema=TOPICS_SCHEMA)
    else:
        sizes = sentiment.drop_nulls("topic_id").group_by("topic_id").len()
        topics = (
            topic_result.topics.drop("size")
            .join(sizes.rename({"len": "size"}), on="topic_id", how="left")
            .with_columns(pl.col("size").fill_null(0), pl.lit(as_of).alias("as_of_date"))
            .select([pl.col(name).cast(dtype) for name, dtype in TOPICS_SCHEMA.items()])
            .sort("topic_id")
        )
    return ReviewTables(
        review_sentiment=sentiment,
        review_topics=topics,
        product_sentiment=product_sentiment(sentiment, as_of, knobs.top_aspects),
        customer_sentiment=customer_sentiment_as_of(sentiment, as_of),
        notes=notes,
        topic_report=topic_result.report if topic_result else None,
        coherence=topic_result.coherence if topic_result else None,
    )
