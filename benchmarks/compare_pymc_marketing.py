"""PyMC-Marketing BG/NBD (MAP) on CDNOW's classic 39/39-week split, beside customer_assets.ml.value (README figures).

Not part of `make bench`: it needs `pip install pymc-marketing polars` in a separate environment (pymc,
pytensor and arviz are not project dependencies). Run: <that env>/bin/python benchmarks/compare_pymc_marketing.py
"""
import datetime as dt, time
import numpy as np, polars as pl, pandas as pd
from scipy.stats import spearmanr
text = open("/work/shared/data/cdnow/CDNOW_master.txt").read().replace("\r", "")
rows = [l.split() for l in text.splitlines()[1:] if l.strip()]
tx = pl.DataFrame(rows, schema=["customer_id", "date", "cds", "dollars"], orient="row").select(
    "customer_id", pl.col("date").str.to_date("%Y%m%d"), pl.col("dollars").cast(pl.Float64))
end = dt.date(1997, 9, 30); hold_end = end + dt.timedelta(days=273)
days = tx.group_by("customer_id", "date").agg(pl.col("dollars").sum())
cal = days.filter(pl.col("date") <= end).group_by("customer_id").agg(
    frequency=pl.len() - 1, first=pl.col("date").min(), last=pl.col("date").max(),
    mean_value=pl.col("dollars").mean()).with_columns(
    recency=(pl.col("last") - pl.col("first")).dt.total_days().cast(pl.Float64) / 7,
    T=(pl.lit(end) - pl.col("first")).dt.total_days().cast(pl.Float64) / 7)
hold = days.filter((pl.col("date") > end) & (pl.col("date") <= hold_end)).group_by("customer_id").agg(actual=pl.len())
df = cal.join(hold, on="customer_id", how="left").with_columns(pl.col("actual").fill_null(0)).sort("customer_id")
print("customers", df.height)
from pymc_marketing.clv import BetaGeoModel
data = pd.DataFrame(df.select("customer_id", "frequency", "recency", "T").to_dict(as_series=False)); data["customer_id"] = data["customer_id"].astype(int)
t = time.perf_counter()
m = BetaGeoModel(data=data)
m.fit(fit_method="map")
fit_s = time.perf_counter() - t
pred = m.expected_purchases(data=data, future_t=273 / 7)
pred = np.asarray(pred.mean(("chain", "draw")) if hasattr(pred, "dims") and "chain" in pred.dims else pred).ravel()
actual = df["actual"].to_numpy()
print("pymc-marketing BG/NBD MAP: fit %.1f s" % fit_s, m.fit_summary() if hasattr(m, "fit_summary") else "")
print("orders MAE %.3f Spearman %.3f aggregate %.3f" % (np.abs(pred - actual).mean(), spearmanr(pred, actual)[0], pred.sum() / actual.sum()))
