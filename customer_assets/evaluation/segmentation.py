"""Segmentation on real customer tables: ``segment_customers`` beside a single-feature quantile split.

Data sets (read from ``shared``; a missing one is skipped):
- bank_churn: the bank's own export as it is (CustomerId = id; strings and the RowNumber counter are left
  out by the library's column rule); ``Exited`` is held back from the features as the outcome.
- cdnow: RFM features per customer from the purchases up to 1997-12-31 (recency_days, frequency =
  purchase days, monetary, avg_order_value, tenure_days); outcome = log1p(spend 1998-01-01..06-30).
- movielens: users' rating behaviour (``real_data.movielens_customer_features``), no outcome.

Protocol, the same for model and baseline: customers are split at random into fit rows and holdout rows
(30%). ``segment_customers`` is fitted on the fit rows only (k, algorithm and repair chosen by its own
rules); the baseline (``baseline.BASELINE_RULE``: monetary, or the highest-variance column, cut into as
many equal-frequency groups as the model has segments) learns its edges on the same fit rows. Scored:
- silhouette (primary) and Calinski-Harabasz of the holdout rows in the model's transformed feature space;
- bootstrap stability ARI (refits on subsamples of the fit rows, all labelling the same rows);
- outcome eta^2: the share of the variance of a later outcome explained by the holdout segments (between-
  segment over total sum of squares), a behavioural check the feature-space metrics cannot give.
``reduced`` subsamples to at most 2,500 fit + 1,000 holdout rows and uses fewer resamples.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl

from customer_assets.evaluation import EvalRow
from customer_assets.ml.segmentation import evaluate_on_holdout, segment_customers
from customer_assets.ml.segmentation.metrics import outcome_variance_explained
from customer_assets.ml.segmentation.real_data import movielens_customer_features

TASK = "segmentation"
HOLDOUT_SHARE = 0.3
SILHOUETTE_MARGIN = 0.02  # the bar the tests hold the model to on every data set
CDNOW_FEATURES_UNTIL = "1997-12-31"


def bank_churn_table(shared: Path):
    path = shared / "bank_churn" / "Churn_Modelling.csv"
    if not path.is_file():
        return None
    return pl.read_csv(path), "CustomerId", "Exited"


def cdnow_rfm_table(shared: Path):
    path = shared / "cdnow" / "CDNOW_master.txt"
    if not path.is_file():
        return None
    lines = pl.read_csv(path, has_header=False, skip_rows=1, new_columns=["line"], separator="\t")
    purchases = lines.select(pl.col("line").str.extract_all(r"\S+").alias("fields")).select(
        pl.col("fields").list.get(0).alias("customer_id"),
        pl.col("fields").list.get(1).str.to_date("%Y%m%d").alias("day"),
        pl.col("fields").list.get(3).cast(pl.Float64).alias("dollars"),
    )
    cutoff = pl.lit(CDNOW_FEATURES_UNTIL).str.to_date()
    as_of = cutoff + pl.duration(days=1)
    history = purchases.filter(pl.col("day") <= cutoff)
    features = (
        history.group_by("customer_id")
        .agg(
            (as_of - pl.col("day").max()).dt.total_days().cast(pl.Float64).alias("recency_days"),
            pl.col("day").n_unique().cast(pl.Float64).alias("frequency"),
            pl.col("dollars").sum().alias("monetary"),
            (as_of - pl.col("day").min()).dt.total_days().cast(pl.Float64).alias("tenure_days"),
        )
        .with_columns((pl.col("monetary") / pl.col("frequency")).alias("avg_order_value"))
    )
    later = (
        purchases.filter(pl.col("day") > cutoff)
        .group_by("customer_id")
        .agg(pl.col("dollars").sum().alias("later_spend"))
    )
    table = (
        features.join(later, on="customer_id", how="left")
        .with_columns(pl.col("later_spend").fill_null(0.0).log1p().alias("log_later_spend"))
        .drop("later_spend")
        .sort("customer_id")
    )
    return table, "customer_id", "log_later_spend"


def movielens_table(shared: Path):
    path = shared / "movielens-small" / "ratings.csv"
    if not path.is_file():
        return None
    return movielens_customer_features(path), "customer_id", None


DATASETS = (("bank_churn", bank_churn_table), ("cdnow_rfm", cdnow_rfm_table), ("movielens_users", movielens_table))


def _split(table: pl.DataFrame, reduced: bool, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    order = np.random.default_rng(seed).permutation(table.height)
    n_holdout = int(table.height * HOLDOUT_SHARE)
    holdout_rows, fit_rows = order[:n_holdout], order[n_holdout:]
    if reduced:
        holdout_rows, fit_rows = holdout_rows[:1_000], fit_rows[:2_500]
    return table[np.sort(fit_rows)], table[np.sort(holdout_rows)]


def evaluate_table(
    dataset: str, table: pl.DataFrame, id_column: str, outcome: str | None, reduced: bool, seed: int = 0
) -> list[EvalRow]:
    started = time.perf_counter()
    fit, holdout = _split(table, reduced, seed)
    features = fit.drop(outcome) if outcome else fit
    sizes = (
        {"n_resamples": 3, "stability_sample_size": 1_000, "silhouette_sample_size": 1_000, "sample_size": 2_500}
        if reduced
        else {"n_resamples": 5, "stability_sample_size": 3_000, "silhouette_sample_size": 3_000, "sample_size": 6_000}
    )
    result = segment_customers(features, id_column=id_column, seed=seed, holdout_fraction=0.0, **sizes)
    report = result.report
    scored = evaluate_on_holdout(
        result.model, holdout.drop(outcome) if outcome else holdout, sizes["silhouette_sample_size"], seed
    )
    baseline_rule = scored["baseline_rule"]
    model_name = f"segment_customers ({report['chosen_algorithm']}, {report['metrics']['n_clusters']} segments)"
    baseline_name = f"quantile split of {baseline_rule['column']} ({baseline_rule['n_groups_realised']} groups)"
    repair = report["repair"]
    notes = (
        f"fit {fit.height} / holdout {holdout.height} customers; columns {report['feature_columns']} "
        f"({report['feature_selection']['mode']}); selection fallback {report['selection_fallback']}; "
        f"merged {len(repair['merges'])} small cluster(s) "
        f"{[m['size'] for m in repair['merges']]}; {time.perf_counter() - started:.1f} s"
    )

    def row(metric, baseline, model, target="", extra=""):
        return EvalRow(
            dataset,
            TASK,
            metric,
            baseline_name,
            float(baseline),
            model_name,
            float(model),
            target=target,
            notes=notes + extra,
        )

    rows = [
        row(
            "silhouette (holdout, transformed space)",
            scored["baseline"]["silhouette"],
            scored["metrics"]["silhouette"],
            target=f"baseline + {SILHOUETTE_MARGIN}",
        ),
        row(
            "calinski_harabasz (holdout)",
            scored["baseline"]["calinski_harabasz"],
            scored["metrics"]["calinski_harabasz"],
        ),
        row(
            "bootstrap stability ARI (fit rows)",
            report["baseline"]["stability_ari"],
            report["metrics"]["stability_ari"],
        ),
    ]
    if outcome:
        points = result.model.transform.transform(holdout)
        later = holdout.get_column(outcome).cast(pl.Float64).to_numpy()
        model_eta = outcome_variance_explained(result.model.cluster_points(points), later)
        baseline_eta = outcome_variance_explained(result.model.baseline.predict(points), later)
        rows.append(row(f"outcome eta^2 ({outcome}, holdout)", baseline_eta, model_eta))
    return rows


def evaluate(shared: Path, reduced: bool = False) -> list[EvalRow]:
    rows: list[EvalRow] = []
    for dataset, load in DATASETS:
        loaded = load(Path(shared))
        if loaded is None:
            continue
        table, id_column, outcome = loaded
        rows.extend(evaluate_table(dataset, table, id_column, outcome, reduced))
    return rows
