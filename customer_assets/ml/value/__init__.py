"""Customer value library (pure: polars/numpy in, polars/numpy out; no Dagster, warehouse or MLflow).

BG/NBD for purchase counts and dropout, Gamma-Gamma for order value, both by maximum likelihood (own
NumPy/SciPy likelihoods; see model.py for why), with an optional seasonal clock learnt when the history covers a
year and kept only if it helps on a validation window.

```python
from customer_assets.ml.value import fit_value_model, holdout_evaluation
model = fit_value_model(transactions, id_column="customer_id", time_column="order_ts", amount_column="amount")
model.p_alive(frame)                      # numpy, one per row: P(not dropped out) at the as-of date
model.expected_orders(frame, 90)          # expected purchase days in the next 90 days
model.expected_value(frame, 90)           # expected spend in the next 90 days
model.clv(frame, months=12, annual_discount=0.10)   # discounted expected spend over 12 months
model.p_order(frame, 90)                  # P(at least one purchase in 90 days); 1 - it is P(churn)
model.score(frame, 90)                    # polars: id and all of the above
model.report                              # JSON-friendly: parameters, convergence, seasonal decision, timings
summary = model.summarize(transactions)   # the per-customer purchase summary the methods also accept
model, evaluation = holdout_evaluation(transactions, calibration_end, holdout_days=273)  # vs the naive baseline
```

``frame`` is either raw transactions (summarized at the model's as-of date, one row per customer sorted by id) or
a purchase summary (columns orders, days_since_first, days_since_last and optionally mean_order_value /
mean_repeat_value; rows kept as given). Bad input raises ValueError with the reason.
"""

from customer_assets.ml.value.bgnbd import BgNbd
from customer_assets.ml.value.evaluation import (
    beats_naive,
    evaluate_holdout,
    holdout_evaluation,
    naive_predictions,
    split_in_time,
)
from customer_assets.ml.value.gamma_gamma import GammaGamma
from customer_assets.ml.value.model import ValueModel, fit_value_model
from customer_assets.ml.value.plots import write_plots
from customer_assets.ml.value.seasonal import SeasonalIndex
from customer_assets.ml.value.summary import SUMMARY_COLUMNS, check_summary, summarize

__all__ = [
    "SUMMARY_COLUMNS",
    "BgNbd",
    "GammaGamma",
    "SeasonalIndex",
    "ValueModel",
    "beats_naive",
    "check_summary",
    "evaluate_holdout",
    "fit_value_model",
    "holdout_evaluation",
    "naive_predictions",
    "split_in_time",
    "summarize",
    "write_plots",
]
