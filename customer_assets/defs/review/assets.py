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
cutoffs, call `customer_assets.ml.text.review_tables.customer_sentiment_as_of(review_sentiment_rows, cutoff)`
on the as-of-D rows of `marts.review_sentiment`: it keeps only reviews dated up to the cutoff, so no later
review leaks in.
"""

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
import polars as pl

from customer_assets.config import read_section, section, setting
from customer_assets.defs.metadata import frame_metadata, markdown_table
from customer_assets.defs.model_assets import Table, knob_config, run_knobs, scoring_multi_asset, training_asset
from customer_assets.defs.resources import MlflowResource, WarehouseResource
from customer_assets.mlops import lifecycle
from customer_assets.models import SENTIMENT
from customer_assets.warehouse.reads.review import load_reviews, training_as_of

if TYPE_CHECKING:
    from customer_assets.ml.text.review_tables import ReviewTables

# customer_assets.ml.text (scikit-learn, gensim, NLTK) is imported inside the asset bodies, so that loading the
# definitions stays fast: the decisions are in ml/text/promotion.py, the tables in ml/text/review_tables.py and
# the plots in ml/text/plots.py.

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
LABELS = ("negative", "neutral", "positive")


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


def _plot_dir(home: str) -> Path:
    path = Path(home) / "plots" / GROUP
    path.mkdir(parents=True, exist_ok=True)
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
        from customer_assets.ml.text.plots import plot_comparison
        from customer_assets.ml.text.promotion import (
            baseline_on_holdout,
            comparison_rows,
            comparison_rows_for,
            gate_verdict,
            labelled_reviews,
            training_skip_reason,
        )

        knobs = run_knobs(context, review_knobs())
        client = warehouse.client()
        as_of = training_as_of(client, context.run.tags.get("dagster/partition") if context.run else None)
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


def _table_checks(tables: "ReviewTables") -> dict[dg.AssetKey, list[dg.AssetCheckResult]]:
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
        from customer_assets.ml.text.plots import plot_coherence
        from customer_assets.ml.text.review_tables import build_review_tables

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
