"""Review analytics assets (group `reviews`): sentiment model, scored reviews, topics, product and customer
sentiment.

- `sentiment_model` (unpartitioned) trains `customer_assets.ml.text.train_sentiment_model` on the reviews in
  `staging.stg_reviews` up to the as-of date just built (TF-IDF + logistic regression vs VADER; the library
  keeps the better one on its holdout), compares the challenger with the registered champion on the same
  rows (the challenger's holdout minus the reviews the champion trained on; the model records its training
  review ids for this), and registers the challenger in MLflow as `review_sentiment`; it gets the
  `champion` alias only when it beats the champion by the margin. A blocking gate check passes when the model
  that will serve beats its baseline (VADER for English, the majority class otherwise) on that holdout.
  With fewer than `CUSTOMER_ML_REVIEW_MIN_REVIEWS` labelled reviews, or a single class, training is skipped
  with a note.
- `review_analytics` (one step, daily-partitioned by as-of date D) writes four tables, each its own asset:
  `marts.review_topics`, `marts.review_sentiment`, `marts.product_sentiment`, `marts.customer_sentiment`, all
  with `as_of_date` = D and computed from the reviews dated up to D (one step because the topic model that
  names the topics also assigns each review its `topic_id`). Each partition is replaced, never appended.

Churn uses customer sentiment through a join, not through the dbt model:
    marts.customer_features f LEFT JOIN marts.customer_sentiment s
        ON s.customer_id = f.customer_id AND s.as_of_date = f.as_of_date
adds `avg_sentiment` and `last_sentiment` (null = no review with text up to that day). For past training
cutoffs, call `customer_sentiment_as_of(review_sentiment_rows, cutoff)` on the as-of-D rows of
`marts.review_sentiment`: it keeps only reviews dated up to the cutoff, so no later review leaks in.
"""

import dataclasses
import datetime as dt
import json
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from customer_assets.config import read_section, section, setting
from customer_assets.defs.metadata import frame_metadata, markdown_table
from customer_assets.defs.model_assets import Table, knob_config, run_knobs, scoring_multi_asset, training_asset
from customer_assets.defs.resources import MlflowResource, WarehouseResource
from customer_assets.mlops import lifecycle
from customer_assets.models import SENTIMENT

MODEL = SENTIMENT
GROUP = MODEL.group
MODEL_NAME = MODEL.registry_name
STG_REVIEWS = dg.AssetKey(["staging", "stg_reviews"])
STG_PRODUCTS = dg.AssetKey(["staging", "stg_products"])
MODEL_KEY = MODEL.training_key
TOPICS_KEY = MODEL.table_key("marts.review_topics")
SENTIMENT_KEY = MODEL.table_key("marts.review_sentiment")
PRODUCT_KEY = MODEL.table_key("marts.product_sentiment")
CUSTOMER_KEY = MODEL.table_key("marts.customer_sentiment")
GATE_CHECK = lifecycle.GATE_CHECK
MIN_COMPARISON_ROWS = 30
LABELS = ("negative", "neutral", "positive")

REVIEW_SCHEMA = {
    "review_id": pl.String,
    "customer_id": pl.String,
    "product_id": pl.String,
    "rating": pl.Int64,
    "review_ts": pl.Datetime("us"),
    "review_date": pl.Date,
    "review_text": pl.String,
}
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


# --- knobs -------------------------------------------------------------------------------------------------


