"""Customer value assets: fit and register the value model, score every customer as of each day, and rank the
retention worklist by value at risk.

- `value_model` (unpartitioned, like `churn_model`): completed orders up to the as-of date of the marts just
  built (`marts.customer_features`). Holdout in time: the model is fitted on the orders up to as-of minus the
  horizon (the churn window, CUSTOMER_ML_CHURN_WINDOW_DAYS) and predicts every customer's purchases and spend in
  the last horizon before the as-of date; beside it the naive baseline (historical repeat rate x horizon,
  historical mean order value) and, on the same customers and window, the current champion with its own
  parameters. The registered model is the same configuration refitted on all orders up to the as-of date (the
  holdout figures are its configuration's). MLflow run `customer_value_model`: params, holdout metrics, naive
  baseline, the frequency-bucket and P(alive) calibration plots and tables. Check `champion_gate` (WARN): the
  model that serves after the decision beats the naive baseline (orders MAE and value MAE).
- `marts.customer_value` (daily partitions, key = as-of date D): the champion's P(alive), expected orders and
  value over the horizon, 12-month CLV (discounted at CUSTOMER_ML_VALUE_ANNUAL_DISCOUNT) for every customer with
  a completed order on or before D, from orders up to D only, with the purchase summary it scored.
- `marts.retention_targets` (daily): customers ranked by value at risk = P(churn) x expected value over the
  horizon, with churn probability, risk level and top reasons (from `marts.churn_scores`), segment, expected
  value and the top 3 recommended products. It builds with whatever exists: without a churn score for a customer
  (inactive customers, or no churn table that day) P(churn) is the value model's own P(no order in the horizon)
  (the churn label's definition) and `churn_probability_source` says so; missing segments or recommendations
  are nulls / empty lists.

The ML lives in `customer_assets.ml.value`; this module reads, decides, writes and reports.
"""

import datetime as dt
import tempfile
from pathlib import Path

import dagster as dg
import polars as pl

from customer_assets.config import ValueKnobs, read_section
from customer_assets.defs.metadata import frame_metadata, markdown_table, plot_metadata, plots_dir
from customer_assets.defs.model_assets import knob_config, run_knobs, scoring_asset, training_asset
from customer_assets.defs.resources import MlflowResource, WarehouseResource
from customer_assets.ml.churn.model import RISK_LEVEL_CUT_POINTS
from customer_assets.ml.value import (
    beats_naive,
    evaluate_holdout,
    fit_value_model,
    split_in_time,
    write_plots,
)
from customer_assets.ml.value.promotion import PROMOTION_RULE, promotion_decision
from customer_assets.ml.value.retention import build_targets
from customer_assets.ml.value.scoring import VALUE_SCHEMA, score_frame
from customer_assets.mlops import lifecycle, registry
from customer_assets.mlops.lifecycle import finite
from customer_assets.models import CHURN, RECOMMENDATION, SEGMENTATION, VALUE
from customer_assets.warehouse.reads.value import latest_as_of, read_orders, table_at

MODEL = VALUE
GROUP = MODEL.group
MODEL_NAME = MODEL.registry_name
MARTS = "marts"
ID = "customer_id"
PRIMARY_METRIC = MODEL.primary_metric
GATE_CHECK = lifecycle.GATE_CHECK
RANGE_CHECK = "values_in_range"
FEATURES_KEY = dg.AssetKey([MARTS, "customer_features"])
ORDERS_KEY = dg.AssetKey(["intermediate", "int_orders_enriched"])
VALUE_KEY = MODEL.table_key("marts.customer_value")
TARGETS_KEY = MODEL.table_key("marts.retention_targets")
CHURN_SCORES_KEY = CHURN.table_key("marts.churn_scores")
SEGMENTS_KEY = SEGMENTATION.table_key("marts.customer_segments")
RECOMMENDATIONS_KEY = RECOMMENDATION.table_key("marts.product_recommendations")


# --- knobs ----------------------------------------------------------------------------------------------


def value_knobs() -> ValueKnobs:
    """CUSTOMER_ML_VALUE_* settings; the horizon is the churn window (CUSTOMER_ML_CHURN_WINDOW_DAYS)."""
    return read_section(ValueKnobs)


def _fit_options(knobs: ValueKnobs) -> dict:
    return {
        "seasonal": {"auto": "auto", "on": True, "off": False}[knobs.seasonal],
        "validation_days": knobs.validation_days,
        "purchase_model": knobs.purchase_model,
    }


COLUMNS = dict(id_column=ID, time_column="order_date", amount_column="order_value")


# --- checks (the decision is pure: customer_assets/ml/value/promotion.py) -------------------------------


