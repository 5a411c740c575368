"""Benchmark the recommender: synthetic 1M customers x 20k products (fit + top-10 for every customer) and the
MovieLens-small time-split metrics beside popularity.

    .venv/bin/python benchmarks/bench_recommend.py [--rows N_CUSTOMERS] [--products N] [--skip-movielens]
        [--exposure-cap off|auto|TAIL[:FAIR_SHARE]]

MovieLens is fitted with exposure_cap="auto" (chosen on validation) and evaluated with the chosen cap and with
none; the holdout figures of every EXPOSURE_OPTIONS setting are printed as the trade-off curve (reporting
only: nothing is chosen on the holdout).

Writes $CUSTOMER_ML_HOME/bench/recommend.json (CUSTOMER_ML_HOME defaults to .customer_ml in the repo root).
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

from customer_assets.ml.recommend import evaluate_recommender, fit_recommender, time_split  # noqa: E402
from customer_assets.ml.recommend.evaluate import recommend_as_batch  # noqa: E402
from customer_assets.ml.recommend.recommender import EXPOSURE_OPTIONS  # noqa: E402

MOVIELENS = REPO.parent / "shared" / "data" / "movielens-small"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def cpu_seconds() -> float:
    """Process CPU time: with other jobs on the 2 shared cores, wall time alone overstates the cost."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def synthetic(n_customers: int, n_products: int, mean_items: float, seed: int):
    """Customers in 50 taste groups buy mostly from their group's 4 categories (Zipf within a category)."""
    rng = np.random.default_rng(seed)
    n_categories, per_taste, n_tastes = 100, 4, 50
    category_of = np.arange(n_products) % n_categories
    rank_in_category = np.arange(n_products) // n_categories
    per_category = int(np.ceil(n_products / n_categories))
    taste_categories = rng.integers(0, n_categories, (n_tastes, per_taste))
    counts = rng.poisson(mean_items - 1, n_customers) + 1
    customer = np.repeat(np.arange(n_customers), counts)
    taste = rng.integers(0, n_tastes, n_customers)[customer]
    category = np.where(rng.random(customer.size) < 0.8,
                        taste_categories[taste, rng.integers(0, per_taste, customer.size)],
                        rng.integers(0, n_categories, customer.size))
    # Zipf-like rank within the category: rank = floor(per_category ** u) - 1 with u uniform.
    rank = (np.floor(per_category ** rng.random(customer.size)) - 1).astype(np.int64)
    product = np.minimum(rank * n_categories + category, n_products - 1)
    day = rng.integers(0, 365, customer.size)
    interactions = pl.DataFrame({
        "customer_id": customer.astype(np.int64), "product_id": product.astype(np.int64),
        "weight": np.ones(customer.size), "ts": (1_700_000_000 + day * 86_400).astype(np.int64),
    })
    products = pl.DataFrame({
        "product_id": np.arange(n_products, dtype=np.int64),
        "name": [f"item {c} model {r}" for c, r in zip(category_of, rank_in_category)],
        "category": [f"cat{c}" for c in category_of],
        "price": rng.lognormal(3, 1, n_products),
    })
    return interactions, products


def bench_synthetic(n_customers: int, n_products: int, mean_items: float, candidates: list[str] | None,
                    exposure_cap: str | None = None) -> dict:
    out = {"n_customers": n_customers, "n_products": n_products, "exposure_cap_setting": str(exposure_cap)}
    tick = time.perf_counter()
    interactions, products = synthetic(n_customers, n_products, mean_items, seed=0)
    out["generate_seconds"] = round(time.perf_counter() - tick, 1)
    out["n_interactions"] = interactions.height
    print(f"synthetic: {interactions.height:,} interactions ({out['generate_seconds']} s)", flush=True)
    tick, cpu = time.perf_counter(), cpu_seconds()
    rec = fit_recommender(interactions, products=products, seed=0, candidates=candidates, exposure_cap=exposure_cap)
    out["fit_seconds"] = round(time.perf_counter() - tick, 1)
    out["fit_cpu_seconds"] = round(cpu_seconds() - cpu, 1)
    print(f"fit {out['fit_seconds']} s, chosen {rec.report['chosen_model']}: {rec.report['why']}", flush=True)
    del interactions
    tick, cpu = time.perf_counter(), cpu_seconds()
    recs = rec.recommend(pl.Series(np.arange(n_customers, dtype=np.int64)), k=10)
    out["recommend_all_seconds"] = round(time.perf_counter() - tick, 1)
    out["recommend_all_cpu_seconds"] = round(cpu_seconds() - cpu, 1)
    out["recommend_rows"] = recs.height
    out["catalog_coverage_all_customers"] = recs["product_id"].n_unique() / n_products
    tick = time.perf_counter()
    rec.similar_products(pl.Series(np.arange(1000, dtype=np.int64)), k=10)
    out["similar_products_1000_seconds"] = round(time.perf_counter() - tick, 1)
    out["total_fit_plus_recommend_seconds"] = round(out["fit_seconds"] + out["recommend_all_seconds"], 1)
    out["peak_rss_gb"] = round(peak_rss_gb(), 2)
    out["report"] = {key: rec.report[key] for key in ("chosen_model", "why", "metrics", "baseline", "candidates",
                                                      "blend_weights", "timings_seconds", "validation",
                                                      "exposure_cap", "exposure_sweep")}
    out["load_average_1min_at_end"] = os.getloadavg()[0]
    print(f"recommend all {out['recommend_all_seconds']} s, peak RSS {out['peak_rss_gb']} GB, exposure cap "
          f"{rec.report['exposure_cap']}, catalog coverage {out['catalog_coverage_all_customers']:.3f}", flush=True)
    return out