@section("REVIEW")
@dataclasses.dataclass(frozen=True)
class ReviewKnobs:
    language: str = setting(
        "english",
        "Stemmer and stop words (english, german, french, spanish, italian, "
        "portuguese, dutch); VADER is skipped with a note for non-English.",
    )
    min_reviews: int = setting(50, "Fewer labelled reviews: no training, a note.", low=1)
    seed: int = setting(0, "Seed of the holdout split and fits.")
    holdout_fraction: float = setting(0.2, "Holdout share of labelled reviews.", low=0.01, high=0.99)
    regularisation_c: float = setting(0.5, "Logistic regression C.", low=1e-6)
    train_max_reviews: int = setting(500_000, "Seeded training sample above this many reviews.", low=100)
    promotion_margin: float = setting(0.005, "Macro-F1 gain a challenger needs to take the `champion` alias.")
    topics_k_min: int = setting(4, "Smallest topic count tried.", low=2)
    topics_k_max: int = setting(8, "Largest topic count tried.", low=2)
    topics_sample: int = setting(20_000, "Reviews used to choose k (coherence) and measure stability.", low=10)
    topics_max_docs: int = setting(
        200_000, "Reviews the final LDA is fitted on; the rest are assigned to its topics.", low=10
    )
    topics_stability_seeds: int = setting(2, "Extra seeds for the top-word stability figure.", low=0)
    top_aspects: int = setting(3, "Aspects listed as praised / criticized per product.", low=1)
    aspect_lexicon: str = setting(
        "",
        'JSON file {"aspect": ["term", "prefix*"]} added to the default quality / price / shipping / service lexicon.',
    )

    def lexicon(self) -> dict[str, list[str]]:
        from customer_assets.ml.text import DEFAULT_ASPECT_LEXICON, extend_lexicon

        if not self.aspect_lexicon:
            return DEFAULT_ASPECT_LEXICON
        path = Path(self.aspect_lexicon)
        try:
            extra = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"CUSTOMER_ML_REVIEW_ASPECT_LEXICON={path}: cannot read a JSON object: {exc}") from exc
        if not isinstance(extra, dict) or not all(isinstance(v, list) for v in extra.values()):
            raise ValueError(f"CUSTOMER_ML_REVIEW_ASPECT_LEXICON={path}: expected {{aspect: [terms, ...]}}")
        return extend_lexicon(DEFAULT_ASPECT_LEXICON, extra)


def review_knobs() -> ReviewKnobs:
    """Knobs from CUSTOMER_ML_REVIEW_<NAME> (docs/configuration.md); read at run time."""
    from customer_assets.ml.text import supported_languages

    knobs = read_section(ReviewKnobs)
    knobs = dataclasses.replace(knobs, language=knobs.language.lower())
    if knobs.language not in supported_languages():
        raise ValueError(
            f"CUSTOMER_ML_REVIEW_LANGUAGE={knobs.language!r} is not supported; choose one of {supported_languages()}"
        )
    if not 2 <= knobs.topics_k_min <= knobs.topics_k_max:
        raise ValueError(
            f"need 2 <= CUSTOMER_ML_REVIEW_TOPICS_K_MIN <= CUSTOMER_ML_REVIEW_TOPICS_K_MAX, "
            f"got {knobs.topics_k_min}, {knobs.topics_k_max}"
        )
    return knobs


# --- reading -----------------------------------------------------------------------------------------------


def load_reviews(client, as_of: dt.date) -> pl.DataFrame:
    """Reviews dated up to `as_of`, ordered by review_id so that a seed reproduces the same holdout."""
    if not client.table_exists("staging", "stg_reviews"):
        return pl.DataFrame(schema=REVIEW_SCHEMA)
    frame = client.read_table("staging", "stg_reviews", "review_date <= ?", [as_of])
    if frame.is_empty():
        return pl.DataFrame(schema=REVIEW_SCHEMA)
    return frame.select([pl.col(name).cast(dtype) for name, dtype in REVIEW_SCHEMA.items()]).sort("review_id")


def training_as_of(context, client) -> dt.date:
    """The as-of date of the marts just built: the run's partition, else dbt's int_as_of_date, else the last review."""
    tag = context.run.tags.get("dagster/partition") if context.run else None
    if tag:
        return dt.date.fromisoformat(tag)
    for schema, table, column in (
        ("intermediate", "int_as_of_date", "as_of_date"),
        ("staging", "stg_reviews", "review_date"),
    ):
        if client.table_exists(schema, table):
            value = client.scalar(f'SELECT max("{column}") FROM "{schema}"."{table}"')
            if value is not None:
                return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else value.date()
    return dt.date.today()


# --- training core (no Dagster) ----------------------------------------------------------------------------


def labelled_reviews(reviews: pl.DataFrame, knobs: ReviewKnobs) -> pl.DataFrame:
    """Reviews with a rating and some letters of text; a seeded sample above `train_max_reviews`."""
    labelled = reviews.filter(pl.col("rating").is_not_null() & pl.col("review_text").str.contains(r"\p{L}"))
    if labelled.height > knobs.train_max_reviews:
        labelled = labelled.sample(knobs.train_max_reviews, seed=knobs.seed).sort("review_id")
    return labelled


