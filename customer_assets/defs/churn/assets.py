"""Churn assets: train and register the churn model, then score active customers as of each day.

- `churn_model` (unpartitioned): trains `train_churn_model` on the dbt mart `marts.churn_training_set`
  (labelled snapshots at past cutoffs, point-in-time features; built by dbt for the as-of date just
  materialized). The time holdout is the latest cutoff's rows; the challenger and the current champion are
  scored on exactly those rows with `evaluate_on_holdout`, and `registry.decide_promotion` on holdout
  ROC-AUC (margin CUSTOMER_ML_CHURN_PROMOTION_MARGIN) decides whether the new version gets the `champion`
  alias. Every run is logged to MLflow as `churn_model` (params, metrics, comparison table, ROC/PR/calibration/
  importance plots, the model with its signature) and registered. Warning gate check `champion_gate`:
  the model that serves after the decision beats the recency-only baseline on the holdout.
- `marts.churn_scores` (daily partitions, key = as-of date D): the champion's calibrated P(churn), risk level
  and top-3 readable reasons for every customer active at D (`marts.customer_features.is_active`), from the
  features as of D only. A WARN check compares the High-risk share with the previous partition.

Why the champion never saw the holdout: the library purges training snapshots whose label window reaches
past the holdout cutoff, so every model's training labels end on or before its own holdout cutoff, which is
never later than the current one (the as-of date only moves forward).

Customer sentiment (`marts.customer_sentiment`, from the reviews domain) is not used: it holds one row per
customer *as of D*, not as of each past training cutoff, so training on it would leak later reviews into
earlier snapshots; and a model can only use at scoring time the columns it was trained on. Adding it needs a
point-in-time version per cutoff (reviews `customer_sentiment_as_of(..., cutoff)`) in the training set first.

The ML lives in `customer_assets.ml.churn`; this module reads, decides, writes and reports.
"""

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl

from customer_assets.config import SettingsError, read_section, section, setting
from customer_assets.defs.metadata import frame_metadata, markdown_table, plot_metadata, plots_dir
from customer_assets.defs.model_assets import knob_config, run_knobs, scoring_asset, training_asset
from customer_assets.defs.resources import MlflowResource, WarehouseResource
from customer_assets.ml.churn import (
    FAMILIES,
    IMBALANCE_STRATEGIES,
    RISK_LEVEL_CUT_POINTS,
    RISK_LEVELS,
    evaluate_on_holdout,
    train_churn_model,
    write_plots,
)
from customer_assets.ml.churn.promotion import (
    BASELINE_NAMES,
    PROMOTION_RULE,
    plain_baseline_scores,
    promotion_decision,
    recency_baseline_score,
    split_holdout,
)
from customer_assets.ml.churn.purchase_features import train_with_purchase_features
from customer_assets.ml.churn.report_tables import comparison_frame, holdout_table
from customer_assets.ml.churn.scoring import score_frame
from customer_assets.mlops import lifecycle, registry
from customer_assets.mlops.lifecycle import finite
from customer_assets.models import CHURN
from customer_assets.warehouse.reads.churn import previous_high_risk_share, read_active_features, read_training_set

MODEL = CHURN
GROUP = MODEL.group
MODEL_NAME = MODEL.registry_name
MARTS = "marts"
ID = "customer_id"
LABEL = "churned"
TIME_COLUMN = "cutoff_date"
PRIMARY_METRIC = MODEL.primary_metric
TRAINING_SET_KEY = dg.AssetKey([MARTS, "churn_training_set"])
FEATURES_KEY = dg.AssetKey([MARTS, "customer_features"])
SCORES_KEY = MODEL.table_key("marts.churn_scores")

GATE_CHECK = lifecycle.GATE_CHECK
HIGH_RISK_JUMP_CHECK = "high_risk_share_jump_vs_previous_partition"
HIGH = RISK_LEVELS[-1]


RISK_RULE = f"calibrated P(churn): Low < {RISK_LEVEL_CUT_POINTS[0]} <= Medium < {RISK_LEVEL_CUT_POINTS[1]} <= High"


PURCHASE_FEATURE_MODES = ("auto", "off")
"""auto: train with and without the BG/NBD P(alive) / expected-orders features and keep them only when the
cross-validated selection metric rises (ml/churn/purchase_features.py); off: never use them."""


# --- knobs ----------------------------------------------------------------------------------------------


