"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999).

Each order value of a customer is Gamma(p, nu) around the customer's own mean p / nu; nu is Gamma(q, gamma)
across customers. Fitted by maximum likelihood on the repeat buyers' number of orders ``x`` and mean order value
``m``; the conditional expected order value of a customer shrinks their own mean towards the population mean
``p gamma / (q - 1)`` by a weight that grows with x:

    E[M | x, m] = (q - 1) / (p x + q - 1) * p gamma / (q - 1) + p x / (p x + q - 1) * m

Numerics: log-parameters with the analytic gradient (L-BFGS-B); values are divided by their median first (the
money unit must not condition the search) and gamma multiplied back; q is kept above 1 (q = 1 + e^theta) so the
population mean exists. The model assumes order values are independent of purchase frequency: the fit report
carries their correlation among repeat buyers so that assumption can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

LOG_BOUNDS = (-12.0, 12.0)


def _loglik_and_grad(theta: np.ndarray, x: np.ndarray, m: np.ndarray) -> tuple[float, np.ndarray]:
    log_p, log_q1, log_g = theta
    p, q, g = np.exp(log_p), 1.0 + np.exp(log_q1), np.exp(log_g)
    px = p * x
    log_m, log_x = np.log(m), np.log(x)
    log_gmx = np.log(g + m * x)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1.0) * log_m
        + px * log_x
        - (px + q) * log_gmx
    )
    d_p = x * (digamma(px + q) - digamma(px) + log_m + log_x - log_gmx)
    d_q = digamma(px + q) - digamma(q) + np.log(g) - log_gmx
    d_g = q / g - (px + q) / (g + m * x)
    grad = np.array([d_p.sum() * p, d_q.sum() * (q - 1.0), d_g.sum() * g])
    return float(ll.sum()), grad


@dataclass
class GammaGamma:
    p: float = 1.0
    q: float = 2.0
    gamma: float = 1.0
    log_likelihood: float = float("nan")
    converged: bool = False
    iterations: int = 0
    message: str = ""
    customers: int = 0
    frequency_value_correlation: float = float("nan")

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @property
    def population_mean(self) -> float:
        return self.p * self.gamma / (self.q - 1.0)

    def fit(self, x, mean_value) -> "GammaGamma":
        """``x``: number of orders the mean is over (>= 1); ``mean_value``: the customer's mean order value (> 0).
        Rows with x = 0 or a mean value <= 0 say nothing about spend and are left out."""
        x = np.asarray(x, dtype=np.float64)
        m = np.asarray(mean_value, dtype=np.float64)
        usable = (x > 0) & np.isfinite(m) & (m > 0)
        x, m = x[usable], m[usable]
        if x.size < 2:
            raise ValueError(f"Gamma-Gamma needs at least 2 repeat buyers with a positive order value, got {x.size}")
        scale = float(np.median(m))
        ms = m / scale
        n = float(x.size)
        # Moment start: gamma from the spread of the customers' means.
        mean, var = float(ms.mean()), float(ms.var()) or 1.0
        q0 = max(2.0 + mean * mean / var, 2.1)
        start = np.array([0.0, np.log(q0 - 1.0), np.log(mean * (q0 - 1.0))])

        def objective(theta):
            value, grad = _loglik_and_grad(theta, x, ms)
            if not np.isfinite(value):
                return 1e10, np.zeros_like(theta)
            return -value / n, -grad / n

        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=[LOG_BOUNDS] * 3,
            options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-8},
        )
        log_p, log_q1, log_g = result.x
        self.p, self.q, self.gamma = float(np.exp(log_p)), float(1.0 + np.exp(log_q1)), float(np.exp(log_g) * scale)
        # The likelihood in the original money unit: each customer's density picks up a factor 1/scale.
        self.log_likelihood = float(-result.fun * n - n * np.log(scale))
        self.converged = bool(result.success)
        self.iterations = int(result.nit)
        self.message = str(result.message)
        self.customers = int(x.size)
        self.frequency_value_correlation = (
            float(np.corrcoef(x, m)[0, 1]) if x.size > 2 and x.std() > 0 and m.std() > 0 else float("nan")
        )
        if not np.isfinite(self.log_likelihood):
            raise ValueError(f"Gamma-Gamma fit failed: the likelihood is not finite ({self.message})")
        return self

    def expected_order_value(self, x, mean_value) -> np.ndarray:
        """E[order value | x orders with mean ``mean_value``]; the population mean where x = 0 or the mean is
        unknown (null / NaN)."""
        x = np.asarray(x, dtype=np.float64)
        m = np.asarray(mean_value, dtype=np.float64)
        known = (x > 0) & np.isfinite(m)
        px = self.p * np.where(known, x, 0.0)
        weight = px / (px + self.q - 1.0)
        return (1.0 - weight) * self.population_mean + weight * np.where(known, m, 0.0)
