"""Customers drawn from the BG/NBD + Gamma-Gamma story with planted parameters (tests and the benchmark).

Each customer makes a first purchase on a day of the acquisition window, then buys as a Poisson process with a
Gamma(r, alpha) rate and, after each purchase, drops out with a Beta(a, b) probability; each order value is
Gamma(p, nu) with nu ~ Gamma(q, gamma). With ``seasonal`` (12 month-of-year multipliers) the process runs on the
seasonal clock (seasonal.py) and is mapped back to calendar days. Vectorised over customers: the loop runs once
per purchase of the heaviest buyer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from customer_assets.ml.value.seasonal import Clock, normalized


@dataclass(frozen=True)
class Planted:
    r: float = 0.5
    alpha_days: float = 30.0
    a: float = 0.7
    b: float = 3.0
    p: float = 6.0
    q: float = 4.0
    gamma: float = 15.0

    @property
    def mean_order_value(self) -> float:
        return self.p * self.gamma / (self.q - 1.0)


def simulate(
    customers: int,
    planted: Planted = Planted(),
    start: dt.date = dt.date(2024, 1, 1),
    acquisition_days: int = 84,
    total_days: int = 546,
    seed: int = 0,
    seasonal: tuple[float, ...] | None = None,
) -> pl.DataFrame:
    """Transactions (customer_id, order_ts as a date, amount) from ``start`` over ``total_days`` days."""
    rng = np.random.default_rng(seed)
    n = customers
    first = rng.integers(0, acquisition_days, n)  # day offsets
    rate = rng.gamma(planted.r, 1.0 / planted.alpha_days, n)  # purchases per (operational) day
    dropout = rng.beta(planted.a, planted.b, n)
    nu = rng.gamma(planted.q, 1.0 / planted.gamma, n)
    end = start + dt.timedelta(days=total_days - 1)
    monthly = np.ones(12) if seasonal is None else normalized(np.asarray(seasonal, dtype=np.float64))
    clock = Clock.build(monthly, start, end)
    tau = clock.cumulative  # tau at the end of each day
    tau_first = tau[first]
    ids, offsets = [np.arange(n)], [first]
    time_now = tau_first.copy()
    alive = np.ones(n, dtype=bool)
    while alive.any():
        index = np.flatnonzero(alive)
        time_now[index] += rng.exponential(1.0 / rate[index])
        inside = time_now[index] <= tau[-1]
        alive[index[~inside]] = False
        index = index[inside]
        day = np.searchsorted(tau, time_now[index], side="left")  # the day whose end first reaches that time
        ids.append(index)
        offsets.append(day)
        drop = rng.random(index.size) < dropout[index]
        alive[index[drop]] = False
    customer = np.concatenate(ids)
    day = np.concatenate(offsets)
    amount = rng.gamma(planted.p, 1.0 / nu[customer])
    return pl.DataFrame(
        {
            "customer_id": pl.Series(customer).cast(pl.String).str.zfill(7),
            "order_ts": pl.Series(np.datetime64(start, "D") + day.astype("timedelta64[D]")).cast(pl.Date),
            "amount": np.round(amount, 2),
        }
    ).sort("customer_id", "order_ts")
