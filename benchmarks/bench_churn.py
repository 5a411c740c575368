"""Churn benchmark: train on an N-row snapshot set, score N current customers with reasons for the top 10%.

    .venv/bin/python benchmarks/bench_churn.py [--rows 1000000] [--cutoffs 4] [--budget 60]

Targets on this machine (2 cores): training under 5 minutes, scoring (probabilities for every customer,
risk levels, and reasons for the riskiest 10%) under 60 seconds. Data is synthetic
(``customer_assets.ml.churn.synthetic``), shaped like ``customer_features`` with a known hazard.
Writes the figures to ``$CUSTOMER_ML_HOME/bench/churn.json`` (default ``.customer_ml`` in the repo root).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from customer_assets.ml.churn import evaluate_on_holdout, train_churn_model  # noqa: E402
from customer_assets.ml.churn.synthetic import make_churn_snapshots  # noqa: E402

TOP_SHARE_WITH_REASONS = 0.10
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REAL_WINDOW_DAYS = 90
REAL_ACTIVE_WITHIN_DAYS = 365


def movielens_snapshots(folder: Path) -> pl.DataFrame:
    """Real activity as churn snapshots: MovieLens users = customers, days with ratings = orders.

    Quarterly cutoffs; features only from activity before each cutoff; churned = no rating day in the
    90 days after it. Only users active in the year before a cutoff are snapshotted.
    """
    ratings = pl.read_csv(folder / "ratings.csv").with_columns(
        pl.from_epoch("timestamp", time_unit="s").dt.date().alias("day")
    )
    genres = pl.read_csv(folder / "movies.csv").select("movieId", pl.col("genres").str.split("|"))
    ratings = ratings.join(genres, on="movieId", how="left")
    tags = pl.read_csv(folder / "tags.csv").with_columns(pl.from_epoch("timestamp", time_unit="s").dt.date().alias("day"))
    first, last = ratings["day"].min(), ratings["day"].max()
    cutoffs = pl.date_range(first + dt.timedelta(days=365), last - dt.timedelta(days=REAL_WINDOW_DAYS), "3mo", eager=True)
    snapshots = []
    for cutoff in cutoffs:  # one pass per cutoff date (about 85), each vectorised over all ratings
        before = ratings.filter(pl.col("day") < cutoff)
        days_ago = (pl.lit(cutoff) - pl.col("day")).dt.total_days()
        features = before.group_by("userId").agg(
            days_ago.min().alias("recency_days"),
            pl.col("day").n_unique().alias("frequency"),
            pl.len().alias("monetary"),
            days_ago.max().alias("tenure_days"),
            pl.col("day").filter(days_ago <= 90).n_unique().alias("orders_90d"),
            pl.col("day").filter((days_ago > 90) & (days_ago <= 180)).n_unique().alias("orders_prev_90d"),
            pl.col("rating").mean().alias("avg_rating"),
            pl.col("genres").list.explode(keep_nulls=False, empty_as_null=False).n_unique().alias("category_breadth"),
        ).filter(pl.col("recency_days") <= REAL_ACTIVE_WITHIN_DAYS)
        reviews = tags.filter(pl.col("day") < cutoff).group_by("userId").agg(pl.len().alias("review_count"))
        future = ratings.filter(
            (pl.col("day") >= cutoff) & (pl.col("day") < cutoff + dt.timedelta(days=REAL_WINDOW_DAYS))
        ).select("userId").unique().with_columns(pl.lit(0, pl.Int8).alias("churned"))
        snapshots.append(
            features.join(reviews, on="userId", how="left").join(future, on="userId", how="left").with_columns(
                pl.lit(cutoff).alias("cutoff_date"),
                pl.col("review_count").fill_null(0),
                pl.col("churned").fill_null(1).cast(pl.Int8),
                (pl.col("orders_90d") - pl.col("orders_prev_90d")).alias("order_trend"),
                pl.col("userId").cast(pl.String).alias("customer_id"),
            ).drop("userId")
        )
    return pl.concat(snapshots)


def real_data_figures(budget: float, seed: int) -> dict:
    folder = SHARED_DATA / "movielens-small"
    if not (folder / "ratings.csv").exists():
        return {"skipped": f"{folder} is absent"}
    frame = movielens_snapshots(folder)
    started, cpu_started = time.perf_counter(), cpu_seconds()
    model = train_churn_model(frame, time_column="cutoff_date", seed=seed, search_budget_seconds=budget,
                              label_window_days=REAL_WINDOW_DAYS)
    report = model.report
    return {
        "data": "MovieLens latest-small: users as customers, rating days as orders, quarterly cutoffs",
        "rows": frame.height, "customers": frame["customer_id"].n_unique(), "base_rate": float(frame["churned"].mean()),
        "train_seconds": round(time.perf_counter() - started, 2),
        "chosen_family": report["chosen_family"], "holdout_metrics": report["metrics"], "cv_metrics": report["cv_metrics"],
        "baselines": report["baselines"], "comparison_table": report["comparison_table"], "split": report["split"],
        "example_reasons": model.explain(frame.tail(3))["top_reasons"].to_list(),
    }


def cpu_seconds() -> float:
    """User + system CPU time of this process: wall time on a shared machine mostly measures the neighbours."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the training snapshot set and customers scored")
    parser.add_argument("--cutoffs", type=int, default=4, help="snapshots (cutoff dates) per customer in training")
    parser.add_argument("--budget", type=float, default=60.0, help="hyperparameter search budget in seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-only", action="store_true", help="only the real-data (MovieLens-derived) figures")
    args = parser.parse_args()

    real = real_data_figures(budget=min(args.budget, 20.0), seed=args.seed)
    print("real data (MovieLens-derived churn):", json.dumps(
        {k: real.get(k) for k in ("rows", "customers", "base_rate", "chosen_family", "holdout_metrics", "baselines")}, default=str))
    if args.real_only:
        return
    figures: dict = {"real_data": real, "rows": args.rows, "cutoffs": args.cutoffs, "search_budget_seconds": args.budget,
                     "cpu_count": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    started = time.perf_counter()
    snapshots = make_churn_snapshots(n_customers=args.rows // args.cutoffs, n_cutoffs=args.cutoffs, seed=args.seed)
    figures["generate_seconds"] = round(time.perf_counter() - started, 2)
    print(f"generated {snapshots.height:,} snapshot rows in {figures['generate_seconds']} s", flush=True)

    started, cpu_started = time.perf_counter(), cpu_seconds()
    model = train_churn_model(
        snapshots, label="churned", id_column="customer_id", time_column="cutoff_date",
        seed=args.seed, search_budget_seconds=args.budget, label_window_days=90,
    )
    figures["train_seconds"] = round(time.perf_counter() - started, 2)
    figures["train_cpu_seconds"] = round(cpu_seconds() - cpu_started, 2)
    figures["train_target_seconds"] = 300
    print(f"trained in {figures['train_seconds']} s wall, {figures['train_cpu_seconds']} s CPU (target < 300 s); "
          f"chosen {model.family}; load average {os.getloadavg()}", flush=True)

    current = make_churn_snapshots(n_customers=args.rows, n_cutoffs=1, seed=args.seed + 1)
    started, cpu_started = time.perf_counter(), cpu_seconds()
    probabilities = model.predict_proba(current)
    levels = model.risk_level(probabilities)
    probability_seconds = time.perf_counter() - started
    top_count = int(np.ceil(TOP_SHARE_WITH_REASONS * current.height))
    top_rows = np.argpartition(-probabilities, top_count - 1)[:top_count]
    reasons = model.explain(current[np.sort(top_rows)], top_k=3)
    figures["score_seconds"] = round(time.perf_counter() - started, 2)
    figures["score_cpu_seconds"] = round(cpu_seconds() - cpu_started, 2)
    figures["score_probability_seconds"] = round(probability_seconds, 2)
    figures["score_reasons_seconds"] = round(figures["score_seconds"] - probability_seconds, 2)
    figures["score_target_seconds"] = 60
    figures["scored_customers"] = current.height
    figures["customers_with_reasons"] = reasons.height
    figures["risk_level_shares"] = {level: float(np.mean(levels == level)) for level in ("Low", "Medium", "High")}
    figures["example_reasons"] = reasons.head(3).select("churn_probability", "top_reasons").to_dicts()
    print(f"scored {current.height:,} customers + reasons for {reasons.height:,} in {figures['score_seconds']} s "
          f"(probabilities {figures['score_probability_seconds']} s; {figures['score_cpu_seconds']} s CPU; target < 60 s)", flush=True)

    # Fresh customers drawn from the same hazard: a second, independent holdout.
    current_metrics = evaluate_on_holdout(model, current)
    report = model.report
    figures["quality"] = {
        "chosen_family": report["chosen_family"],
        "chosen_imbalance": report["chosen_imbalance"],
        "explanations": report["explanations"],
        "threshold": report["threshold"],
        "holdout_metrics": report["metrics"],
        "cv_metrics": report["cv_metrics"],
        "baselines": report["baselines"],
        "comparison_table": report["comparison_table"],
        "imbalance_comparison": report["imbalance_comparison"],
        "families": {f: {k: v for k, v in s.items() if k not in ("cv", "holdout")} for f, s in report["families"].items()},
        "fresh_customers_metrics": {k: v for k, v in current_metrics.items() if not k.startswith("baseline")},
        "training_timings_seconds": report["timings_seconds"],
        "split": report["split"],
    }
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    figures["load_average_at_end"] = os.getloadavg()

    print(json.dumps(figures["quality"]["comparison_table"], indent=1))
    print(f"holdout ROC-AUC {report['metrics']['roc_auc']:.4f}  PR-AUC {report['metrics']['pr_auc']:.4f}  "
          f"F1 {report['metrics']['f1']:.4f}  Brier {report['metrics']['brier']:.4f}  base rate {report['metrics']['base_rate']:.4f}")
    print(f"peak RSS {figures['peak_rss_mb']} MB")
    home = Path(os.environ.get("CUSTOMER_ML_HOME", REPO_ROOT / ".customer_ml"))
    output = home / "bench" / "churn.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(figures, indent=1, default=str))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