@section("CHURN")
@dataclass(frozen=True)
class ChurnKnobs:
    window_days: int = setting(
        90,
        "Churn = no completed order in this many days after the as-of date (also the "
        "value model's horizon and dbt's `churn_window_days`).",
        low=1,
    )
    search_seconds: float = setting(60.0, "Random-search budget shared by the model families (seconds).", low=0)
    families: tuple[str, ...] = setting(FAMILIES, "Comma list of model families to compare.")
    imbalance: tuple[str, ...] = setting(
        IMBALANCE_STRATEGIES, "Comma list of imbalance strategies (class_weight, smote)."
    )
    drop_features: tuple[str, ...] = setting((), "Comma list of feature columns never used.")
    n_splits: int = setting(5, "Stratified group cross-validation folds.", low=2)
    seed: int = setting(0, "Seed of splits, searches and fits.")
    promotion_margin: float = setting(
        0.005,
        "Holdout ROC-AUC gain a challenger needs to take the `champion` alias "
        "(negative: a challenger may be that much worse).",
    )
    max_high_risk_jump: float = setting(
        0.10,
        "Rise of the High-risk share (absolute) against the previous partition that raises the WARN check.",
        low=0,
        high=1,
    )
    reasons_all_max_rows: int = setting(
        200_000, "Up to this many scored customers every one gets reasons; above, only the riskiest share below.", low=1
    )
    reasons_top_share: float = setting(
        0.10, "Share of riskiest customers given reasons above the row limit.", low=1e-9, high=1
    )
    purchase_features: str = setting(
        "auto",
        "auto: train with and without the BG/NBD P(alive) / expected-orders "
        "features and keep them only when cross-validated PR-AUC rises; off: "
        "never.",
        choices=PURCHASE_FEATURE_MODES,
    )

    def __post_init__(self):
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise SettingsError(f"CUSTOMER_ML_CHURN_FAMILIES: unknown families {unknown}; choose from {FAMILIES}")
        unknown = [f for f in self.imbalance if f not in IMBALANCE_STRATEGIES]
        if unknown or not self.imbalance:
            raise SettingsError(
                f"CUSTOMER_ML_CHURN_IMBALANCE: unknown strategies {unknown}; choose from {IMBALANCE_STRATEGIES}"
            )
        protected = {ID, LABEL, TIME_COLUMN} & set(self.drop_features)
        if protected:
            raise SettingsError(f"CUSTOMER_ML_CHURN_DROP_FEATURES cannot drop {sorted(protected)}")


def churn_knobs() -> ChurnKnobs:
    """Every tunable of the churn assets, from CUSTOMER_ML_CHURN_* (docs/configuration.md)."""
    return read_section(ChurnKnobs)


# The knobs a user tunes per run in the launchpad (the window stays a setting: dbt labels the training set with it).
TRAINING_RUN_KNOBS = (
    "search_seconds",
    "families",
    "imbalance",
    "n_splits",
    "seed",
    "promotion_margin",
    "purchase_features",
)
SCORING_RUN_KNOBS = ("max_high_risk_jump", "reasons_all_max_rows", "reasons_top_share")


# --- checks (the decisions are pure: customer_assets/ml/churn/promotion.py) ----------------------------


def gate_result(
    serving_eval: dict | None,
    serving_version: int | None,
    decision: registry.Decision,
    challenger_eval: dict,
    champion_eval: dict | None,
    served: str | None = None,
) -> dg.AssetCheckResult:
    """The shared ``champion_gate``: a champion exists and beats every plain baseline on the holdout (ROC-AUC).

    When the library found no model better than a plain baseline it serves that baseline (``served``): the
    check then fails at WARN and says so, since the day's scores come from the baseline. Without any plain
    baseline column the base rate (ROC-AUC 0.5) is the bar."""
    model = None if serving_eval is None else finite(serving_eval.get(PRIMARY_METRIC))
    baselines = {} if serving_eval is None else plain_baseline_scores(serving_eval)
    recency = recency_baseline_score(serving_eval) if serving_eval is not None else None
    passed, why = None, None
    if serving_eval is not None and serving_version is not None and not baselines:
        passed = model is not None and model > 0.5
        why = f"serving v{serving_version} {PRIMARY_METRIC} {model} vs base rate 0.5 (no plain baseline)"
    if served is not None and served in BASELINE_NAMES:
        passed = False
        why = (
            f"no model beat the plain baselines in cross-validation: serving the baseline {served} (v{serving_version})"
        )
    return lifecycle.gate_check(
        metric=PRIMARY_METRIC,
        higher_is_better=True,
        serving_version=serving_version if serving_eval is not None else None,
        serving_score=model,
        baselines=baselines,
        decision=decision,
        passed=passed,
        why=why,
        serving_label=served or (serving_eval or {}).get("family"),
        extra={
            "serving_roc_auc": model if model is not None else float("nan"),
            "recency_only_roc_auc": recency if recency is not None else float("nan"),
            "plain_baselines_roc_auc": dg.MetadataValue.json(baselines),
            "challenger": dg.MetadataValue.json(registry.jsonable(challenger_eval)),
            "champion_before": dg.MetadataValue.json(registry.jsonable(champion_eval)),
        },
    )