def bench_movielens() -> dict:
    if not (MOVIELENS / "ratings.csv").exists():
        return {"skipped": f"{MOVIELENS} not found"}
    ratings = pl.read_csv(MOVIELENS / "ratings.csv")
    interactions = ratings.select(
        pl.col("userId").alias("customer_id"), pl.col("movieId").alias("product_id"),
        pl.lit(1.0).alias("weight"), pl.col("timestamp").alias("ts"))
    movies = pl.read_csv(MOVIELENS / "movies.csv").select(
        pl.col("movieId").alias("product_id"), pl.col("title").alias("name"),
        pl.col("genres").str.replace_all("|", " ", literal=True).alias("description"),
        pl.col("genres").alias("category"))
    out = {}
    for label, split in (("last_10pct", {"holdout_fraction": 0.1}), ("last_365_days", {"holdout_days": 365})):
        train, holdout = time_split(interactions, **split)
        tick = time.perf_counter()
        rec = fit_recommender(train, products=movies, seed=0, exposure_cap="auto")
        fit_seconds = time.perf_counter() - tick
        chosen_cap = rec.exposure
        curve = _exposure_curve(rec, train, holdout)
        rec.exposure = None
        uncapped = evaluate_recommender(rec, holdout, k=10)
        uncapped_coverage = rec.recommend(train["customer_id"].unique(), k=10)["product_id"].n_unique() / len(rec.items)
        rec.exposure = chosen_cap
        evaluation = evaluate_recommender(rec, holdout, k=10)
        everyone = rec.recommend(train["customer_id"].unique(), k=10)
        n_eval = evaluation["model"]["n_customers"]
        out[label] = {
            "split": {key: str(value) for key, value in split.items()},
            "fit_seconds": round(fit_seconds, 1),
            "chosen_model": rec.report["chosen_model"], "why": rec.report["why"],
            "blend_weights": rec.report["blend_weights"],
            "holdout": evaluation,
            "precision@10_lift_vs_popularity": evaluation["lift_vs_popularity"]["precision@10"],
            "collaborative_precision@10_lift": (evaluation["strategies"]["collaborative"]["precision@10"]
                                                / evaluation["popularity"]["precision@10"]),
            "catalog_coverage_all_train_customers": everyone["product_id"].n_unique() / len(rec.items),
            # 10 slots x n customers cannot cover more of the catalogue than this
            "coverage_upper_bound_holdout": min(1.0, 10 * n_eval / len(rec.items)),
            "coverage_upper_bound_all_train_customers": min(1.0, 10 * everyone["customer_id"].n_unique()
                                                            / len(rec.items)),
            "precision@10_bootstrap_90pct_lift": _bootstrap_lift(rec, holdout),
            "tuning": {key: rec.report.get(key) for key in ("model_params", "interaction_half_life_days",
                                                             "popularity_half_life_days", "validation")},
            "validation_report": {key: rec.report[key] for key in ("metrics", "baseline", "candidates")},
            "exposure_cap": rec.report["exposure_cap"],
            "exposure_rule": rec.report["exposure_rule"],
            "exposure_validation_sweep": rec.report["exposure_sweep"],
            "without_exposure_cap": {"holdout_model": uncapped["model"],
                                     "catalog_coverage_all_train_customers": uncapped_coverage},
            "exposure_holdout_curve_reporting_only": curve,
        }
        for row in curve:
            print(f"  holdout curve tail {row['tail']} fair share {row['fair_share']}: P@10 {row['precision@10']:.4f} "
                  f"(lift {row['precision@10_lift']:.2f}) NDCG@10 {row['ndcg@10']:.4f} coverage all train customers "
                  f"{row['catalog_coverage_all_train_customers']:.3f}", flush=True)
        print(f"movielens {label}: model P@10 {evaluation['model']['precision@10']:.4f} vs popularity "
              f"{evaluation['popularity']['precision@10']:.4f} on {evaluation['model']['n_customers']} customers "
              f"(lift {evaluation['lift_vs_popularity']['precision@10']:.2f}, 90% bootstrap "
              f"{out[label]['precision@10_bootstrap_90pct_lift']}); NDCG@10 {evaluation['model']['ndcg@10']:.4f} vs "
              f"{evaluation['popularity']['ndcg@10']:.4f}; coverage {evaluation['model']['coverage']:.3f} vs "
              f"{evaluation['popularity']['coverage']:.3f} (bound {out[label]['coverage_upper_bound_holdout']:.3f}), "
              f"all train customers {out[label]['catalog_coverage_all_train_customers']:.3f}; chosen "
              f"{rec.report['chosen_model']} {rec.report.get('model_params')} half-lives "
              f"{rec.report.get('interaction_half_life_days')}/{rec.report.get('popularity_half_life_days')} "
              f"blend {rec.report['blend_weights']} exposure cap {rec.report['exposure_cap']} "
              f"(without: P@10 {uncapped['model']['precision@10']:.4f}, coverage all train customers "
              f"{uncapped_coverage:.3f}) ({fit_seconds:.0f} s)", flush=True)
    return out


