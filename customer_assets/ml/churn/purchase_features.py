"""Purchase-process features for churn: BG/NBD P(alive) and expected orders in the churn window.

A BG/NBD model (``customer_assets.ml.value.bgnbd``) is fitted without labels on the training rows' own
(x, t_x, T) at their cutoffs, then applied to any frame with the three input columns:

- x = completed orders - 1 (repeat purchases), from ``frequency``;
- T = days from the first completed order to the cutoff, from ``first_purchase_days``;
- t_x = T - ``recency_days`` (first to last order), clipped into [0, T].

It adds ``bgnbd_p_alive`` and ``bgnbd_expected_orders`` (orders expected in the next ``horizon_days``). The
fitted parameters travel with the churn model (``FeaturePreparer.derived``), so the batch scores, the online
snapshot and feature rows sent to the live service all get the same two columns from the same fit, computed
from columns they already carry. Rows without an order (or without the inputs) get nulls, which the
models treat as missing.

``train_with_purchase_features`` trains the churn model with and without them and keeps them only when
they raise the cross-validated selection metric (the holdout stays out of the choice; its figures for both
are reported beside it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from customer_assets.ml.value.bgnbd import BgNbd

P_ALIVE = "bgnbd_p_alive"
EXPECTED_ORDERS = "bgnbd_expected_orders"
OUTPUT_COLUMNS = (P_ALIVE, EXPECTED_ORDERS)
FIT_MAX_ROWS = 200_000
"""BG/NBD is fitted on at most this many rows (a random sample); the fit is linear but needs no more."""


@dataclass
class PurchaseProcessFeatures:
    model: BgNbd
    horizon_days: float
    frequency: str = "frequency"
    recency: str = "recency_days"
    first_purchase: str = "first_purchase_days"
    fit_rows: int = 0
    report: dict = field(default_factory=dict)

    @property
    def input_columns(self) -> tuple[str, ...]:
        return (self.frequency, self.recency, self.first_purchase)

    @staticmethod
    def _rft(frame: pl.DataFrame, frequency: str, recency: str, first_purchase: str):
        """(x, t_x, T, usable) with usable = at least one order and all three inputs finite."""
        values = frame.select(
            pl.col(frequency).cast(pl.Float64, strict=False).alias("f"),
            pl.col(recency).cast(pl.Float64, strict=False).alias("r"),
            pl.col(first_purchase).cast(pl.Float64, strict=False).alias("T"),
        )
        f, r, T = (values[c].to_numpy().astype(np.float64) for c in ("f", "r", "T"))
        usable = np.isfinite(f) & np.isfinite(r) & np.isfinite(T) & (f >= 1) & (T >= 0) & (r >= 0)
        f, r, T = np.where(usable, f, 1.0), np.where(usable, r, 0.0), np.where(usable, T, 0.0)
        x = np.round(f) - 1.0
        T = np.maximum(T, r)  # an order older than the first one cannot be; trust the last order's age
        t_x = np.where(x > 0, np.clip(T - r, 0.0, T), 0.0)
        return x, t_x, T, usable

    @classmethod
    def fit(
        cls,
        frame: pl.DataFrame,
        horizon_days: float,
        frequency: str = "frequency",
        recency: str = "recency_days",
        first_purchase: str = "first_purchase_days",
        max_rows: int = FIT_MAX_ROWS,
        seed: int = 0,
    ) -> "PurchaseProcessFeatures":
        """Fit on ``frame``'s rows (labels are never read). Raises ValueError when it cannot be fitted."""
        missing = [c for c in (frequency, recency, first_purchase) if c not in frame.columns]
        if missing:
            raise ValueError(f"purchase-process features need columns {missing}")
        x, t_x, T, usable = cls._rft(frame, frequency, recency, first_purchase)
        rows = np.flatnonzero(usable)
        if rows.size > max_rows:
            rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
        model = BgNbd().fit(x[rows], t_x[rows], T[rows])
        return cls(
            model=model,
            horizon_days=float(horizon_days),
            frequency=frequency,
            recency=recency,
            first_purchase=first_purchase,
            fit_rows=int(rows.size),
            report={
                "params": model.params,
                "log_likelihood": model.log_likelihood,
                "converged": model.converged,
                "fit_rows": int(rows.size),
                "horizon_days": float(horizon_days),
            },
        )

    def add(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with the two output columns (replacing any given ones)."""
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"feature columns missing from the input frame: {missing} (the churn model derives "
                f"{', '.join(OUTPUT_COLUMNS)} from them)"
            )
        x, t_x, T, usable = self._rft(frame, *self.input_columns)
        p_alive = np.where(usable, self.model.p_alive(x, t_x, T), np.nan)
        expected = np.where(usable, self.model.expected_purchases(self.horizon_days, x, t_x, T), np.nan)
        return frame.with_columns(
            pl.Series(P_ALIVE, p_alive, dtype=pl.Float64).fill_nan(None),
            pl.Series(EXPECTED_ORDERS, expected, dtype=pl.Float64).fill_nan(None),
        )


def _summary(model) -> dict:
    report = model.report
    return {
        "served": report.get("served", report.get("chosen_family")),
        "cv": {k: report["cv_metrics"].get(k) for k in ("roc_auc", "pr_auc")},
        "holdout": {k: report["metrics"].get(k) for k in ("roc_auc", "pr_auc", "brier")},
    }


def train_with_purchase_features(
    frame: pl.DataFrame,
    *,
    horizon_days: float,
    time_column: str,
    selection_metric: str = "pr_auc",
    search_budget_seconds: float = 60.0,
    seed: int = 0,
    frequency: str = "frequency",
    recency: str = "recency_days",
    first_purchase: str = "first_purchase_days",
    **train_kwargs,
):
    """(model, comparison): the churn model trained without and with the purchase-process features.

    Each training gets half of ``search_budget_seconds``. The features are fitted on the rows before the
    latest ``time_column`` value (the library's holdout) only. The version with them is kept when its
    cross-validated ``selection_metric`` is higher; ``comparison`` records both and the reason. When they
    cannot be fitted (no inputs, no repeat buyers) the model without them is returned and the reason said.
    """
    from customer_assets.ml.churn.training import train_churn_model

    budget = search_budget_seconds / 2.0
    common = dict(time_column=time_column, selection_metric=selection_metric, seed=seed, **train_kwargs)
    without = train_churn_model(frame, search_budget_seconds=budget, **common)
    comparison = {
        "rule": f"kept when the cross-validated {selection_metric} rises (holdout shown, never used)",
        "without": _summary(without),
    }
    try:
        training_rows = frame.filter(pl.col(time_column) < frame[time_column].max())
        derived = PurchaseProcessFeatures.fit(
            training_rows, horizon_days, frequency, recency, first_purchase, seed=seed
        )
    except ValueError as error:
        comparison.update(kept=False, reason=f"not fitted: {error}")
        return without, comparison
    with_features = train_churn_model(frame, search_budget_seconds=budget, derived_features=derived, **common)
    comparison["with"] = _summary(with_features)
    comparison["bgnbd"] = derived.report
    before = comparison["without"]["cv"].get(selection_metric)
    after = comparison["with"]["cv"].get(selection_metric)
    kept = after is not None and before is not None and np.isfinite(after) and after > before
    comparison["kept"] = bool(kept)
    comparison["reason"] = (
        f"cross-validated {selection_metric} {after:.4f} with vs {before:.4f} without: {'kept' if kept else 'dropped'}"
    )
    return (with_features if kept else without), comparison