def high_risk_jump_check(
    previous: tuple[dt.date, float] | None, current_share: float, max_jump: float
) -> dg.AssetCheckResult:
    """WARN when the High-risk share rose by more than `max_jump` (absolute) since the previous partition."""
    metadata = {"high_risk_share": current_share, "max_jump": max_jump}
    if previous is None:
        return dg.AssetCheckResult(
            asset_key=SCORES_KEY,
            check_name=HIGH_RISK_JUMP_CHECK,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description="no earlier partition to compare with",
            metadata=metadata,
        )
    previous_date, previous_share = previous
    jump = current_share - previous_share
    passed = jump <= max_jump
    return dg.AssetCheckResult(
        asset_key=SCORES_KEY,
        check_name=HIGH_RISK_JUMP_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"High-risk share {current_share:.1%} vs {previous_share:.1%} on {previous_date}: "
            f"{'within' if passed else 'jumped by more than'} {max_jump:.0%}"
        ),
        metadata={
            **metadata,
            "previous_as_of_date": str(previous_date),
            "previous_high_risk_share": previous_share,
            "jump": jump,
        },
    )


# --- presentation ---------------------------------------------------------------------------------------


def model_signature(model, sample: pl.DataFrame):
    """MLflow signature: the model's input columns -> P(churn), inferred from a few holdout rows."""
    from mlflow.models import infer_signature

    inputs = sample.select(model.input_columns).head(20)
    return infer_signature(inputs.to_pandas(), model.predict_proba(inputs))


# --- assets ---------------------------------------------------------------------------------------------


