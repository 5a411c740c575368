"""Benchmark of the review analytics library (customer_assets.ml.text).

    .venv/bin/python benchmarks/bench_text.py [--rows 1000000] [--lda-rows 200000] [--seed 0]

Stages: train sentiment on the real app reviews (../shared/data/app_reviews; holdout accuracy and
macro-F1 of TF-IDF+LR beside VADER), predict sentiment for --rows reviews, fit LDA topics on --lda-rows
reviews, extract aspects from the real reviews. Large inputs are the real reviews resampled with
replacement (the real data has 10,000 rows), so texts, lengths and vocabulary stay real; without the
shared data a synthetic corpus stands in and the quality figures say so. Targets (issue 6): sentiment
for 1M reviews < 180 s, LDA on 200k < 300 s, binary accuracy gain over VADER >= 0.10.
Writes the figures as JSON to $CUSTOMER_ML_HOME/bench/text.json (default .customer_ml in the repo).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from customer_assets.ml.text import extract_aspects, fit_topics, train_sentiment_model  # noqa: E402

REVIEWS = REPO.parent / "shared" / "data" / "app_reviews" / "shopping_app_reviews.csv"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_reviews(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    good = ["great quality", "fast delivery", "love it", "excellent value", "works perfectly", "very helpful support"]
    bad = ["terrible quality", "slow shipping", "broke after a day", "overpriced", "rude customer service", "never arrived"]
    ratings = rng.integers(1, 6, n)
    phrases = np.where(ratings[:, None] >= 4, rng.choice(good, (n, 2)), rng.choice(bad, (n, 2)))
    texts = [f"{a}, {b}" for a, b in phrases]
    return pl.DataFrame({"content": texts, "score": ratings})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="reviews to score for sentiment")
    parser.add_argument("--lda-rows", type=int, default=200_000, help="reviews to fit topics on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    figures: dict = {"rows": args.rows, "lda_rows": args.lda_rows, "seed": args.seed, "stages": {}}
    if REVIEWS.exists():
        reviews = pl.read_csv(REVIEWS).select("content", "score")
        figures["data"] = f"real app reviews ({reviews.height} rows); large inputs resampled with replacement"
    else:
        reviews = synthetic_reviews(10_000, args.seed)
        figures["data"] = "SYNTHETIC stand-in: shared app reviews absent; quality figures are not meaningful"
    print(figures["data"])
    rng = np.random.default_rng(args.seed)

    start = time.perf_counter()
    model = train_sentiment_model(reviews["content"], reviews["score"], seed=args.seed)
    figures["stages"]["sentiment_train_s"] = time.perf_counter() - start
    report = model.report
    figures["sentiment"] = {
        "champion": report["champion"],
        "engines": report["engines"],
        "binary_accuracy_gain_over_vader": report["binary_accuracy_gain_over_vader"],
        "target_gain": 0.10,
        "n_train": report["n_train"],
        "n_holdout": report["n_holdout"],
    }
    for engine, metrics in report["engines"].items():
        print(f"{engine:13s} accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
              f"binary accuracy {metrics['binary_accuracy']:.4f}")
    print(f"binary accuracy gain over VADER: {report['binary_accuracy_gain_over_vader']}")

    texts = reviews["content"].gather(rng.integers(0, reviews.height, args.rows))
    start = time.perf_counter()
    predictions = model.predict(texts)
    elapsed = time.perf_counter() - start
    figures["stages"]["sentiment_predict_s"] = elapsed
    figures["sentiment_predict_rows_per_s"] = args.rows / elapsed
    figures["sentiment_label_mix"] = dict(predictions["sentiment_label"].value_counts().iter_rows())
    print(f"sentiment predict {args.rows:,} reviews: {elapsed:.1f} s (target < 180 s)")
    del predictions, texts

    lda_texts = reviews["content"].gather(rng.integers(0, reviews.height, args.lda_rows))
    start = time.perf_counter()
    topics = fit_topics(lda_texts, k_range=(4, 10), seed=args.seed)
    elapsed = time.perf_counter() - start
    figures["stages"]["lda_fit_s"] = elapsed
    figures["topics"] = {
        "chosen_k": topics.chosen_k,
        "coherence_by_k": topics.coherence.to_dicts(),
        "stability_mean_jaccard": topics.stability["mean_jaccard"],
        "final_c_v": topics.report["metrics"]["c_v"],
        "topics": topics.topics.with_columns(pl.col("top_terms").list.join(", ")).to_dicts(),
        "stage_seconds": topics.report.get("seconds"),
    }
    print(f"LDA on {args.lda_rows:,} reviews: {elapsed:.1f} s (target < 300 s); k={topics.chosen_k}")
    print(topics.coherence)
    for row in topics.topics.iter_rows(named=True):
        print(f"  topic {row['topic_id']}: {row['label']}  (size {row['size']})")

    start = time.perf_counter()
    aspects = extract_aspects(reviews["content"], sentiment_model=model)
    figures["stages"]["aspects_real_reviews_s"] = time.perf_counter() - start
    figures["aspects"] = (
        aspects.group_by("aspect", "sentiment_label").len().sort("aspect", "sentiment_label").to_dicts()
    )
    print(aspects.group_by("aspect").agg(pl.len(), pl.col("sentiment_score").mean()).sort("aspect"))

    figures["peak_rss_mb"] = peak_rss_mb()
    print(f"peak RSS {figures['peak_rss_mb']:.0f} MB")
    home = Path(os.environ.get("CUSTOMER_ML_HOME", REPO / ".customer_ml"))
    out = home / "bench" / "text.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
