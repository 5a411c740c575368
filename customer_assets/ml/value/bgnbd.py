"""BG/NBD (Fader, Hardie & Lee 2005): repeat purchases, dropout, P(alive) and expected purchases.

Inputs per customer at one cutoff (from purchases up to it): ``x`` repeat purchases (purchase days - 1),
``t_x`` time from the first to the last purchase, ``T`` time from the first purchase to the cutoff. The four
parameters (r, alpha: Gamma heterogeneity of the purchase rate; a, b: Beta heterogeneity of the dropout
probability after each purchase) are fitted by maximum likelihood without labels, so fitting on a cutoff's own
customers uses nothing after that cutoff. ``variant="mbgnbd"`` is MBG/NBD (Batislam et al. 2007): a customer can
also drop out right after the first purchase, so one-time buyers are not certainly alive.

Numerics (why this does not need a penalty to converge):
- the likelihood is evaluated in logs with ``logaddexp`` (the two terms of one-time buyers' and repeat buyers'
  likelihood differ by hundreds of orders of magnitude for heavy buyers), and the log-gamma terms that depend
  only on ``x`` are computed once per distinct ``x``;
- the search runs over log-parameters with the analytic gradient (L-BFGS-B), on time in weeks, and is started
  from a moment-based guess; bounds only keep it out of overflow territory;
- the conditional expectation's Gauss hypergeometric term is evaluated after Euler's transformation,
  ``(1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``, whose series has
  no large parameter and no ``(1-z)^-(r+x)`` blow-up for heavy buyers; ``a = 1`` (a removable singularity of
  ``(a+b+x-1)/(a-1)``) is stepped around.

Times are given in days; inside they are weeks (better-conditioned). All methods are vectorised: a million
customers fit and score in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

DAYS_PER_UNIT = 7.0
LOG_BOUNDS = (-12.0, 12.0)
VARIANTS = ("bgnbd", "mbgnbd")


def _unique_x(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, inverse = np.unique(x, return_inverse=True)
    return values, inverse.reshape(x.shape)


def _loglik_and_grad(
    log_params: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    ux: np.ndarray,
    inv: np.ndarray,
    k: int = 0,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Sum of log-likelihoods and its gradient with respect to the log-parameters (k = 1: MBG/NBD)."""
    r, alpha, a, b = np.exp(log_params)
    can_drop = (x > 0) | (k == 1)
    # Terms that depend on x only: once per distinct x.
    lg = (gammaln(r + ux) - gammaln(r) + gammaln(a + b) + gammaln(b + ux + k) - gammaln(b) - gammaln(a + b + ux + k))[
        inv
    ]
    log_alpha_T = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    a3 = -(r + x) * log_alpha_T
    bxk = np.where(can_drop, b + x + k - 1.0, 1.0)
    a4 = np.where(can_drop, np.log(a) - np.log(bxk) - (r + x) * log_alpha_tx, -np.inf)
    total = np.logaddexp(a3, a4)
    ll = lg + r * np.log(alpha) + total
    w = np.where(can_drop, np.exp(a4 - total), 0.0)  # the "dropped out after the last purchase" share
    d_r = (digamma(r + ux) - digamma(r))[inv] + np.log(alpha) - (1 - w) * log_alpha_T - w * log_alpha_tx
    d_alpha = r / alpha - (r + x) * ((1 - w) / (alpha + T) + w / (alpha + t_x))
    d_a = (digamma(a + b) - digamma(a + b + ux + k))[inv] + w / a
    d_b = (digamma(a + b) + digamma(b + ux + k) - digamma(b) - digamma(a + b + ux + k))[inv] - w / bxk
    if weights is None:
        grads = np.array([d_r.sum(), d_alpha.sum(), d_a.sum(), d_b.sum()])
        value = float(ll.sum())
    else:
        grads = np.array([d_r @ weights, d_alpha @ weights, d_a @ weights, d_b @ weights])
        value = float(ll @ weights)
    return value, grads * np.array([r, alpha, a, b])