def training_skip_reason(labelled: pl.DataFrame, knobs: ReviewKnobs) -> str | None:
    """Why training is skipped (None when it can go ahead)."""
    if labelled.height < knobs.min_reviews:
        return (
            f"only {labelled.height} review(s) with text and rating up to the as-of date (need "
            f"CUSTOMER_ML_REVIEW_MIN_REVIEWS={knobs.min_reviews}): no sentiment model trained"
        )
    from customer_assets.ml.text import labels_from_ratings

    classes = np.unique(labels_from_ratings(labelled["rating"]))
    if len(classes) < 2:
        return f"every labelled review has the same sentiment class ({classes[0]}): no sentiment model trained"
    return None


def comparison_rows_for(challenger, labelled: pl.DataFrame, champion) -> tuple[np.ndarray, str]:
    """Row positions (in `labelled`) on which challenger and champion are compared: the challenger's holdout
    without the reviews the champion was trained on (when it recorded them), so neither model has seen them."""
    rows = np.asarray(challenger.holdout_rows)
    seen = getattr(champion, "trained_review_ids", None)
    if champion is None or seen is None:
        return rows, "the challenger's holdout"
    unseen = rows[~labelled["review_id"].gather(rows).is_in(pl.Series(seen)).to_numpy()]
    if len(unseen) < MIN_COMPARISON_ROWS:
        return rows, (
            f"the challenger's holdout (only {len(unseen)} of its rows are unseen by the champion, "
            f"fewer than {MIN_COMPARISON_ROWS}: the champion may have trained on some of them)"
        )
    return unseen, f"the {len(unseen)} rows of the challenger's holdout that the champion never trained on"


def baseline_on_holdout(challenger, holdout_texts, holdout_ratings) -> tuple[str, dict]:
    """VADER's figures on the given rows when the language allows; else the majority class."""
    from customer_assets.ml.text import classification_metrics, evaluate_on_holdout, labels_from_ratings

    if challenger.report.get("baseline"):
        vader = dataclasses.replace(challenger, champion="vader")
        return "vader", evaluate_on_holdout(vader, holdout_texts, holdout_ratings)
    counts = challenger.report["class_counts"]
    majority = max(LABELS, key=lambda label: counts.get(label, 0))
    truth = labels_from_ratings(holdout_ratings)
    return f"majority class ({majority})", classification_metrics(
        truth, np.full(len(truth), majority), np.zeros(len(truth))
    )


def gate_verdict(
    serving_engine: str, serving_metric: float, baseline_name: str, baseline_metric: float, metric: str
) -> tuple[bool, str]:
    if serving_engine == "vader" and baseline_name == "vader":
        return True, (
            f"VADER itself serves: the library's rule chose it as the better engine on the holdout "
            f"({metric}={serving_metric:.4f})"
        )
    passed = serving_metric > baseline_metric
    verb = "beats" if passed else "does not beat"
    return passed, (
        f"serving model ({serving_engine}) {metric}={serving_metric:.4f} {verb} the baseline "
        f"{baseline_name} {metric}={baseline_metric:.4f} on the same holdout"
    )


# --- review tables core (no Dagster) -----------------------------------------------------------------------


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
    from customer_assets.ml.text import vader_scores

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


def review_topic_assignments(texts: pl.Series, knobs: ReviewKnobs, notes: list[str]):
    """(topic_id per text, TopicResult or None). LDA is fitted on at most `topics_max_docs` texts (a seeded
    sample) and the rest are assigned with the fitted model."""
    from customer_assets.ml.text import fit_topics

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


def review_aspects(texts: pl.Series, model, knobs: ReviewKnobs, notes: list[str]) -> pl.DataFrame:
    """Aspect mentions (doc_index, aspect, sentiment_label); empty without a way to score them."""
    from customer_assets.ml.text import extract_aspects

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


def build_review_tables(reviews: pl.DataFrame, model, as_of: dt.date, knobs: ReviewKnobs) -> ReviewTables:
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