def build_churn_assets(partitions_def: dg.PartitionsDefinition) -> list:
    @training_asset(
        MODEL,
        deps=[TRAINING_SET_KEY],
        kinds={"mlflow", "lightgbm", "xgboost"},
        description="Churn model (churn = no completed order in the CUSTOMER_ML_CHURN_WINDOW_DAYS after the "
        "as-of date): logistic regression, random forest, XGBoost and LightGBM with class weights or "
        "SMOTE compared by the churn library on marts.churn_training_set (point-in-time snapshots), "
        "calibrated; registered in MLflow as `churn_model` and promoted to `champion` only if it "
        "beats the champion on the latest-cutoff holdout (see PROMOTION_RULE).",
        gate_description="The model that serves after the promotion decision exists and beats "
        "the recency-only baseline (holdout ROC-AUC) on the latest-cutoff "
        "holdout. Warns otherwise (scores come from the champion).",
        config_schema=knob_config(ChurnKnobs, TRAINING_RUN_KNOBS),
    )
    def churn_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        knobs = run_knobs(context, churn_knobs())
        training_set = read_training_set(warehouse.client())
        holdout, holdout_cutoff = split_holdout(training_set)
        train_input = training_set.drop([c for c in knobs.drop_features if c in training_set.columns])
        training = dict(
            label=LABEL,
            id_column=ID,
            seed=knobs.seed,
            time_column=TIME_COLUMN,
            families=knobs.families,
            search_budget_seconds=knobs.search_seconds,
            imbalance=knobs.imbalance,
            n_splits=knobs.n_splits,
            label_window_days=knobs.window_days,
            primary_metric=PRIMARY_METRIC,
        )
        purchase_comparison = {"kept": False, "reason": "CUSTOMER_ML_CHURN_PURCHASE_FEATURES=off"}
        try:
            if knobs.purchase_features == "auto":
                model, purchase_comparison = train_with_purchase_features(
                    train_input, horizon_days=knobs.window_days, **training
                )
            else:
                model = train_churn_model(train_input, **training)
        except ValueError as error:
            raise dg.Failure(description=f"churn training failed on marts.churn_training_set: {error}") from error
        report = model.report

        challenger_eval = evaluate_on_holdout(model, holdout, LABEL)
        champion = lifecycle.load_champion(mlflow.registry(), MODEL_NAME)
        champion_version_before = champion.version
        champion_eval, champion_error = lifecycle.evaluate_champion(
            champion, lambda old: evaluate_on_holdout(old, holdout, LABEL)
        )
        decision = promotion_decision(
            challenger_eval, champion_eval, knobs.promotion_margin, champion_error, champion_exists=champion.exists
        )
        context.log.info(decision.reason)
        context.log.info(f"purchase-process features: {purchase_comparison['reason']}")

        stamp = f"{dt.datetime.now():%Y%m%dT%H%M%S%f}"
        plots = write_plots(model, plots_dir(warehouse.home, GROUP) / f"model_{stamp}")
        comparison = comparison_frame(report)
        holdout_metrics = holdout_table(challenger_eval, champion_eval, champion_version_before)
        importance = model.global_importance()
        mlflow_report = {
            **report,
            # Logged as MLflow metrics: the challenger's holdout figures and, when there is one, the champion's.
            "metrics": {
                **report["metrics"],
                "cv": report["cv_metrics"],
                **(
                    {"champion_holdout": {k: v for k, v in champion_eval.items() if k != "family"}}
                    if champion_eval
                    else {}
                ),
            },
            "baseline": report["baselines"],
            "comparison": report["comparison_table"],
            "purchase_features": purchase_comparison,
            "promotion": {
                "rule": PROMOTION_RULE,
                "margin": knobs.promotion_margin,
                "champion_version": champion_version_before,
                "challenger": challenger_eval,
                "champion": champion_eval,
                "champion_error": champion_error,
                "promote": decision.promote,
                "reason": decision.reason,
            },
        }
        with tempfile.TemporaryDirectory() as tmp:
            comparison_md = Path(tmp) / "comparison_table.md"
            comparison_md.write_text(markdown_table(comparison) + "\n\n" + markdown_table(holdout_metrics) + "\n")
            logged = mlflow.registry().log_and_register(
                MODEL_NAME,
                model,
                mlflow_report,
                decision,
                params={
                    "training_set": "marts.churn_training_set",
                    "holdout_cutoff": holdout_cutoff,
                    "churn_window_days": knobs.window_days,
                    "families": ",".join(knobs.families),
                    "imbalance": ",".join(knobs.imbalance),
                    "search_budget_seconds": knobs.search_seconds,
                    "n_splits": knobs.n_splits,
                    "seed": knobs.seed,
                    "promotion_margin": knobs.promotion_margin,
                    "dropped_features": ",".join(knobs.drop_features),
                    "purchase_features": knobs.purchase_features,
                    "purchase_features_kept": purchase_comparison["kept"],
                    "chosen_family": report["chosen_family"],
                    "chosen_imbalance": report["chosen_imbalance"],
                    "threshold": report["threshold"],
                    "features": ",".join(model.feature_names),
                    "training_rows": report["split"]["training_rows"],
                    "holdout_rows": report["split"]["holdout_rows"],
                },
                artifacts={**plots, "comparison_table": comparison_md},
                tags={
                    "holdout_cutoff": str(holdout_cutoff),
                    "chosen_family": report["chosen_family"],
                    "served": report.get("served", report["chosen_family"]),
                },
                signature=model_signature(model, holdout),
                pip_requirements=[
                    "mlflow",
                    "polars",
                    "numpy",
                    "scikit-learn",
                    "lightgbm",
                    "xgboost",
                    "imbalanced-learn",
                ],
            )

        serving_eval = challenger_eval if logged.promoted else champion_eval
        serving_version = logged.version if logged.promoted else champion_version_before
        gate = gate_result(
            serving_eval,
            serving_version,
            decision,
            challenger_eval,
            champion_eval,
            served=report.get("served") if logged.promoted else None,
        )
        decision_metadata = {
            "promoted": logged.promoted,
            "reason": decision.reason,
            "challenger_version": logged.version,
            "serving_version": serving_version,
            "champion_version_before": champion_version_before,
            "challenger_score": finite(decision.challenger_score),
            "champion_score": finite(decision.champion_score),
            "metric": PRIMARY_METRIC,
            "margin": knobs.promotion_margin,
            "champion_error": champion_error,
        }
        metrics = report["metrics"]
        baselines = report["baselines"]
        yield dg.MaterializeResult(
            metadata={
                "training_rows": report["split"]["training_rows"],
                "holdout_rows": report["split"]["holdout_rows"],
                "holdout_cutoff": str(holdout_cutoff),
                "split": dg.MetadataValue.json(registry.jsonable(report["split"])),
                "chosen_family": report["chosen_family"],
                # What predicts: the chosen family, or the plain baseline when no family beat it in CV.
                "served": report.get("served", report["chosen_family"]),
                "served_reason": report.get("served_reason", ""),
                "chosen_imbalance": report["chosen_imbalance"],
                "threshold": report["threshold"],
                "holdout_roc_auc": metrics["roc_auc"],
                "holdout_pr_auc": metrics["pr_auc"],
                "holdout_f1": metrics["f1"],
                "holdout_brier": metrics["brier"],
                "base_rate": metrics["base_rate"],
                "recency_only_roc_auc": (baselines["recency_only"] or {}).get("roc_auc", float("nan")),
                "recency_only_pr_auc": (baselines["recency_only"] or {}).get("pr_auc", float("nan")),
                "base_rate_pr_auc": baselines["base_rate"]["pr_auc"],
                "holdout_metrics": dg.MetadataValue.md(markdown_table(holdout_metrics)),
                "comparison_table": dg.MetadataValue.md(markdown_table(comparison)),
                "global_importance": dg.MetadataValue.md(
                    markdown_table(importance.with_columns(pl.col("mean_abs_contribution", "share").round(4)))
                ),
                "explanations": report["explanations"]["note"],
                "decision": dg.MetadataValue.json(registry.jsonable(decision_metadata)),
                "decision_reason": decision.reason,
                "purchase_features_kept": purchase_comparison["kept"],
                "purchase_features": dg.MetadataValue.json(registry.jsonable(purchase_comparison)),
                "promoted": logged.promoted,
                "mlflow_run_id": logged.run_id,
                "model_version": logged.version,
                "champion_version": serving_version if serving_version is not None else -1,
                "risk_levels": RISK_RULE,
                "promotion_rule": PROMOTION_RULE,
                **{key: value for name, path in plots.items() for key, value in plot_metadata(name, path).items()},
            },
            check_results=[gate],
        )

    @scoring_asset(
        MODEL,
        "marts.churn_scores",
        partitions_def=partitions_def,
        deps=[FEATURES_KEY, churn_model],
        kinds={"mlflow", "lightgbm", "sql"},
        description="One row per customer active at the as-of date (an order in the previous 365 days): "
        "customer_id, as_of_date, churn_probability (calibrated), risk_level (" + RISK_RULE + "), "
        "top_reasons (up to 3 readable drivers from the tree model's SHAP contributions), "
        "model_name, model_version; scored by the champion on marts.customer_features as of that "
        "day. Partition = as-of date; a backfill builds score history.",
        check_specs=(
            dg.AssetCheckSpec(
                HIGH_RISK_JUMP_CHECK,
                asset=SCORES_KEY,
                description="Warns when the share of High-risk customers rose by more than "
                "CUSTOMER_ML_CHURN_MAX_HIGH_RISK_JUMP (0.10, absolute) against the "
                "previous partition in marts.churn_scores.",
            ),
        ),
        config_schema=knob_config(ChurnKnobs, SCORING_RUN_KNOBS),
    )
    def churn_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        knobs = run_knobs(context, churn_knobs())
        as_of = dt.date.fromisoformat(context.partition_key)
        client = warehouse.client()
        features = read_active_features(client, as_of)
        champion = mlflow.registry().load_champion(MODEL_NAME)
        if champion is None:
            raise dg.Failure(
                description=f"no `{MODEL_NAME}` version holds the champion alias: materialize churn_model first"
            )
        model, version = champion
        frame, explained_rows = score_frame(model, features, as_of, version, knobs)
        high_share = float((frame["risk_level"] == HIGH).mean())
        jump = high_risk_jump_check(previous_high_risk_share(client, as_of, HIGH), high_share, knobs.max_high_risk_jump)
        replaced = client.replace_partitions(MARTS, "churn_scores", frame, "as_of_date", as_of, as_of)
        levels = (
            frame.group_by("risk_level")
            .agg(pl.len().alias("customers"), pl.col("churn_probability").mean().round(4).alias("mean_p"))
            .sort("risk_level")
        )
        yield dg.MaterializeResult(
            metadata={
                **frame_metadata(frame),
                "table": f"{MARTS}.churn_scores",
                "as_of_date": str(as_of),
                "rows_replaced": replaced,
                "rows_with_reasons": explained_rows,
                "model_name": MODEL_NAME,
                "model_version": version,
                "model_family": model.family,
                "high_risk_share": high_share,
                "mean_churn_probability": float(frame["churn_probability"].mean()),
                "risk_levels": dg.MetadataValue.md(markdown_table(levels)),
                "risk_rule": RISK_RULE,
            },
            check_results=[jump],
        )

    return [churn_model, churn_scores]