def gate_result(
    serving_eval: dict | None, serving_version: int | None, decision: registry.Decision
) -> dg.AssetCheckResult:
    """Passes when a champion exists and beats the naive baseline on the holdout (orders and value MAE)."""
    if serving_eval is None or serving_version is None:
        passed, why = False, "no model holds the champion alias"
    else:
        passed, shown = beats_naive(serving_eval)
        m, n = serving_eval["model"], serving_eval["naive"]
        why = (
            f"serving v{serving_version} {'beats' if passed else 'does not beat'} the naive baseline on the "
            f"{serving_eval['horizon_days']}-day holdout ({serving_eval['customers']} customers): {shown}; "
            f"aggregate ratio orders {m['orders_aggregate_ratio']:.3f} vs naive {n['orders_aggregate_ratio']:.3f}; "
            f"Spearman orders {m['orders_spearman']:.3f} vs naive {n['orders_spearman']:.3f}"
        )
    return lifecycle.gate_check(
        metric=PRIMARY_METRIC,
        higher_is_better=False,
        serving_version=serving_version,
        serving_score=None if serving_eval is None else serving_eval["model"][PRIMARY_METRIC],
        baselines={"naive": None if serving_eval is None else serving_eval["naive"][PRIMARY_METRIC]},
        decision=decision,
        passed=bool(passed),
        why=why,
        extra={
            "serving_metrics": dg.MetadataValue.json(
                registry.jsonable(
                    {} if serving_eval is None else {"model": serving_eval["model"], "naive": serving_eval["naive"]}
                )
            )
        },
    )


def _flat_eval(evaluation: dict) -> dict:
    return {k: v for k, v in evaluation.items() if k not in ("by_frequency", "p_alive_calibration")}


def range_check(frame: pl.DataFrame) -> dg.AssetCheckResult:
    problems = []
    for column in ("p_alive", "p_order"):
        bad = frame.filter(pl.col(column).is_null() | (pl.col(column) < 0) | (pl.col(column) > 1)).height
        if bad:
            problems.append(f"{column} outside [0, 1] or null in {bad} rows")
    for column in ("expected_orders", "expected_value", "clv_12m"):
        bad = frame.filter(pl.col(column).is_null() | ~pl.col(column).is_finite() | (pl.col(column) < 0)).height
        if bad:
            problems.append(f"{column} negative, infinite or null in {bad} rows")
    return dg.AssetCheckResult(
        asset_key=VALUE_KEY,
        check_name=RANGE_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or "probabilities in [0, 1], values finite and >= 0",
    )


def _rounded(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Float64).round(4))


# --- assets ---------------------------------------------------------------------------------------------