def _as_units(x, t_x_days, T_days) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    t_x = np.asarray(t_x_days, dtype=np.float64) / DAYS_PER_UNIT
    T = np.asarray(T_days, dtype=np.float64) / DAYS_PER_UNIT
    return x, t_x, T


def check_rft(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    """x >= 0 whole numbers, 0 <= t_x <= T, t_x = 0 when x = 0; all finite."""
    if not (x.shape == t_x.shape == T.shape):
        raise ValueError("x, t_x and T must have the same length")
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(T).all()):
        raise ValueError("x, t_x and T must be finite (no nulls, NaN or infinity)")
    if (x < 0).any() or (np.abs(x - np.round(x)) > 1e-9).any():
        raise ValueError("repeat purchases x must be whole numbers >= 0")
    if (t_x < 0).any() or (t_x > T + 1e-9).any():
        raise ValueError("times must satisfy 0 <= t_x <= T (first-to-last purchase within first-to-cutoff)")


@dataclass
class BgNbd:
    r: float = 1.0
    alpha: float = 1.0
    a: float = 1.0
    b: float = 1.0
    log_likelihood: float = float("nan")
    converged: bool = False
    iterations: int = 0
    message: str = ""
    at_bounds: list[str] = field(default_factory=list)
    variant: str = "bgnbd"  # or "mbgnbd": dropout possible right after the first purchase too

    @property
    def _k(self) -> int:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        return VARIANTS.index(self.variant)

    @property
    def params(self) -> dict[str, float]:
        """Parameters with alpha in days (the rate's scale), as reported."""
        return {"r": self.r, "alpha_days": self.alpha * DAYS_PER_UNIT, "a": self.a, "b": self.b}

    # --- fitting --------------------------------------------------------------------------------------

    def fit(self, x, t_x_days, T_days, weights=None) -> "BgNbd":
        x, t_x, T = _as_units(x, t_x_days, T_days)
        check_rft(x, t_x, T)
        if x.size < 2:
            raise ValueError(f"BG/NBD needs at least 2 customers, got {x.size}")
        if not (x > 0).any():
            raise ValueError(
                "no repeat purchases: every customer bought once, so the purchase and dropout "
                "processes cannot be told apart"
            )
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        n = float(x.size if w is None else w.sum())
        ux, inv = _unique_x(x)
        k = self._k

        def objective(p):
            value, grad = _loglik_and_grad(p, x, t_x, T, ux, inv, k, w)
            if not np.isfinite(value):
                return 1e10, np.zeros_like(p)
            return -value / n, -grad / n

        # Moment start: r/alpha ~ the repeat rate of repeat buyers over their tenure; a mild dropout.
        rate = float(np.sum(x) / max(np.sum(T), 1e-9))
        starts = [np.log([1.0, 1.0 / max(rate, 1e-6), 1.0, 3.0]), np.log([0.5, max(float(T.mean()), 1.0), 0.8, 2.0])]
        best = None
        for start in starts:
            result = minimize(
                objective,
                start,
                jac=True,
                method="L-BFGS-B",
                bounds=[LOG_BOUNDS] * 4,
                options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-8},
            )
            if best is None or result.fun < best.fun:
                best = result
            if result.success and np.all(np.abs(result.x) < LOG_BOUNDS[1] - 1e-3):
                break
        self.r, self.alpha, self.a, self.b = (float(v) for v in np.exp(best.x))
        self.log_likelihood = float(-best.fun * n)
        self.converged = bool(best.success)
        self.iterations = int(best.nit)
        self.message = str(best.message)
        self.at_bounds = [name for name, v in zip(("r", "alpha", "a", "b"), best.x) if abs(v) >= LOG_BOUNDS[1] - 1e-3]
        if not np.isfinite(self.log_likelihood):
            raise ValueError(f"BG/NBD fit failed: the likelihood is not finite ({self.message})")
        return self

    # --- prediction -----------------------------------------------------------------------------------

    def _log_odds_dead(self, x, t_x, T):
        """log(a / (b + x + k - 1)) + (r + x) log((alpha + T) / (alpha + t_x)) where dropout is possible
        (repeat buyers; everyone for MBG/NBD), -inf otherwise."""
        k = self._k
        can_drop = (x > 0) | (k == 1)
        bxk = np.where(can_drop, self.b + x + k - 1.0, 1.0)
        value = np.log(self.a) - np.log(bxk) + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
        return np.where(can_drop, value, -np.inf)

    def p_alive(self, x, t_x_days, T_days) -> np.ndarray:
        """P(the customer has not dropped out by the cutoff | history)."""
        x, t_x, T = _as_units(x, t_x_days, T_days)
        return expit(-self._log_odds_dead(x, t_x, T))

    def _a_safe(self) -> float:
        return self.a if abs(self.a - 1.0) > 1e-7 else 1.0 + 1e-7

    def expected_purchases(self, horizon_days, x, t_x_days, T_days) -> np.ndarray:
        """E[purchases in the next ``horizon_days`` after the cutoff | history] (a scalar or one per customer):
        P(alive) x E[(1/p)(1 - exp(-lambda p t))] under the posterior Beta(a, b + x + k), Gamma(r + x, alpha + T)."""
        x, t_x, T = _as_units(x, t_x_days, T_days)
        t = np.asarray(horizon_days, dtype=np.float64) / DAYS_PER_UNIT
        r, alpha, b, k = self.r, self.alpha, self.b, self._k
        a = self._a_safe()
        one_minus_z = (alpha + T) / (alpha + T + t)
        z = t / (alpha + T + t)
        tail = one_minus_z ** (a - 1.0) * hyp2f1(a + b + k - 1.0 - r, a - 1.0, a + b + x + k - 1.0, z)
        expected = (a + b + x + k - 1.0) / (a - 1.0) * (1.0 - tail) * expit(-self._log_odds_dead(x, t_x, T))
        expected = np.where(t > 0, expected, 0.0)
        return np.clip(np.nan_to_num(expected, nan=0.0, posinf=0.0), 0.0, None)

    def p_purchase(self, horizon_days, x, t_x_days, T_days) -> np.ndarray:
        """P(at least one purchase in the next ``horizon_days``): alive at the cutoff and a Poisson event with the
        posterior rate Gamma(r + x, alpha + T) (dropout happens only right after a purchase)."""
        x, t_x, T = _as_units(x, t_x_days, T_days)
        t = np.asarray(horizon_days, dtype=np.float64) / DAYS_PER_UNIT
        none = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + T + t)))
        return expit(-self._log_odds_dead(x, t_x, T)) * (1.0 - none)

    def unconditional_expected(self, t_days) -> np.ndarray:
        """E[X(t)]: expected repeat purchases in the first ``t_days`` after a customer's first purchase,
        B(a - 1, b + k) / B(a, b) x (1 - E[(alpha / (alpha + p t))^r]) with p ~ Beta(a - 1, b + k)."""
        t = np.asarray(t_days, dtype=np.float64) / DAYS_PER_UNIT
        r, alpha, b, k = self.r, self.alpha, self.b, self._k
        a = self._a_safe()
        z = t / (alpha + t)
        tail = (alpha / (alpha + t)) ** (a - 1.0) * hyp2f1(a + b + k - 1.0 - r, a - 1.0, a + b + k - 1.0, z)
        factor = (a + b - 1.0) / (a - 1.0) if k == 0 else b / (a - 1.0)
        value = factor * (1.0 - tail)
        return np.where(t > 0, np.clip(np.nan_to_num(value, nan=0.0), 0.0, None), 0.0)
