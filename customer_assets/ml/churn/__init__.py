"""Churn prediction library (pure: polars/numpy in, polars/numpy out; no Dagster, warehouse or MLflow).

```python
from customer_assets.ml.churn import train_churn_model, evaluate_on_holdout, should_promote
model = train_churn_model(frame, label="churned", id_column="customer_id", seed=0, time_column="cutoff_date")
model.predict_proba(frame)          # numpy array of calibrated P(churn), one per row
model.risk_level(probabilities)     # "Low" / "Medium" / "High" (RISK_LEVEL_CUT_POINTS)
model.explain(frame, top_k=3)       # polars: id, churn_probability, risk_level, top_reasons, reason_k, ...
model.global_importance()           # polars: feature, mean_abs_contribution, share
model.report                        # JSON-friendly dict; report["primary_metric"] names the gate metric
model.report["served"]              # the chosen family, or the plain baseline (logistic_onehot, frequency_only,
                                    # recency_only) serving instead when no family beat it; see "served_reason"
metrics = evaluate_on_holdout(model, holdout_frame)      # same keys as report["metrics"]
promote, why = should_promote(challenger_metrics, champion_metrics, metric="roc_auc", margin=0.005)
write_plots(model, folder)          # ROC, PR, calibration, importance PNGs
snapshots = transaction_snapshots(transactions, cutoffs)  # point-in-time features + label from a purchase log
```
"""

from customer_assets.ml.churn.evaluation import evaluate_on_holdout, should_promote
from customer_assets.ml.churn.families import FAMILIES, IMBALANCE_STRATEGIES
from customer_assets.ml.churn.model import RISK_LEVEL_CUT_POINTS, RISK_LEVELS, ChurnModel, risk_levels
from customer_assets.ml.churn.plots import (
    plot_calibration,
    plot_importance,
    plot_precision_recall,
    plot_roc,
    write_plots,
)
from customer_assets.ml.churn.snapshots import transaction_snapshots
from customer_assets.ml.churn.splits import stratified_group_folds
from customer_assets.ml.churn.training import train_churn_model

__all__ = [
    "FAMILIES",
    "IMBALANCE_STRATEGIES",
    "RISK_LEVELS",
    "RISK_LEVEL_CUT_POINTS",
    "ChurnModel",
    "evaluate_on_holdout",
    "plot_calibration",
    "plot_importance",
    "plot_precision_recall",
    "plot_roc",
    "risk_levels",
    "should_promote",
    "stratified_group_folds",
    "train_churn_model",
    "transaction_snapshots",
    "write_plots",
]