def comparison_rows(metric_sets: dict[str, dict | None]) -> list[dict]:
    """One row per metric, one column per model (challenger, champion, baseline) on the same holdout."""
    present = {name: metrics for name, metrics in metric_sets.items() if metrics}
    names = ["accuracy", "macro_f1", "binary_accuracy", *[f"f1_{label}" for label in LABELS]]

    def value(metrics: dict, name: str):
        if name.startswith("f1_"):
            return float(metrics.get("per_class_f1", {}).get(name[3:], float("nan")))
        return float(metrics.get(name, float("nan")))

    return [{"metric": name, **{model: value(metrics, name) for model, metrics in present.items()}} for name in names]


def _plot_dir(home: str) -> Path:
    path = Path(home) / "plots" / GROUP
    path.mkdir(parents=True, exist_ok=True)
    return path


def plot_comparison(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [k for k in rows[0] if k != "metric"]
    x = np.arange(len(rows))
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, model in enumerate(models):
        ax.bar(x + i * width, [row[model] for row in rows], width, label=model)
    ax.set_xticks(x + width * (len(models) - 1) / 2, [row["metric"] for row in rows], rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_title("Review sentiment: challenger, champion and baseline on the same holdout rows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_coherence(coherence: pl.DataFrame, chosen_k: int, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, left = plt.subplots(figsize=(6, 3.5))
    left.plot(coherence["k"], coherence["c_v"], marker="o", label="c_v")
    left.set_xlabel("number of topics k")
    left.set_ylabel("c_v")
    right = left.twinx()
    right.plot(coherence["k"], coherence["u_mass"], marker="s", color="tab:orange", label="u_mass")
    right.set_ylabel("u_mass")
    left.axvline(chosen_k, color="grey", linestyle="--")
    left.set_title(f"Topic coherence (chosen k = {chosen_k})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _image(path: Path) -> dict:
    return {"plot": dg.MetadataValue.path(str(path)), "plot_preview": dg.MetadataValue.md(f"![plot]({path.as_uri()})")}


# --- assets ------------------------------------------------------------------------------------------------


def _sentiment_model_asset() -> dg.AssetsDefinition:
    @training_asset(
        MODEL,
        config_schema=knob_config(
            ReviewKnobs, ("min_reviews", "holdout_fraction", "regularisation_c", "promotion_margin", "seed")
        ),
        deps=[STG_REVIEWS],
        kinds={"mlflow", "scikit-learn", "nltk"},
        description="Review sentiment (negative/neutral/positive + score in [-1, 1]) trained on the reviews up to "
        "the as-of date: TF-IDF + logistic regression on rating labels vs VADER, the better one on the "
        "holdout kept. Compared with the registered champion on the challenger's holdout and "
        "registered in MLflow as 'review_sentiment'; the champion alias moves only if it wins by the "
        "margin. Skipped with a note when there are too few labelled reviews or a single class.",
        gate_description="The model that serves after the decision (champion) beats its baseline on the holdout: "
        "VADER for English (passes when VADER itself is the chosen engine), else the majority "
        "class. Metadata: decision, reason and both metric sets.",
    )
    def sentiment_model(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource
    ) -> dg.MaterializeResult:
        from customer_assets.ml.text import evaluate_on_holdout, train_sentiment_model

        knobs = run_knobs(context, review_knobs())
        client = warehouse.client()
        as_of = training_as_of(context, client)
        labelled = labelled_reviews(load_reviews(client, as_of), knobs)
        skip = training_skip_reason(labelled, knobs)
        if skip:
            context.log.warning(skip)
            current = mlflow.registry().champion_version(MODEL_NAME)
            note = skip + (f"; champion version {current} keeps serving" if current else "; no champion exists")
            return dg.MaterializeResult(
                metadata={
                    "note": note,
                    "as_of_date": str(as_of),
                    "labelled_reviews": labelled.height,
                    "trained": False,
                    "champion_version": current or lifecycle.NO_VERSION,
                },
                check_results=[
                    dg.AssetCheckResult(
                        check_name=GATE_CHECK,
                        passed=True,
                        metadata={"note": "nothing trained, nothing to gate: " + note},
                    )
                ],
            )

        texts, ratings = labelled["review_text"], labelled["rating"]
        challenger = train_sentiment_model(
            texts,
            ratings,
            language=knobs.language,
            seed=knobs.seed,
            holdout_fraction=knobs.holdout_fraction,
            C=knobs.regularisation_c,
            refit_on_all=False,
        )  # its holdout must stay unseen for the gate
        holdout = np.asarray(challenger.holdout_rows)
        # Recorded so that the next challenger can be compared with this model on reviews it never saw.
        challenger.trained_review_ids = (
            labelled["review_id"].filter(~pl.Series(np.isin(np.arange(labelled.height), holdout))).to_numpy()
        )
        metric = challenger.report["primary_metric"]

        champion = lifecycle.load_champion(mlflow.registry(), MODEL_NAME)
        champion_model = champion.model
        rows, compared_on = comparison_rows_for(challenger, labelled, champion_model)
        holdout_texts, holdout_ratings = texts.gather(rows), ratings.gather(rows)
        challenger_eval = evaluate_on_holdout(challenger, holdout_texts, holdout_ratings)
        # A champion that cannot be loaded or cannot score these reviews (an incompatible library version) is
        # replaced by the lifecycle, and the run says which version and why.
        champion_eval, champion_note = lifecycle.evaluate_champion(
            champion, lambda old: evaluate_on_holdout(old, holdout_texts, holdout_ratings)
        )
        champion_note = champion_note or ""
        if champion_note:
            context.log.warning(champion_note)
            champion_model = None
        decision = lifecycle.decide(
            metric,
            challenger_eval[metric],
            champion_eval[metric] if champion_eval else None,
            champion_exists=champion.exists,
            champion_error=champion_note or None,
            higher_is_better=True,
            margin=knobs.promotion_margin,
        )

        baseline_name, baseline = baseline_on_holdout(challenger, holdout_texts, holdout_ratings)
        rows_md = comparison_rows({"challenger": challenger_eval, "champion": champion_eval, baseline_name: baseline})
        plot = plot_comparison(rows_md, _plot_dir(warehouse.home) / "sentiment_holdout.png")
        report = {
            **challenger.report,
            "as_of_date": str(as_of),
            "comparison": {
                "compared_on": compared_on,
                "challenger": challenger_eval,
                "champion": champion_eval,
                "baseline_name": baseline_name,
                "baseline": baseline,
                "decision": decision.reason,
                "margin": knobs.promotion_margin,
                "champion_note": champion_note,
            },
        }
        logged = mlflow.registry().log_and_register(
            MODEL_NAME,
            challenger,
            report,
            decision,
            params={**dataclasses.asdict(knobs), "as_of": str(as_of)},
            artifacts={"sentiment_holdout": plot},
            tags={"domain": GROUP, "as_of": str(as_of), "language": knobs.language, "engine": challenger.champion},
        )
        serving_eval = challenger_eval if decision.promote else champion_eval
        serving_engine = challenger.champion if decision.promote else champion_model.champion
        passed, gate_reason = gate_verdict(
            serving_engine, serving_eval[metric], baseline_name, baseline[metric], metric
        )
        serving_version = logged.version if decision.promote else champion.version
        context.log.info(f"{decision.reason}; gate: {gate_reason}")
        metadata = {
            "as_of_date": str(as_of),
            "trained": True,
            "labelled_reviews": labelled.height,
            "class_counts": dg.MetadataValue.json(challenger.report["class_counts"]),
            "engine": challenger.champion,
            "language": knobs.language,
            "vader_note": challenger.report["vader_note"],
            "metrics": dg.MetadataValue.json(challenger.report["metrics"]),
            "engines_on_holdout": dg.MetadataValue.json(challenger.report["engines"]),
            "comparison": dg.MetadataValue.md(markdown_table(rows_md, float_digits=4)),
            "compared_on": compared_on,
            "decision": decision.reason,
            "promoted": decision.promote,
            "mlflow_run_id": logged.run_id,
            "model_version": logged.version,
            "champion_version": serving_version if serving_version is not None else lifecycle.NO_VERSION,
            **_image(plot),
        }
        if champion_note:
            metadata["champion_note"] = champion_note
        check = lifecycle.gate_check(
            metric=metric,
            higher_is_better=True,
            serving_version=serving_version,
            serving_score=serving_eval[metric],
            baselines={baseline_name: baseline[metric]},
            decision=decision,
            passed=passed,
            why=((challenger.report.get("model_vs_baseline") or {}).get("served_reason") or gate_reason)
            + f"; gate vs {baseline_name}: {gate_reason}",
            serving_label=serving_engine,
            extra={
                "promoted": decision.promote,
                "reason": gate_reason,
                "compared_on": compared_on,
                "serving_engine": serving_engine,
                "serving_metrics": dg.MetadataValue.json(serving_eval),
                "challenger_metrics": dg.MetadataValue.json(challenger_eval),
                "champion_metrics": dg.MetadataValue.json(champion_eval or {}),
                "baseline": baseline_name,
                "baseline_metrics": dg.MetadataValue.json(baseline),
            },
        )
        return dg.MaterializeResult(metadata=metadata, check_results=[check])

    return sentiment_model


def _table_checks(tables: ReviewTables) -> dict[dg.AssetKey, list[dg.AssetCheckResult]]:
    """Checks on the rows written for this partition only."""
    sentiment, products, customers = tables.review_sentiment, tables.product_sentiment, tables.customer_sentiment
    scores = sentiment["sentiment_score"].drop_nulls()
    bad_labels = sentiment.filter(
        pl.col("sentiment_label").is_not_null() & ~pl.col("sentiment_label").is_in(list(LABELS))
    ).height
    duplicates = sentiment.height - sentiment["review_id"].n_unique()
    with_mix = products.filter(pl.col("positive_share").is_not_null())
    share_sum = with_mix.select(pl.sum_horizontal("positive_share", "neutral_share", "negative_share"))
    off_shares = int((share_sum.to_series() - 1).abs().gt(1e-6).sum()) if with_mix.height else 0
    customer_dupes = customers.height - customers["customer_id"].n_unique()
    customer_out = customers.filter(
        ~pl.col("avg_sentiment").is_between(-1, 1) | ~pl.col("last_sentiment").is_between(-1, 1)
    ).height
    return {
        SENTIMENT_KEY: [
            dg.AssetCheckResult(
                asset_key=SENTIMENT_KEY,
                check_name="valid_review_sentiment",
                passed=duplicates == 0 and bad_labels == 0 and (scores.is_empty() or scores.abs().max() <= 1),
                metadata={
                    "duplicate_review_ids": duplicates,
                    "unknown_labels": bad_labels,
                    "max_abs_score": float(scores.abs().max()) if len(scores) else 0.0,
                },
            )
        ],
        PRODUCT_KEY: [
            dg.AssetCheckResult(
                asset_key=PRODUCT_KEY,
                check_name="sentiment_shares_sum_to_one",
                passed=off_shares == 0,
                metadata={"products_off": off_shares},
            )
        ],
        CUSTOMER_KEY: [
            dg.AssetCheckResult(
                asset_key=CUSTOMER_KEY,
                check_name="one_row_per_customer_in_range",
                passed=customer_dupes == 0 and customer_out == 0,
                metadata={"duplicate_customers": customer_dupes, "out_of_range": customer_out},
            )
        ],
    }


def _review_tables_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    tables = [
        Table(
            "marts.review_topics",
            deps=[STG_REVIEWS],
            kinds={"gensim", "duckdb"},
            description="marts.review_topics: LDA topics of the reviews up to the as-of date (as_of_date, "
            "topic_id, label, top_terms, size), k chosen by c_v coherence within "
            "CUSTOMER_ML_REVIEW_TOPICS_K_MIN..K_MAX; coherence and stability in metadata.",
        ),
        Table(
            "marts.review_sentiment",
            deps=[STG_REVIEWS, MODEL_KEY, TOPICS_KEY],
            kinds={"mlflow", "nltk", "duckdb"},
            description="marts.review_sentiment: every review up to the as-of date scored by the champion "
            "sentiment model (review_id, customer_id, product_id, as_of_date, review_date, "
            "review_ts, rating, sentiment_label, sentiment_score, topic_id, aspects as a list "
            "of 'aspect:label'). Null sentiment = no words to judge.",
        ),
        Table(
            "marts.product_sentiment",
            deps=[SENTIMENT_KEY, STG_PRODUCTS],
            kinds={"polars", "duckdb"},
            description="marts.product_sentiment: per product as of the day: review_count, "
            "average_rating, positive/neutral/negative shares, average_sentiment, top aspects "
            "praised and criticized.",
        ),
        Table(
            "marts.customer_sentiment",
            deps=[SENTIMENT_KEY],
            kinds={"polars", "duckdb"},
            description="marts.customer_sentiment: per customer as of the day: avg_sentiment and "
            "last_sentiment. Churn joins it onto marts.customer_features on "
            "(customer_id, as_of_date).",
        ),
    ]
    check_specs = [
        dg.AssetCheckSpec(
            "valid_review_sentiment",
            asset=SENTIMENT_KEY,
            description="One row per review, labels in negative/neutral/positive, scores in [-1, 1].",
        ),
        dg.AssetCheckSpec(
            "sentiment_shares_sum_to_one",
            asset=PRODUCT_KEY,
            description="Positive, neutral and negative shares add up to 1 for every product "
            "with scored reviews (products whose reviews have no text have null shares).",
        ),
        dg.AssetCheckSpec(
            "one_row_per_customer_in_range",
            asset=CUSTOMER_KEY,
            description="One row per customer; average and last sentiment in [-1, 1].",
        ),
    ]

    @scoring_multi_asset(
        MODEL,
        "review_analytics",
        tables,
        partitions_def=partitions_def,
        check_specs=tuple(check_specs),
        description="Review tables as of the partition's day, in one step: topics, scored reviews with aspects, "
        "product and customer sentiment. Each partition is replaced, never appended.",
        config_schema=knob_config(ReviewKnobs, ("topics_k_min", "topics_k_max", "top_aspects", "seed")),
    )
    def review_analytics(context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):

        knobs = run_knobs(context, review_knobs())
        as_of = dt.date.fromisoformat(context.partition_key)
        client = warehouse.client()
        reviews = load_reviews(client, as_of)
        champion = mlflow.registry().load_champion(MODEL_NAME) if not reviews.is_empty() else None
        model, version = champion if champion else (None, None)
        tables = build_review_tables(reviews, model, as_of, knobs)
        for note in tables.notes:
            context.log.info(note)
        notes_md = dg.MetadataValue.md("\n".join(f"- {n}" for n in tables.notes) or "_none_")
        checks = _table_checks(tables)
        outputs = [
            (TOPICS_KEY, "review_topics", tables.review_topics),
            (SENTIMENT_KEY, "review_sentiment", tables.review_sentiment),
            (PRODUCT_KEY, "product_sentiment", tables.product_sentiment),
            (CUSTOMER_KEY, "customer_sentiment", tables.customer_sentiment),
        ]
        for key, table, frame in outputs:
            replaced = client.replace_partitions("marts", table, frame, "as_of_date", as_of, as_of)
            metadata = {
                **frame_metadata(frame),
                "table": f"marts.{table}",
                "as_of_date": str(as_of),
                "rows_replaced": replaced,
                "notes": notes_md,
            }
            if key == SENTIMENT_KEY:
                metadata["model_version"] = version or 0
                metadata["engine"] = model.champion if model else ("vader" if knobs.language == "english" else "none")
                metadata["label_counts"] = dg.MetadataValue.json(
                    dict(frame["sentiment_label"].fill_null("unscored").value_counts().iter_rows())
                )
            if key == TOPICS_KEY and tables.topic_report:
                report = tables.topic_report
                metadata.update(
                    {
                        "chosen_k": report["chosen_k"],
                        "coherence": dg.MetadataValue.md(markdown_table(report["coherence_by_k"], float_digits=4)),
                        "c_v": report["metrics"]["c_v"],
                        "stability_mean_jaccard": report["stability"]["mean_jaccard"] or 0.0,
                        "topic_report": dg.MetadataValue.json(json.loads(json.dumps(report, default=str))),
                        **_image(
                            plot_coherence(
                                tables.coherence,
                                report["chosen_k"],
                                _plot_dir(warehouse.home) / f"topic_coherence_{as_of}.png",
                            )
                        ),
                    }
                )
            yield dg.MaterializeResult(asset_key=key, metadata=metadata, check_results=checks.get(key, []))

    return review_analytics


def build_review_assets(partitions_def: dg.PartitionsDefinition) -> list:
    return [_sentiment_model_asset(), _review_tables_asset(partitions_def)]
