"""BG/NBD (Fader, Hardie & Lee 2005) on recency / frequency / tenure: expected purchases and P(alive).

Inputs per customer at one cutoff (all from orders before it): ``x`` repeat purchases (purchase days - 1),
``t_x`` days from the first to the last purchase, ``T`` days from the first purchase to the cutoff. The
four parameters are fitted by maximum likelihood without labels, so fitting on a cutoff's own customers
uses nothing after that cutoff. Time is measured in weeks inside (better-conditioned than days).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1

DAYS_PER_UNIT = 7.0


def _log_likelihood(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
    r, alpha, a, b = np.exp(log_params)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.where(repeat, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return float(np.sum(a1 + a2 + np.logaddexp(a3, a4)))


@dataclass
class BgNbd:
    r: float = 1.0
    alpha: float = 1.0
    a: float = 1.0
    b: float = 1.0

    @staticmethod
    def _units(x, t_x_days, T_days):
        x = np.asarray(x, dtype=np.float64)
        return x, np.asarray(t_x_days, dtype=np.float64) / DAYS_PER_UNIT, np.asarray(T_days, dtype=np.float64) / DAYS_PER_UNIT

    def fit(self, x, t_x_days, T_days) -> "BgNbd":
        x, t_x, T = self._units(x, t_x_days, T_days)
        start = np.log([1.0, max(float(T.mean()), 1.0), 1.0, 1.0])
        # Log-parameters keep all four positive; the bounds keep the search out of overflow territory.
        result = minimize(lambda p: -_log_likelihood(p, x, t_x, T) / x.size, start, method="L-BFGS-B",
                          bounds=[(-8.0, 8.0)] * 4)
        self.r, self.alpha, self.a, self.b = (float(v) for v in np.exp(result.x))
        return self

    def _odds_dead(self, x, t_x, T):
        """a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x) for repeat buyers, 0 otherwise."""
        ratio = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x)))
        return np.where(x > 0, self.a / np.maximum(self.b + x - 1, 1e-12) * ratio, 0.0)

    def p_alive(self, x, t_x_days, T_days) -> np.ndarray:
        x, t_x, T = self._units(x, t_x_days, T_days)
        return 1.0 / (1.0 + self._odds_dead(x, t_x, T))

    def expected_purchases(self, horizon_days: float, x, t_x_days, T_days) -> np.ndarray:
        """Expected purchases in the next ``horizon_days`` after the cutoff."""
        x, t_x, T = self._units(x, t_x_days, T_days)
        t = horizon_days / DAYS_PER_UNIT
        r, alpha, a, b = self.r, self.alpha, max(self.a, 1.0 + 1e-6), self.b
        z = t / (alpha + T + t)
        tail = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        expected = (a + b + x - 1) / (a - 1) * (1.0 - tail) / (1.0 + self._odds_dead(x, t_x, T))
        return np.nan_to_num(expected, nan=0.0, posinf=0.0)
