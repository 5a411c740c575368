"""Explicit rating prediction: a validated linear blend of time-aware biases, item-kNN on their residuals and
low-rank residual factors, served only when it beats the plain regularised-bias baseline on validation.

`fit_rating_model(ratings, seed=0)` -> RatingModel; `.predict(pairs)` returns ratings clipped to the range seen in
training; unknown customers/products fall back to what is known (biases, then the global mean).

How the fit works (every choice on one validation split of the ratings, never on data the caller holds out):
1. baseline: mu + b_u + b_i with (reg_user, reg_item) tuned on validation (`rating_baseline`);
2. time-aware biases on top (per customer-day, per product time bin, customer drift; `rating_time_biases`), their
   two regularisation strengths tuned on validation; without timestamps the tuned baseline stands in;
3. item-kNN on the residuals of (2) (`rating_knn`), neighbours and shrinkage tuned on validation;
4. ALS factors of the same residuals (`rating_factors`), regularisation tuned on validation;
5. a ridge linear blend of (2)-(4) fitted on the validation predictions; its validation RMSE is cross-fitted
   (weights fitted on one half of validation, scored on the other) so it is not flattered by its own fit.
The blend is compared with the baseline on the same validation ratings and served only if its paired gain in
squared error is beyond noise (> 2 standard errors); the winner is refitted on all ratings with the chosen
settings (`report["served"]`, `report["served_reason"]`, `report["rmse"]` beside `report["baseline_rmse"]`).
Time-aware terms use the ts of the pair being predicted (a customer-day seen in training keeps its bias; an
undated pair is taken as "now").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from customer_assets.ml.recommend.interactions import SECONDS_PER_DAY, IdIndex, normalise_ts, validate_ratings
from customer_assets.ml.recommend.rating_baseline import Biases, fit_biases, tune_biases
from customer_assets.ml.recommend.rating_data import RatingArrays, rmse
from customer_assets.ml.recommend.rating_factors import ResidualFactors, fit_residual_factors
from customer_assets.ml.recommend.rating_knn import ResidualItemKnn, residual_knn_candidates
from customer_assets.ml.recommend.rating_time_biases import TimeBiases, fit_time_biases

TIME_REG_GRID = ((5.0, 10.0), (10.0, 10.0), (10.0, 30.0), (20.0, 30.0), (40.0, 30.0), (20.0, 100.0))  # (day, bin)
KNN_GRID = ((20, 100.0), (40, 100.0), (40, 300.0), (80, 300.0))  # (neighbours, shrinkage)
KNN_MIN_RATINGS = 5
FACTOR_REG_GRID = (0.3, 1.0)
BLEND_RIDGE = 1.0
SERVE_MIN_Z = 2.0
DEFAULT_REG = 5.0  # bias regularisation when there is too little data to validate


@dataclass
class _Blend:
    """Time-aware (or plain) biases + weighted residual corrections; the weights come from validation."""

    base: TimeBiases | Biases
    knn: ResidualItemKnn | None
    factors: ResidualFactors | None
    weights: np.ndarray | None = None

    def features(self, data: RatingArrays) -> np.ndarray:
        columns = [np.ones(len(data)), self.base.predict(data)]
        if self.knn is not None:
            correction, support = self.knn.correction(data)
            # kNN is trusted more when the neighbours are many and similar (high support).
            columns += [correction, correction * support / (support + 1.0)]
        if self.factors is not None:
            columns.append(self.factors.correction(data))
        return np.column_stack(columns)

    def predict(self, data: RatingArrays) -> np.ndarray:
        return self.features(data) @ self.weights


def _ridge(features: np.ndarray, target: np.ndarray) -> np.ndarray:
    penalty = BLEND_RIDGE * np.eye(features.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    return np.linalg.solve(features.T @ features + penalty, features.T @ target)


def _cross_fitted(features: np.ndarray, target: np.ndarray, low: float, high: float, seed: int) -> np.ndarray:
    """Blend predictions on validation with weights fitted on the other half (2 folds): scoring these does not
    flatter the blend with its own fit."""
    half = np.random.default_rng(seed + 1).permutation(len(target)) % 2 == 0
    predicted = np.empty(len(target))
    for part in (half, ~half):
        predicted[part] = features[part] @ _ridge(features[~part], target[~part])
    return np.clip(predicted, low, high)


class RatingModel:
    def __init__(self, customers: IdIndex, items: IdIndex, predictor, low: float, high: float, report: dict):
        self.customers, self.items = customers, items
        self.predictor = predictor  # Biases (baseline served) or _Blend
        self.low, self.high = low, high
        self.report = report

    def predict(self, pairs: pl.DataFrame) -> np.ndarray:
        """Predicted rating per row of pairs (customer_id, product_id[, ts]), clipped to the training range."""
        if not isinstance(pairs, pl.DataFrame):
            raise ValueError("pairs must be a polars DataFrame with customer_id, product_id")
        missing = [c for c in ("customer_id", "product_id") if c not in pairs.columns]
        if missing:
            raise ValueError(f"pairs is missing column(s) {missing}")
        data = _arrays(pairs, self.customers, self.items, with_values=False)
        return np.clip(self.predictor.predict(data), self.low, self.high)


def _days(frame: pl.DataFrame) -> np.ndarray | None:
    if "ts" not in frame.columns:
        return None
    seconds = normalise_ts(frame.select("ts"), "pairs")["ts"].dt.epoch("s").to_numpy()
    return seconds.astype(np.float64) / SECONDS_PER_DAY


def _arrays(frame: pl.DataFrame, customers: IdIndex, items: IdIndex, with_values: bool) -> RatingArrays:
    return RatingArrays(
        customers.lookup(frame["customer_id"]),
        items.lookup(frame["product_id"]),
        frame["rating"].to_numpy().astype(np.float64) if with_values else None,
        _days(frame),
    )


def _validation_split(frame: pl.DataFrame, validation: str, fraction: float, seed: int) -> tuple[np.ndarray, str]:
    if validation not in ("auto", "time", "random"):
        raise ValueError(f"validation must be 'auto', 'time' or 'random', got {validation!r}")
    if validation == "time" and "ts" not in frame.columns:
        raise ValueError("validation='time' needs a ts column")
    if validation in ("auto", "time") and "ts" in frame.columns:
        rank = frame["ts"].rank("ordinal").to_numpy()
        return rank > (1 - fraction) * frame.height, "time"  # the latest ratings, as the model will be used
    return np.random.default_rng(seed).random(frame.height) < fraction, "random"


def _unseen_as_unknown(held: RatingArrays, train: RatingArrays, n_users: int, n_items: int) -> RatingArrays:
    """Customers/products absent from the training part count as unknown (-1) on validation, as at serving time."""
    seen_user = np.bincount(train.users, minlength=n_users) > 0
    seen_item = np.bincount(train.items, minlength=n_items) > 0
    return RatingArrays(
        np.where(seen_user[held.users], held.users, -1),
        np.where(seen_item[held.items], held.items, -1),
        held.values,
        held.days,
    )


def _fit_components(data: RatingArrays, n_users: int, n_items: int, settings: dict, seed: int) -> _Blend:
    """Refit with settings chosen on validation."""
    base = fit_biases(data, n_users, n_items, **settings["baseline"])
    if settings.get("time") is not None:
        base = fit_time_biases(data, n_users, n_items, **settings["baseline"], **settings["time"])
    residual = data.values - base.predict(data)
    knn = None
    if settings.get("knn") is not None:
        knn_settings = settings["knn"]
        _, knn = next(
            residual_knn_candidates(
                data,
                residual,
                n_users,
                n_items,
                knn_settings["min_ratings"],
                [(knn_settings["neighbours"], knn_settings["shrinkage"])],
            )
        )
    factors = None
    if settings.get("factors") is not None:
        factors = fit_residual_factors(data, residual, n_users, n_items, seed=seed, **settings["factors"])
    return _Blend(base, knn, factors)


def _select_model(train, held, n_users, n_items, baseline_settings, factors, iterations, seed, report) -> dict:
    """Tune each component on validation in turn; returns the settings (and records the trials in report)."""
    settings = {"baseline": baseline_settings, "time": None, "knn": None, "factors": None}
    components = report["components"]
    biases = fit_biases(train, n_users, n_items, **baseline_settings)
    base, base_rmse = biases, rmse(biases.predict(held), held.values)
    if train.days is not None:
        trials = []
        for reg_day, reg_bin in TIME_REG_GRID:
            candidate = fit_time_biases(train, n_users, n_items, **baseline_settings, reg_day=reg_day, reg_bin=reg_bin)
            trials.append((rmse(candidate.predict(held), held.values), reg_day, reg_bin, candidate))
        best = min(trials, key=lambda t: t[0])
        components["time_biases"] = {
            "rmse": best[0],
            "reg_day": best[1],
            "reg_bin": best[2],
            "trials": [{"reg_day": t[1], "reg_bin": t[2], "rmse": t[0]} for t in trials],
        }
        if best[0] < base_rmse:
            base, base_rmse = best[3], best[0]
            settings["time"] = {"reg_day": best[1], "reg_bin": best[2]}
    base_held = base.predict(held)
    residual = train.values - base.predict(train)
    knn_trials, best_knn = [], None
    for params, knn in residual_knn_candidates(train, residual, n_users, n_items, KNN_MIN_RATINGS, KNN_GRID):
        score = rmse(base_held + knn.correction(held)[0], held.values)
        knn_trials.append({"neighbours": params.neighbours, "shrinkage": params.shrinkage, "rmse": score})
        if best_knn is None or score < best_knn[0]:
            best_knn = (score, params, knn)
    components["item_knn"] = {"rmse": best_knn[0], "trials": knn_trials}
    if best_knn[0] < base_rmse:
        params = best_knn[1]
        settings["knn"] = {
            "neighbours": params.neighbours,
            "shrinkage": params.shrinkage,
            "min_ratings": params.min_ratings,
        }
    factor_trials, best_factors = [], None
    if factors > 0:
        for reg in FACTOR_REG_GRID:
            fitted = fit_residual_factors(train, residual, n_users, n_items, factors, reg, iterations, seed)
            score = rmse(base_held + fitted.correction(held), held.values)
            factor_trials.append({"reg": reg, "rmse": score})
            if best_factors is None or score < best_factors[0]:
                best_factors = (score, reg, fitted)
        components["factors"] = {"rmse": best_factors[0], "factors": factors, "trials": factor_trials}
        if best_factors[0] < base_rmse:
            settings["factors"] = {"factors": factors, "reg": best_factors[1], "iterations": iterations}
    blend = _Blend(base, best_knn[2] if settings["knn"] else None, best_factors[2] if settings["factors"] else None)
    return settings, blend


def fit_rating_model(
    ratings: pl.DataFrame,
    seed: int = 0,
    factors: int = 16,
    iterations: int = 5,
    validation_fraction: float = 0.1,
    validation: str = "auto",
) -> RatingModel:
    """Fit on ratings (customer_id, product_id, rating[, ts]); see the module docstring.

    validation: "auto" (the latest ratings when there are timestamps, else a seeded random share), "time" or
    "random" (when the model will predict ratings scattered over the same period, e.g. random test folds).
    """
    frame = validate_ratings(ratings)
    customers = IdIndex.from_values(frame["customer_id"])
    items = IdIndex.from_values(frame["product_id"])
    data = _arrays(frame, customers, items, with_values=True)
    low, high = float(data.values.min()), float(data.values.max())
    n_users, n_items = len(customers), len(items)
    held_mask, method = _validation_split(frame, validation, validation_fraction, seed)
    train = data.subset(~held_mask)
    report = {
        "primary_metric": "rmse",
        "validation": {"method": method, "n_ratings": int(held_mask.sum())},
        "components": {},
    }
    report["data"] = {
        "n_ratings": frame.height,
        "n_customers": n_users,
        "n_products": n_items,
        "rating_range": [low, high],
        "timestamps": data.days is not None,
    }
    if not held_mask.any() or not train.values.size:
        baseline = fit_biases(data, n_users, n_items, DEFAULT_REG, DEFAULT_REG)
        report |= {
            "served": "baseline",
            "served_reason": "too few ratings to validate a model against the baseline",
            "rmse": None,
            "baseline_rmse": None,
            "metrics": {},
            "params": {"baseline": {"reg_user": DEFAULT_REG, "reg_item": DEFAULT_REG}, "seed": seed},
        }
        return RatingModel(customers, items, baseline, low, high, report)

    held = _unseen_as_unknown(data.subset(held_mask), train, n_users, n_items)
    baseline_settings, baseline_rmse, _ = tune_biases(train, held, n_users, n_items)
    settings, blend = _select_model(train, held, n_users, n_items, baseline_settings, factors, iterations, seed, report)
    features = blend.features(held)
    model_held = _cross_fitted(features, held.values, low, high, seed)
    model_rmse = rmse(model_held, held.values)
    weights = _ridge(features, held.values)
    baseline_held = np.clip(fit_biases(train, n_users, n_items, **baseline_settings).predict(held), low, high)
    baseline_rmse = rmse(baseline_held, held.values)  # clipped like the model's, so the comparison is fair
    # "Beats" means beyond validation noise: the paired gain in squared error must exceed SERVE_MIN_Z standard
    # errors, so a blend that only matches the biases (noise around them) does not replace them by luck.
    gain = (baseline_held - held.values) ** 2 - (model_held - held.values) ** 2
    gain_z = float(gain.mean() / max(gain.std(ddof=1) / np.sqrt(len(gain)), 1e-12)) if len(gain) > 1 else 0.0
    serve_model = model_rmse < baseline_rmse and gain_z > SERVE_MIN_Z
    comparison = (
        f"blend validation RMSE {model_rmse:.4f} vs baseline {baseline_rmse:.4f} (paired gain z = {gain_z:.1f})"
    )
    report |= {
        "rmse": model_rmse,
        "baseline_rmse": baseline_rmse,
        "gain_z": gain_z,
        "served": "model" if serve_model else "baseline",
        "served_reason": (
            f"{comparison}: the blend beats the baseline"
            if serve_model
            else f"{comparison}: the blend does not beat the baseline by more than {SERVE_MIN_Z} standard errors"
        ),
        "metrics": {
            "rmse": model_rmse,
            "rmse_biases_only": baseline_rmse,
            "mae": float(np.mean(np.abs(model_held - held.values))),
            "mae_biases_only": float(np.mean(np.abs(baseline_held - held.values))),
        },
        "baseline": {
            "global_mean": {"rmse": rmse(np.full(len(held), train.values.mean()), held.values)},
            "biases": {"rmse": baseline_rmse, **baseline_settings},
        },
        "blend": {"columns": _blend_columns(blend), "weights": [float(w) for w in weights]},
        "params": {**settings, "seed": seed},
    }
    if serve_model:
        refitted = _fit_components(data, n_users, n_items, settings, seed)
        refitted.weights = weights
        return RatingModel(customers, items, refitted, low, high, report)
    return RatingModel(customers, items, fit_biases(data, n_users, n_items, **baseline_settings), low, high, report)


def _blend_columns(blend: _Blend) -> list[str]:
    columns = ["intercept", "time_biases" if isinstance(blend.base, TimeBiases) else "biases"]
    if blend.knn is not None:
        columns += ["item_knn", "item_knn_x_support"]
    if blend.factors is not None:
        columns.append("factors")
    return columns
