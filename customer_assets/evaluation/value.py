"""Customer value on CDNOW: ``fit_value_model`` (BG/NBD + Gamma-Gamma) beside the naive baseline.

- Classic split (Fader, Hardie & Lee 2005): the first 39 weeks (1997-01-01 .. 1997-09-30) calibrate, the next 39
  weeks (1997-10-01 .. 1998-06-30) are the holdout; every one of the 23,570 customers made the first purchase
  in the calibration period. Per-customer MAE and Spearman of predicted vs actual purchases (purchase days) and
  spend in the holdout, and the aggregate error |sum predicted / sum actual - 1|, model beside the naive
  baseline (historical repeat rate x horizon; that x historical mean order value). 39 weeks of history is less
  than the year a seasonal clock needs, so it is off here.
- Full run also: the last 13 weeks held out (calibration 1997-01-01 .. 1998-03-31, 65 weeks, enough for the
  seasonal clock): the model as ``fit_value_model`` chooses (seasonal="auto" decides on its own validation
  window inside the calibration data), the seasonal clock forced on against it forced off, and MBG/NBD (dropout
  possible right after the first purchase) against BG/NBD.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from customer_assets.evaluation import EvalRow
from customer_assets.ml.churn.snapshots import read_cdnow
from customer_assets.ml.value import holdout_evaluation

TASK = "value"
CLASSIC_END = dt.date(1997, 9, 30)  # 39 weeks after 1997-01-01 (inclusive)
CLASSIC_HOLDOUT_DAYS = 273  # 39 weeks: 1997-10-01 .. 1998-06-30
LATE_END = dt.date(1998, 3, 31)
LATE_HOLDOUT_DAYS = 91  # 13 weeks: 1998-04-01 .. 1998-06-30
MODEL = "bgnbd+gamma_gamma"
# (metric key, readable name, higher is better)
METRICS = (
    ("orders_mae", "orders MAE", False),
    ("orders_spearman", "orders Spearman", True),
    ("orders_aggregate_error", "orders |aggregate ratio - 1|", False),
    ("value_mae", "value MAE ($)", False),
    ("value_spearman", "value Spearman", True),
    ("value_aggregate_error", "value |aggregate ratio - 1|", False),
)


def cdnow_transactions(shared: Path):
    path = Path(shared) / "cdnow" / "CDNOW_master.txt"
    return read_cdnow(path) if path.is_file() else None


def _notes(evaluation: dict, model, extra: str = "") -> str:
    m, n = evaluation["model"], evaluation["naive"]
    return (
        f"{evaluation['customers']} customers, {evaluation['horizon_days']}-day holdout; aggregate ratio orders "
        f"{m['orders_aggregate_ratio']:.3f} (naive {n['orders_aggregate_ratio']:.3f}), value "
        f"{m['value_aggregate_ratio']:.3f} (naive {n['value_aggregate_ratio']:.3f}); seasonal: "
        f"{model.report['seasonal']['decision']}" + (f"; {extra}" if extra else "")
    )


def _versus_naive(dataset: str, evaluation: dict, model, name: str = MODEL) -> list[EvalRow]:
    notes = _notes(evaluation, model)
    return [
        EvalRow(
            dataset,
            TASK,
            label,
            "naive (rate x horizon, mean value)",
            evaluation["naive"][key],
            name,
            evaluation["model"][key],
            higher_is_better=higher,
            target="< baseline" if key in ("orders_mae", "value_mae", "orders_aggregate_error") else "",
            notes=notes,
        )
        for key, label, higher in METRICS
    ]


def _versus(
    dataset: str, baseline_name: str, baseline: dict, model_name: str, model: dict, keys, notes: str
) -> list[EvalRow]:
    labels = {key: (label, higher) for key, label, higher in METRICS}
    labels["orders_rmse"] = ("orders RMSE", False)
    return [
        EvalRow(
            dataset,
            TASK,
            labels[key][0],
            baseline_name,
            baseline[key],
            model_name,
            model[key],
            higher_is_better=labels[key][1],
            notes=notes,
        )
        for key in keys
    ]


def evaluate(shared: Path, reduced: bool = False) -> list[EvalRow]:
    transactions = cdnow_transactions(shared)
    if transactions is None:
        return []
    options = dict(id_column="customer_id", time_column="date", amount_column="amount")
    classic_model, classic = holdout_evaluation(transactions, CLASSIC_END, CLASSIC_HOLDOUT_DAYS, **options)
    rows = _versus_naive("cdnow (39/39 weeks)", classic, classic_model)
    if reduced:
        return rows
    model, late = holdout_evaluation(transactions, LATE_END, LATE_HOLDOUT_DAYS, **options)
    rows += _versus_naive("cdnow (65/13 weeks)", late, model)
    flat_model, flat = holdout_evaluation(transactions, LATE_END, LATE_HOLDOUT_DAYS, seasonal=False, **options)
    seasonal_model, seasonal = holdout_evaluation(transactions, LATE_END, LATE_HOLDOUT_DAYS, seasonal=True, **options)
    index = seasonal_model.report["seasonal"]["index"]
    notes = f"same split; learnt index {index}; the automatic choice was: {model.report['seasonal']['decision']}"
    rows += _versus(
        "cdnow (65/13 weeks)",
        "flat clock (seasonal=False)",
        flat["model"],
        "seasonal clock (seasonal=True)",
        seasonal["model"],
        ("orders_mae", "orders_rmse", "orders_aggregate_error", "value_mae"),
        notes,
    )
    mbg_model, mbg = holdout_evaluation(
        transactions, CLASSIC_END, CLASSIC_HOLDOUT_DAYS, purchase_model="mbgnbd", **options
    )
    notes = (
        f"classic split; log-likelihood MBG/NBD {mbg_model.report['bgnbd']['log_likelihood']:.1f} vs BG/NBD "
        f"{classic_model.report['bgnbd']['log_likelihood']:.1f}"
    )
    rows += _versus(
        "cdnow (39/39 weeks)",
        "bgnbd+gamma_gamma",
        classic["model"],
        "mbgnbd+gamma_gamma",
        mbg["model"],
        ("orders_mae", "orders_spearman", "orders_aggregate_error", "value_mae"),
        notes,
    )
    return rows
