"""Benchmark: the customer value model at scale (default 1,000,000 customers).

    .venv/bin/python benchmarks/bench_value.py [--rows N] [--seed S]

Customers are drawn from BG/NBD + Gamma-Gamma with planted parameters over two years with a year-end seasonal
peak (customer_assets.ml.value.synthetic), so the run exercises the whole ``fit_value_model`` path: the seasonal
validation (flat and seasonal clocks fitted on the data before a 90-day window), the final fit, then ``score``
(P(alive), P(order), expected orders and value over 90 days, 12-month CLV) for every customer, and a holdout
evaluation against the naive baseline. Stages are timed; the target is fit + score under 2 minutes. Prints the
figures and writes them as JSON to ``$CUSTOMER_ML_HOME/bench/value.json``.
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

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import polars as pl  # noqa: E402

from customer_assets.ml.value import evaluate_holdout, fit_value_model, split_in_time  # noqa: E402
from customer_assets.ml.value.synthetic import Planted, simulate  # noqa: E402

TARGET_SECONDS = 120.0
SEASON = (1.0, 0.8, 0.8, 0.9, 0.9, 1.0, 1.0, 0.9, 1.0, 1.1, 1.3, 1.6)
START = dt.date(2024, 1, 1)
TOTAL_DAYS = 820  # two years and a 90-day holdout
HOLDOUT_DAYS = 90


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    figures: dict = {"customers": args.rows, "target_seconds": TARGET_SECONDS}
    timings: dict[str, float] = {}

    started = time.perf_counter()
    transactions = simulate(args.rows, Planted(), start=START, acquisition_days=365, total_days=TOTAL_DAYS,
                            seed=args.seed, seasonal=SEASON)
    timings["simulate"] = time.perf_counter() - started
    figures["transactions"] = transactions.height
    as_of = START + dt.timedelta(days=TOTAL_DAYS - HOLDOUT_DAYS - 1)
    calibration = transactions.filter(pl.col("order_ts") <= as_of)

    started = time.perf_counter()
    model = fit_value_model(calibration)
    timings["fit (seasonal validation + final fit)"] = time.perf_counter() - started
    started = time.perf_counter()
    scored = model.score(calibration, HOLDOUT_DAYS, months=12)
    timings["score (summary, p_alive, p_order, 90-day orders and value, 12-month CLV)"] = time.perf_counter() - started
    fit_and_score = sum(timings[k] for k in timings if k != "simulate")
    figures["fit_plus_score_seconds"] = round(fit_and_score, 2)
    figures["within_target"] = fit_and_score < TARGET_SECONDS
    figures["scored_rows"] = scored.height

    started = time.perf_counter()
    summary, actual = split_in_time(transactions, as_of, HOLDOUT_DAYS)
    evaluation = evaluate_holdout(model, summary, actual, HOLDOUT_DAYS)
    timings["holdout evaluation"] = time.perf_counter() - started
    figures["timings_seconds"] = {k: round(v, 2) for k, v in timings.items()}
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    figures["report"] = {k: model.report[k] for k in ("model", "customers", "repeat_buyers", "bgnbd", "gamma_gamma",
                                                      "fit_seconds")}
    figures["seasonal"] = {k: model.report["seasonal"][k] for k in ("used", "decision", "index")}
    figures["holdout"] = {"model": evaluation["model"], "naive": evaluation["naive"]}

    print(f"customers {args.rows:,}, transactions {transactions.height:,}")
    for name, seconds in timings.items():
        print(f"  {name:<78} {seconds:8.2f} s")
    print(f"  fit + score: {fit_and_score:.1f} s (target < {TARGET_SECONDS:.0f} s: "
          f"{'met' if figures['within_target'] else 'NOT met'}); peak RSS {figures['peak_rss_mb']:.0f} MB")
    print(f"  seasonal: {model.report['seasonal']['decision']}")
    bg = model.report["bgnbd"]
    print(f"  BG/NBD r={bg['r']:.3f} alpha={bg['alpha_days']:.1f} d a={bg['a']:.3f} b={bg['b']:.3f} "
          f"(planted 0.5, 30, 0.7, 3.0 on the seasonal clock)")
    for key in ("orders_mae", "orders_spearman", "orders_aggregate_ratio", "value_mae", "value_aggregate_ratio"):
        print(f"  holdout {key:<24} model {evaluation['model'][key]:9.4f}   naive {evaluation['naive'][key]:9.4f}")
    out = Path(os.environ.get("CUSTOMER_ML_HOME", REPO_ROOT / ".customer_ml")) / "bench" / "value.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str))
    print(f"written to {out}")
    return 0 if figures["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
