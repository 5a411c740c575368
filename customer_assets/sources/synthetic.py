"""Deterministic synthetic customer data with learnable structure.

The simulation steps over weeks (a loop over time, vectorised over customers), so 1,000,000 customers
take the same code path as 1,000. What later models can learn, because it is planted here:
- churn: a weekly hazard that rises with weeks since the last order, recent bad experiences (which also
  raise support tickets and low ratings) and low satisfaction, and falls with order count;
- engagement: session and login rates fall as a customer drifts towards churn, so web events carry signal;
- recommendations: each customer has two favourite categories and a favourite style, and products within
  a category are chosen with a popularity skew, so co-purchase structure exists beyond popularity;
- reviews: rating, text and aspects come from the same experience of the same order;
- seasonality: weekly demand follows a yearly cycle with a year-end peak.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from customer_assets.sources import catalog_text as vocab

SIMULATED_WEEKS = 104
EVENT_HISTORY_WEEKS = 52


@dataclass(frozen=True)
class SyntheticSpec:
    customers: int = 3000
    seed: int = 42
    end_date: dt.date = dt.date(2026, 10, 31)
    weeks: int = SIMULATED_WEEKS
    event_weeks: int = EVENT_HISTORY_WEEKS

    @property
    def start_date(self) -> dt.date:
        return self.end_date - dt.timedelta(weeks=self.weeks) + dt.timedelta(days=1)


def generate(spec: SyntheticSpec) -> dict[str, pl.DataFrame]:
    """All source tables in the canonical schema, keyed by table name."""
    if spec.customers < 10:
        raise ValueError("synthetic data needs at least 10 customers")
    rng = np.random.default_rng(spec.seed)
    products, product_meta = _products(rng, spec.customers)
    customers, traits = _customers(rng, spec)
    weekly = _simulate_weeks(rng, spec, traits)
    orders, items = _orders_and_items(rng, spec, weekly, traits, product_meta)
    last_moment = dt.datetime.combine(spec.end_date, dt.time.max)
    reviews = _reviews(rng, items).filter(pl.col("review_ts") <= last_moment)
    events = _events(rng, spec, weekly, orders)
    return {
        "customers": customers,
        "products": products,
        "orders": orders,
        "order_items": items.drop("bad_experience", "bad_aspect", "order_ts", "customer_id"),
        "reviews": reviews,
        "events": events,
    }


# --- catalog --------------------------------------------------------------------------------------------


def _products(rng: np.random.Generator, n_customers: int) -> tuple[pl.DataFrame, dict]:
    n = int(np.clip(n_customers // 50, 240, 20_000))
    names = list(vocab.CATEGORIES)
    category = np.sort(rng.integers(0, len(names), n))
    style = rng.integers(0, len(vocab.STYLES), n)
    noun_idx = rng.integers(0, 7, n)
    adjective = np.array(vocab.ADJECTIVES)[rng.integers(0, len(vocab.ADJECTIVES), n)]
    noun_table = [vocab.CATEGORIES[c][1] for c in names]
    width = max(len(t) for t in noun_table)
    noun_grid = np.array([t + t[: width - len(t)] for t in noun_table])
    noun = noun_grid[category, noun_idx % width]
    median = np.array([vocab.CATEGORIES[c][0] for c in names])[category]
    price = np.round(median * rng.lognormal(0.0, 0.45, n), 2).clip(1.0)
    templates = np.array(vocab.DESCRIPTION_TEMPLATES)[rng.integers(0, len(vocab.DESCRIPTION_TEMPLATES), n)]
    style_names = np.array(vocab.STYLES)[style]
    frame = pl.DataFrame(
        {
            "product_id": _ids("P", n, 5),
            "adjective": adjective,
            "noun": noun,
            "category": np.array(names)[category],
            "style": style_names,
            "template": templates,
            "price": price,
        }
    )
    frame = frame.with_columns(
        name=pl.concat_str([pl.col("adjective"), pl.lit(" "), pl.col("noun")]),
        description=pl.col("template")
        .str.replace_all("{style_cap}", pl.col("style").str.to_titlecase(), literal=True)
        .str.replace_all("{style}", pl.col("style"), literal=True)
        .str.replace_all("{noun}", pl.col("noun"), literal=True)
        .str.replace_all("{category}", pl.col("category").str.to_lowercase(), literal=True),
    ).select("product_id", "name", "category", "description", "price")
    # Products sorted by category: one contiguous id range per category makes vectorised choice easy.
    counts = np.bincount(category, minlength=len(names))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    meta = {"category": category, "style": style, "price": price, "counts": counts, "offsets": offsets}
    return frame, meta


# --- customers and their hidden traits --------------------------------------------------------------------


def _customers(rng: np.random.Generator, spec: SyntheticSpec) -> tuple[pl.DataFrame, dict]:
    n = spec.customers
    n_cat = len(vocab.CATEGORIES)
    # Two thirds of customers exist at the start (older signups), the rest sign up during the simulation.
    signup_week = np.where(rng.random(n) < 0.35, -rng.integers(1, 150, n), rng.integers(0, spec.weeks - 4, n))
    signup_date = np.datetime64(spec.start_date) + (signup_week * 7 + rng.integers(0, 7, n)).astype("timedelta64[D]")
    country = rng.choice(len(vocab.COUNTRIES), n, p=vocab.COUNTRY_WEIGHTS)
    channel = rng.choice(len(vocab.CHANNELS), n, p=vocab.CHANNEL_WEIGHTS)
    traits = {
        "signup_week": signup_week,
        "rate": rng.gamma(2.0, 0.08, n),  # weekly orders when fully engaged
        "spend": rng.lognormal(0.0, 0.35, n),
        "satisfaction": rng.beta(6, 2, n),
        "bad_risk": rng.beta(1.2, 14, n),  # chance that an order goes wrong for this customer
        "session_rate": rng.gamma(2.0, 0.6, n),
        "fav1": rng.integers(0, n_cat, n),
        "fav2": rng.integers(0, n_cat, n),
        "style": rng.integers(0, len(vocab.STYLES), n),
        "country": country,
    }
    frame = pl.DataFrame(
        {
            "customer_id": _ids("C", n, 7),
            "signup_date": signup_date.astype("datetime64[D]"),
            "country": np.array(vocab.COUNTRIES)[country],
            "acquisition_channel": np.array(vocab.CHANNELS)[channel],
        }
    )
    return frame, traits


def _ids(prefix: str, n: int, width: int) -> pl.Series:
    return _prefixed(prefix, np.arange(n), width)


def _prefixed(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    digits = pl.Series("id", numbers, dtype=pl.Int64).cast(pl.String).str.zfill(width)
    return pl.select(pl.lit(prefix) + digits).to_series().alias("id")


# --- the weekly simulation --------------------------------------------------------------------------------


def _season(week_of_year: np.ndarray | int) -> np.ndarray | float:
    base = 1.0 + 0.2 * np.sin(2 * np.pi * (np.asarray(week_of_year) - 10) / 52)
    return base + np.where((np.asarray(week_of_year) >= 46) & (np.asarray(week_of_year) <= 51), 0.5, 0.0)


def _simulate_weeks(rng: np.random.Generator, spec: SyntheticSpec, traits: dict) -> dict[str, np.ndarray]:
    n = spec.customers
    alive = np.ones(n, dtype=bool)
    weeks_since = np.zeros(n)
    n_orders = np.zeros(n)
    recent_bad = np.zeros(n)
    engagement = np.ones(n)
    start_woy = spec.start_date.isocalendar()[1]
    order_cust, order_week, order_count, order_bad = [], [], [], []
    sess_cust, sess_week, sess_count = [], [], []
    ticket_cust, ticket_week = [], []
    first_event_week = spec.weeks - spec.event_weeks
    for week in range(spec.weeks):
        active = alive & (traits["signup_week"] <= week)
        season = _season((start_woy + week) % 52 or 52)
        lam = traits["rate"] * season * engagement * active
        k = rng.poisson(lam)
        bad = rng.binomial(k, np.clip(traits["bad_risk"] * (1.6 - traits["satisfaction"]), 0, 0.9))
        placed = np.flatnonzero(k)
        order_cust.append(placed)
        order_week.append(np.full(placed.size, week, dtype=np.int32))
        order_count.append(k[placed])
        order_bad.append(bad[placed])
        tickets = rng.binomial(bad, 0.7)
        ticketed = np.flatnonzero(tickets)
        ticket_cust.append(ticketed)
        ticket_week.append(np.full(ticketed.size, week, dtype=np.int32))

        recent_bad = recent_bad * 0.85 + bad
        weeks_since = np.where(k > 0, 0, weeks_since + 1)
        n_orders += k
        # Disengagement precedes churn: sessions fade as bad experiences and silence accumulate.
        engagement = np.clip(1.0 - 0.25 * recent_bad - 0.015 * np.minimum(weeks_since, 30), 0.15, 1.0)
        logit = (
            -5.8
            + 0.07 * np.minimum(weeks_since, 30)
            + 0.9 * recent_bad
            - 0.35 * np.log1p(n_orders)
            + 2.2 * (1.0 - traits["satisfaction"])
        )
        hazard = 1.0 / (1.0 + np.exp(-logit))
        alive &= ~(active & (rng.random(n) < hazard))

        if week >= first_event_week:
            sessions = rng.poisson(traits["session_rate"] * engagement * active * 0.35)
            has = np.flatnonzero(sessions)
            sess_cust.append(has)
            sess_week.append(np.full(has.size, week, dtype=np.int32))
            sess_count.append(sessions[has])
    cat = np.concatenate
    return {
        "order_cust": cat(order_cust),
        "order_week": cat(order_week),
        "order_count": cat(order_count),
        "order_bad": cat(order_bad),
        "sess_cust": cat(sess_cust),
        "sess_week": cat(sess_week),
        "sess_count": cat(sess_count),
        "ticket_cust": cat(ticket_cust),
        "ticket_week": cat(ticket_week),
    }


def _week_timestamps(rng: np.random.Generator, spec: SyntheticSpec, weeks: np.ndarray) -> np.ndarray:
    seconds = rng.integers(0, 7 * 86400, weeks.size)
    start = np.datetime64(spec.start_date, "s")
    return (start + (weeks.astype(np.int64) * 7 * 86400 + seconds).astype("timedelta64[s]")).astype("datetime64[us]")


# --- orders, items, reviews and events ---------------------------------------------------------------------


def _orders_and_items(rng, spec, weekly, traits, meta):
    cust = np.repeat(weekly["order_cust"], weekly["order_count"])
    week = np.repeat(weekly["order_week"], weekly["order_count"])
    # Spread the week's bad experiences over its orders: the first `bad` orders of that customer-week.
    rank_in_week = _rank_within_runs(np.repeat(np.arange(weekly["order_count"].size), weekly["order_count"]))
    bad = rank_in_week < np.repeat(weekly["order_bad"], weekly["order_count"])
    ts = _week_timestamps(rng, spec, week)
    order_by_time = np.argsort(ts, kind="stable")
    cust, ts, bad = cust[order_by_time], ts[order_by_time], bad[order_by_time]
    n_orders = cust.size
    bad_aspect = np.where(rng.random(n_orders) < 0.55, 2, np.where(rng.random(n_orders) < 0.7, 0, 3))
    status_draw = rng.random(n_orders)
    status = np.where(
        bad & (status_draw < 0.35),
        "returned",
        np.where(status_draw < 0.03, "cancelled", np.where(status_draw > 0.985, "returned", "completed")),
    )
    orders = pl.DataFrame(
        {
            "order_id": _ids("O", n_orders, 9),
            "customer_id": _prefixed("C", cust, 7),
            "order_ts": ts,
            "status": status,
        }
    )

    n_items = 1 + rng.poisson(0.6, n_orders)
    item_order = np.repeat(np.arange(n_orders), n_items)
    item_cust = cust[item_order]
    product = _choose_products(rng, item_cust, traits, meta)
    # Two lines of one order can pick the same product: merge them so (order_id, product_id) is unique.
    key = item_order.astype(np.int64) * (meta["category"].size + 1) + product
    key, first = np.unique(key, return_index=True)
    item_order, item_cust, product = item_order[first], item_cust[first], product[first]
    quantity = 1 + rng.poisson(0.25, item_order.size)
    discount = np.where(rng.random(item_order.size) < 0.2, 0.85, 1.0)
    unit_price = np.round(meta["price"][product] * discount * traits["spend"][item_cust] ** 0.1, 2)
    items = pl.DataFrame(
        {
            "order_idx": item_order,
            "product_id": _prefixed("P", product, 5),
            "quantity": quantity.astype(np.int64),
            "unit_price": unit_price,
            "bad_experience": bad[item_order],
            "bad_aspect": bad_aspect[item_order],
            "order_ts": ts[item_order],
        }
    ).with_columns(order_id=_prefixed("O", item_order, 9), customer_id=_prefixed("C", item_cust, 7))
    items = items.select(
        "order_id", "product_id", "quantity", "unit_price", "bad_experience", "bad_aspect", "order_ts", "customer_id"
    )
    return orders, items


def _rank_within_runs(run_ids: np.ndarray) -> np.ndarray:
    """0, 1, 2… inside each run of equal consecutive ids."""
    if run_ids.size == 0:
        return run_ids
    starts = np.concatenate([[0], np.flatnonzero(np.diff(run_ids)) + 1])
    lengths = np.diff(np.concatenate([starts, [run_ids.size]]))
    return np.arange(run_ids.size) - np.repeat(starts, lengths)


def _choose_products(rng, cust, traits, meta) -> np.ndarray:
    n = cust.size
    n_cat = meta["counts"].size
    draw = rng.random(n)
    category = np.where(
        draw < 0.6, traits["fav1"][cust], np.where(draw < 0.85, traits["fav2"][cust], rng.integers(0, n_cat, n))
    )
    count = meta["counts"][category]
    # Popularity skew within a category: low ranks are bought far more often (u**2.2 concentrates near 0).
    rank = np.minimum((count * rng.random(n) ** 2.2).astype(np.int64), count - 1)
    product = meta["offsets"][category] + rank
    # Taste beyond category: most picks are moved to the nearest product of the customer's favourite style.
    wants_style = rng.random(n) < 0.7
    styles = meta["style"]
    for shift in (1, -1, 2, -2, 3, -3):
        candidate = np.clip(product + shift, meta["offsets"][category], meta["offsets"][category] + count - 1)
        fix = wants_style & (styles[product] != traits["style"][cust]) & (styles[candidate] == traits["style"][cust])
        product = np.where(fix, candidate, product)
    return product


def _reviews(rng, items: pl.DataFrame) -> pl.DataFrame:
    n = items.height
    bad = items["bad_experience"].to_numpy()
    writes = rng.random(n) < np.where(bad, 0.55, 0.12)
    sel = np.flatnonzero(writes)
    m = sel.size
    bad = bad[sel]
    bad_aspect = items["bad_aspect"].to_numpy()[sel]
    mood = rng.random(m)
    rating = np.where(bad, np.where(mood < 0.6, 1, 2), np.where(mood < 0.12, 3, np.where(mood < 0.45, 4, 5)))
    good_aspect = rng.integers(0, 4, m)
    second_aspect = (good_aspect + 1 + rng.integers(0, 3, m)) % 4
    text = _review_text(rng, rating, bad_aspect, good_aspect, second_aspect)
    delay = rng.integers(1, 21 * 86400, m).astype("timedelta64[s]").astype("timedelta64[us]")
    ts = items["order_ts"].to_numpy()[sel] + delay
    sub = items[sel]
    return pl.DataFrame(
        {
            "review_id": _ids("R", m, 9),
            "customer_id": sub["customer_id"],
            "product_id": sub["product_id"],
            "rating": rating.astype(np.int64),
            "review_ts": ts,
            "review_text": text,
        }
    )


def _pick(rng, pools: list[list[str]], which: np.ndarray) -> pl.Series:
    """One phrase per row from the pool named by `which` (an aspect index)."""
    width = max(len(p) for p in pools)
    flat = pl.Series([phrase for p in pools for phrase in (p * width)[:width]])
    return flat.gather(which.astype(np.int64) * width + rng.integers(0, width, which.size))


def _choice(rng, pool: list[str], size: int) -> pl.Series:
    return pl.Series(pool).gather(rng.integers(0, len(pool), size))


def _review_text(rng, rating, bad_aspect, good_aspect, second_aspect) -> np.ndarray:
    m = rating.size
    pos = [vocab.POSITIVE_PHRASES[a] for a in vocab.ASPECTS]
    neg = [vocab.NEGATIVE_PHRASES[a] for a in vocab.ASPECTS]
    neg_main = _pick(rng, neg, bad_aspect)
    neg_extra = _pick(rng, neg, second_aspect)
    pos_main = _pick(rng, pos, good_aspect)
    pos_extra = _pick(rng, pos, second_aspect)
    neutral = _choice(rng, vocab.NEUTRAL_PHRASES, m)
    open_pos = _choice(rng, vocab.POSITIVE_OPENINGS, m)
    open_neg = _choice(rng, vocab.NEGATIVE_OPENINGS, m)
    open_neu = _choice(rng, vocab.NEUTRAL_OPENINGS, m)
    two = rng.random(m) < 0.5
    frame = pl.DataFrame(
        {
            "rating": rating,
            "two": two,
            "neg_main": neg_main,
            "neg_extra": neg_extra,
            "pos_main": pos_main,
            "pos_extra": pos_extra,
            "neutral": neutral,
            "open_pos": open_pos,
            "open_neg": open_neg,
            "open_neu": open_neu,
            "mixed_neg": _pick(rng, neg, second_aspect),
        }
    )
    text = frame.select(
        pl.when(pl.col("rating") <= 2)
        .then(
            pl.concat_str(
                [
                    pl.col("open_neg"),
                    pl.lit(" "),
                    pl.col("neg_main").str.to_titlecase().str.slice(0, 1) + pl.col("neg_main").str.slice(1),
                    pl.when(pl.col("two")).then(pl.lit(" and ") + pl.col("neg_extra")).otherwise(pl.lit("")),
                    pl.lit("."),
                ]
            )
        )
        .when(pl.col("rating") == 3)
        .then(
            pl.concat_str(
                [
                    pl.col("open_neu"),
                    pl.lit(" "),
                    pl.col("neutral").str.slice(0, 1).str.to_uppercase() + pl.col("neutral").str.slice(1),
                    pl.lit(", but "),
                    pl.col("mixed_neg"),
                    pl.lit("."),
                ]
            )
        )
        .otherwise(
            pl.concat_str(
                [
                    pl.col("open_pos"),
                    pl.lit(" "),
                    pl.col("pos_main").str.slice(0, 1).str.to_uppercase() + pl.col("pos_main").str.slice(1),
                    pl.when(pl.col("two")).then(pl.lit(" and ") + pl.col("pos_extra")).otherwise(pl.lit("")),
                    pl.lit("."),
                ]
            )
        )
        .alias("text")
    )["text"]
    return text


def _events(rng, spec, weekly, orders: pl.DataFrame) -> pl.DataFrame:
    cust = np.repeat(weekly["sess_cust"], weekly["sess_count"])
    week = np.repeat(weekly["sess_week"], weekly["sess_count"])
    ts = _week_timestamps(rng, spec, week)
    n = cust.size
    logged_in = rng.random(n) < 0.6
    carted = rng.random(n) < 0.25
    browse = pl.DataFrame({"cust": cust, "ts": ts, "login": logged_in, "cart": carted}).with_row_index("s")
    browse = browse.with_columns(
        session_id=pl.lit("S") + pl.col("s").cast(pl.String).str.zfill(10),
        customer_id=pl.lit("C") + pl.col("cust").cast(pl.String).str.zfill(7),
    )
    parts = [
        browse.filter(pl.col("login")).select(
            "customer_id", event_ts=pl.col("ts"), event_type=pl.lit("login"), session_id="session_id"
        ),
        browse.select(
            "customer_id",
            event_ts=pl.col("ts") + pl.duration(seconds=30),
            event_type=pl.lit("page_view"),
            session_id="session_id",
        ),
        browse.filter(pl.col("cart")).select(
            "customer_id",
            event_ts=pl.col("ts") + pl.duration(seconds=240),
            event_type=pl.lit("add_to_cart"),
            session_id="session_id",
        ),
    ]
    first_event_ts = (
        np.datetime64(spec.start_date, "D") + np.timedelta64((spec.weeks - spec.event_weeks) * 7, "D")
    ).astype("datetime64[us]")
    purchase_sessions = (
        orders.filter(pl.col("order_ts") >= pl.lit(first_event_ts))
        .with_row_index("s")
        .with_columns(session_id=pl.lit("Q") + pl.col("s").cast(pl.String).str.zfill(10))
    )
    for offset, kind in ((-600, "login"), (-420, "page_view"), (-240, "add_to_cart"), (0, "purchase")):
        parts.append(
            purchase_sessions.select(
                "customer_id",
                event_ts=pl.col("order_ts") + pl.duration(seconds=offset),
                event_type=pl.lit(kind),
                session_id="session_id",
            )
        )
    ticket_ts = _week_timestamps(rng, spec, weekly["ticket_week"])
    parts.append(
        pl.DataFrame(
            {
                "customer_id": _prefixed("C", weekly["ticket_cust"], 7),
                "event_ts": ticket_ts,
                "event_type": "support_ticket",
                "session_id": None,
            },
            schema={
                "customer_id": pl.String,
                "event_ts": pl.Datetime("us"),
                "event_type": pl.String,
                "session_id": pl.String,
            },
        ).filter(pl.col("event_ts") >= pl.lit(first_event_ts))
    )
    parts = [p.with_columns(pl.col("event_ts").cast(pl.Datetime("us"))) for p in parts]
    return pl.concat(parts)