def build_value_assets(partitions_def: dg.PartitionsDefinition) -> list:
    @training_asset(
        MODEL,
        config_schema=knob_config(
            ValueKnobs, ("seasonal", "validation_days", "purchase_model", "promotion_tolerance", "annual_discount")
        ),
        deps=[FEATURES_KEY, ORDERS_KEY],
        kinds={"mlflow", "scipy"},
        description="Customer value model: BG/NBD (purchases and dropout) + Gamma-Gamma (order value) by maximum "
        "likelihood, with a seasonal clock when a year of history says it helps, on the completed "
        "orders up to the latest as-of date; evaluated on the last churn-window before it against "
        "the naive baseline and the champion; registered in MLflow as `customer_value_model` "
        "(see PROMOTION_RULE).",
        gate_description="The model that serves after the promotion decision beats the "
        "naive baseline (historical rate x horizon, historical mean "
        "order value) on the holdout: orders MAE and value MAE. "
        "Warns otherwise.",
    )
    def value_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        knobs = run_knobs(context, value_knobs())
        client = warehouse.client()
        as_of = latest_as_of(client)
        orders = read_orders(client, as_of)
        horizon = knobs.horizon_days
        calibration_end = as_of - dt.timedelta(days=horizon)
        options = _fit_options(knobs)
        try:
            summary, actual = split_in_time(orders, calibration_end, horizon, observed_until=as_of, **COLUMNS)
            holdout_model = fit_value_model(
                orders.filter(pl.col("order_date") <= calibration_end), as_of=calibration_end, **COLUMNS, **options
            )
            model = fit_value_model(orders, as_of=as_of, **COLUMNS, **options)
        except ValueError as error:
            raise dg.Failure(description=f"value model training failed on the orders up to {as_of}: {error}") from error
        challenger_eval = evaluate_holdout(holdout_model, summary, actual, horizon, as_of=calibration_end)

        champion = lifecycle.load_champion(mlflow.registry(), MODEL_NAME)
        champion_version_before = champion.version
        champion_eval, champion_error = lifecycle.evaluate_champion(
            champion, lambda old: evaluate_holdout(old, summary, actual, horizon, as_of=calibration_end)
        )
        decision = promotion_decision(challenger_eval, champion_eval, knobs.promotion_tolerance, champion_error)
        context.log.info(decision.reason)

        stamp = f"{dt.datetime.now():%Y%m%dT%H%M%S%f}"
        plots = write_plots(challenger_eval, plots_dir(warehouse.home, GROUP) / f"model_{stamp}")
        by_frequency = _rounded(challenger_eval["by_frequency"])
        calibration = _rounded(challenger_eval["p_alive_calibration"])
        report = {
            **model.report,
            "holdout": {
                "calibration_end": str(calibration_end),
                "window_days": horizon,
                "fitted_report": holdout_model.report,
                **_flat_eval(challenger_eval),
            },
            "metrics": challenger_eval["model"],
            "baseline": {"naive": challenger_eval["naive"]},
            "promotion": {
                "rule": PROMOTION_RULE,
                "tolerance": knobs.promotion_tolerance,
                "champion_version": champion_version_before,
                "champion": None if champion_eval is None else _flat_eval(champion_eval),
                "champion_error": champion_error,
                "promote": decision.promote,
                "reason": decision.reason,
            },
        }
        with tempfile.TemporaryDirectory() as tmp:
            tables = Path(tmp) / "holdout_tables.md"
            tables.write_text(
                "## By calibration frequency\n\n"
                + markdown_table(by_frequency)
                + "\n\n## P(alive) calibration\n\n"
                + markdown_table(calibration)
                + "\n"
            )
            bg, gg = model.report["bgnbd"], model.report["gamma_gamma"]
            logged = mlflow.registry().log_and_register(
                MODEL_NAME,
                model,
                report,
                decision,
                params={
                    "as_of": as_of,
                    "horizon_days": horizon,
                    "calibration_end": calibration_end,
                    "seasonal_setting": knobs.seasonal,
                    "seasonal_used": model.report["seasonal"]["used"],
                    "seasonal_decision": model.report["seasonal"]["decision"],
                    "purchase_model": knobs.purchase_model,
                    "value_basis": model.value_basis,
                    "customers": model.report["customers"],
                    "repeat_buyers": model.report["repeat_buyers"],
                    "r": bg["r"],
                    "alpha_days": bg["alpha_days"],
                    "a": bg["a"],
                    "b": bg["b"],
                    "p": gg["p"],
                    "q": gg["q"],
                    "gamma": gg["gamma"],
                    "promotion_tolerance": knobs.promotion_tolerance,
                },
                artifacts={**plots, "holdout_tables": tables},
                tags={"as_of": str(as_of), "model": model.name},
                pip_requirements=["mlflow", "polars", "numpy", "scipy"],
            )
        serving_eval = challenger_eval if logged.promoted else champion_eval
        serving_version = logged.version if logged.promoted else champion_version_before
        gate = gate_result(serving_eval, serving_version, decision)
        m, n = challenger_eval["model"], challenger_eval["naive"]
        yield dg.MaterializeResult(
            metadata={
                "as_of": str(as_of),
                "holdout_window": f"{calibration_end + dt.timedelta(days=1)}..{as_of}",
                "holdout_customers": challenger_eval["customers"],
                "customers": model.report["customers"],
                "repeat_buyers": model.report["repeat_buyers"],
                "model": model.report["model"],
                "seasonal": model.report["seasonal"]["decision"],
                **{f"holdout_{k}": v for k, v in m.items() if finite(v) is not None},
                **{f"naive_{k}": v for k, v in n.items() if finite(v) is not None},
                "parameters": dg.MetadataValue.json(
                    registry.jsonable({"bgnbd": model.report["bgnbd"], "gamma_gamma": model.report["gamma_gamma"]})
                ),
                "by_frequency": dg.MetadataValue.md(markdown_table(by_frequency)),
                "p_alive_calibration": dg.MetadataValue.md(markdown_table(calibration)),
                "decision_reason": decision.reason,
                "promoted": logged.promoted,
                "mlflow_run_id": logged.run_id,
                "model_version": logged.version,
                "champion_version": serving_version if serving_version is not None else -1,
                "promotion_rule": PROMOTION_RULE,
                "fit_seconds": model.report["fit_seconds"],
                **{key: value for name, path in plots.items() for key, value in plot_metadata(name, path).items()},
            },
            check_results=[gate],
        )

    @scoring_asset(
        MODEL,
        "marts.customer_value",
        partitions_def=partitions_def,
        deps=[FEATURES_KEY, ORDERS_KEY, value_model],
        kinds={"mlflow", "sql"},
        description="One row per customer with a completed order on or before the as-of date: customer_id, "
        "as_of_date, p_alive, expected_orders and expected_value over horizon_days (the churn window), "
        "clv_12m (12 months, discounted), model_name, model_version; then p_order (P(an order in the "
        "horizon)), expected_order_value and the purchase summary scored (orders = purchase days, "
        "days_since_first / _last, total / mean values). Scored by the champion from orders up to "
        "that day only.",
        check_specs=(
            dg.AssetCheckSpec(
                RANGE_CHECK,
                asset=VALUE_KEY,
                description="Probabilities in [0, 1]; expected orders, value and CLV finite and >= 0 (WARN).",
            ),
        ),
    )
    def customer_value(context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        knobs = run_knobs(context, value_knobs())
        as_of = dt.date.fromisoformat(context.partition_key)
        client = warehouse.client()
        champion = mlflow.registry().load_champion(MODEL_NAME)
        if champion is None:
            raise dg.Failure(
                description=f"no `{MODEL_NAME}` version holds the champion alias: materialize value_model first"
            )
        model, version = champion
        frame = score_frame(model, read_orders(client, as_of), as_of, version, knobs)
        check = range_check(frame)
        replaced = client.replace_partitions(MARTS, "customer_value", frame, "as_of_date", as_of, as_of)
        yield dg.MaterializeResult(
            metadata={
                **frame_metadata(frame.select(list(VALUE_SCHEMA)[:9])),
                "table": f"{MARTS}.customer_value",
                "as_of_date": str(as_of),
                "rows_replaced": replaced,
                "model_name": MODEL_NAME,
                "model_version": version,
                "horizon_days": knobs.horizon_days,
                "total_expected_value": float(frame["expected_value"].sum()),
                "total_clv_12m": float(frame["clv_12m"].sum()),
                "mean_p_alive": float(frame["p_alive"].mean()),
            },
            check_results=[check],
        )

    @scoring_asset(
        MODEL,
        "marts.retention_targets",
        partitions_def=partitions_def,
        deps=[customer_value, CHURN_SCORES_KEY, SEGMENTS_KEY, RECOMMENDATIONS_KEY],
        kinds={"polars", "sql"},
        description="The retention worklist a CRM team exports: every scored customer ranked by value at risk = "
        "P(churn) x expected value over the churn window, with churn_probability (from the churn "
        "model; where it has no score, the value model's P(no order in the window), named in "
        "churn_probability_source), risk_level, top_reasons, segment_name, expected_value, clv_12m, "
        "p_alive and the top 3 recommended_products. Builds with nulls / empty lists where the churn, "
        "segment or recommendation tables are missing.",
    )
    def retention_targets(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        as_of = dt.date.fromisoformat(context.partition_key)
        client = warehouse.client()
        value = table_at(client, "customer_value", as_of)
        if value is None:
            raise dg.Failure(
                description=f"marts.customer_value has no rows for {as_of}: the value model did not "
                "score that day (see customer_value)"
            )
        inputs = {
            "churn_scores": table_at(
                client, "churn_scores", as_of, "customer_id, churn_probability, risk_level, top_reasons, model_version"
            ),
            "customer_segments": table_at(client, "customer_segments", as_of, "customer_id, segment_name"),
            "product_recommendations": table_at(
                client, "product_recommendations", as_of, "customer_id, product_id, rank"
            ),
        }
        frame = build_targets(
            value, inputs["churn_scores"], inputs["customer_segments"], inputs["product_recommendations"], as_of
        )
        missing = sorted(name for name, table in inputs.items() if table is None)
        if missing:
            context.log.warning(f"marts.retention_targets {as_of}: built without {', '.join(missing)}")
        replaced = client.replace_partitions(MARTS, "retention_targets", frame, "as_of_date", as_of, as_of)
        sources = dict(frame.group_by("churn_probability_source").len().iter_rows())
        top = frame.head(10).select(
            "rank",
            ID,
            pl.col("value_at_risk").round(2),
            pl.col("churn_probability").round(3),
            "risk_level",
            "segment_name",
            pl.col("expected_value").round(2),
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(frame.height),
                "table": f"{MARTS}.retention_targets",
                "as_of_date": str(as_of),
                "rows_replaced": replaced,
                "missing_inputs": dg.MetadataValue.json(missing),
                "churn_probability_sources": dg.MetadataValue.json(sources),
                "total_value_at_risk": float(frame["value_at_risk"].sum()),
                "top_10": dg.MetadataValue.md(markdown_table(top)),
                "risk_rule": f"Low < {RISK_LEVEL_CUT_POINTS[0]} <= Medium < {RISK_LEVEL_CUT_POINTS[1]} <= High",
            }
        )

    return [value_model, customer_value, retention_targets]