def _exposure_curve(rec, train: pl.DataFrame, holdout: pl.DataFrame) -> list[dict]:
    """Holdout figures for no cap and every EXPOSURE_OPTIONS setting: the trade-off to report, never to choose."""
    from customer_assets.ml.recommend import evaluate_on_holdout

    chosen, rows = rec.exposure, []
    everyone = train["customer_id"].unique()
    for option in (None, *EXPOSURE_OPTIONS):
        rec.exposure = option
        result = evaluate_on_holdout(rec, holdout, k=10)
        rows.append({"tail": option.tail if option else 0, "fair_share": option.fair_share if option else None,
                     **result["model"], "precision@10_lift": result["lift_vs_popularity"]["precision@10"],
                     "catalog_coverage_all_train_customers":
                         rec.recommend(everyone, k=10)["product_id"].n_unique() / len(rec.items)})
    rec.exposure = chosen
    return rows


def _bootstrap_lift(rec, holdout: pl.DataFrame, n_boot: int = 2000) -> list[float]:
    """90% interval of the precision@10 lift over popularity, resampling the holdout customers (few: ~25)."""
    from customer_assets.ml.recommend.evaluate import (
        _holdout_targets, _top_items_array, per_customer_metrics)

    ids, relevant, n_relevant = _holdout_targets(rec, holdout)["warm"]
    hits = {}
    for strategy in (None, "popular"):
        top = _top_items_array(rec, recommend_as_batch(rec, ids, 10, strategy=strategy), ids, 10)
        hits[strategy] = per_customer_metrics(top, relevant, n_relevant)["precision"]
    rng = np.random.default_rng(0)
    draws = rng.integers(0, ids.len(), (n_boot, ids.len()))
    lifts = hits[None][draws].mean(axis=1) / np.maximum(hits["popular"][draws].mean(axis=1), 1e-12)
    return [round(float(v), 2) for v in np.quantile(lifts, [0.05, 0.95])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic customers")
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--mean-items", type=float, default=15.0)
    parser.add_argument("--candidates", default=None, help="comma-separated, default: all that fit")
    parser.add_argument("--skip-movielens", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--exposure-cap", default="off",
                        help="synthetic fit: off (the library default), auto (chosen on validation; off above "
                             "2M interactions) or tail[:fair_share] such as 4:1.0 (the pipeline's setting syntax)")
    args = parser.parse_args()
    result = {}
    if not args.skip_movielens:
        result["movielens"] = bench_movielens()
    if not args.skip_synthetic:
        candidates = args.candidates.split(",") if args.candidates else None
        from customer_assets.defs.recommendation.assets import parse_exposure_cap
        from customer_assets.ml.recommend import ExposureCap

        setting = parse_exposure_cap(args.exposure_cap)
        result["synthetic"] = bench_synthetic(args.rows, args.products, args.mean_items, candidates,
                                              ExposureCap(**setting) if isinstance(setting, dict) else setting)
    result["peak_rss_gb"] = round(peak_rss_gb(), 2)
    home = Path(os.environ.get("CUSTOMER_ML_HOME", REPO / ".customer_ml"))
    (home / "bench").mkdir(parents=True, exist_ok=True)
    path = home / "bench" / "recommend.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    # A partial run (--skip-...) keeps the other section of the previous run.
    merged = {**previous, **result, "peak_rss_gb": max(result["peak_rss_gb"], previous.get("peak_rss_gb", 0))}
    path.write_text(json.dumps(merged, indent=2, default=str))
    print(json.dumps({k: v for k, v in result.get("synthetic", {}).items() if k != "report"}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
