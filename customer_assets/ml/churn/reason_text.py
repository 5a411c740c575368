"""Readable reason templates, one Polars string expression per input column (vectorised over rows).

Known ``customer_features`` columns get a sentence ("no order for 140 days", "3 support tickets in the
last 90 days", "orders fell from 4 to 1 in the last 90 days"); any other numeric column reads
"<column> is <value>", any categorical "<column> is <level>", and a missing value "<column> is missing".
"""

from __future__ import annotations

import polars as pl

from customer_assets.ml.churn.preparation import MISSING_LEVEL, OTHER_LEVEL


def _whole(value: pl.Expr) -> pl.Expr:
    return value.round(0).cast(pl.Int64).cast(pl.String)


def _decimal(value: pl.Expr, digits: int = 2) -> pl.Expr:
    return pl.when(value == value.round(0)).then(_whole(value)).otherwise(value.round(digits).cast(pl.String))


def _percent(value: pl.Expr) -> pl.Expr:
    return pl.concat_str([_whole(value * 100), pl.lit("%")])


def _count(value: pl.Expr, singular: str, plural: str) -> pl.Expr:
    noun = pl.when(value.round(0) == 1).then(pl.lit(singular)).otherwise(pl.lit(plural))
    return pl.concat_str([_whole(value), pl.lit(" "), noun])


def _sentence(*parts) -> pl.Expr:
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def _known_templates(v: pl.Expr, columns: set[str]) -> dict[str, pl.Expr]:
    templates = {
        "recency_days": _sentence("no order for ", _count(v, "day", "days")),
        "frequency": _sentence(_count(v, "completed order", "completed orders"), " in total"),
        "monetary": _sentence("net revenue to date ", _decimal(v, 0)),
        "avg_order_value": _sentence("average order value ", _decimal(v)),
        "tenure_days": _sentence("customer for ", _count(v, "day", "days")),
        "clv_to_date": _sentence("lifetime value to date ", _decimal(v, 0)),
        "orders_90d": _sentence(_count(v, "order", "orders"), " in the last 90 days"),
        "orders_prev_90d": _sentence(_count(v, "order", "orders"), " in the 90 days before the last 90"),
        "order_trend": _sentence("order count changed by ", _decimal(v), " against the previous 90 days"),
        "return_rate": _sentence(_percent(v), " of orders returned"),
        "cancel_rate": _sentence(_percent(v), " of orders cancelled"),
        "category_breadth": _sentence("buys from ", _count(v, "category", "categories")),
        "login_frequency": _sentence(_decimal(v, 1), " logins per 30 days"),
        "sessions_90d": _sentence(_count(v, "session", "sessions"), " in the last 90 days"),
        "conversion_rate": _sentence(_percent(v), " of sessions led to an order"),
        "support_tickets_90d": _sentence(_count(v, "support ticket", "support tickets"), " in the last 90 days"),
        "engagement_score": _sentence("engagement score ", _decimal(v), " (0 to 1)"),
        "review_count": _sentence(_count(v, "review", "reviews"), " written"),
        "avg_rating": _sentence("average rating ", _decimal(v, 1), " stars"),
        "avg_sentiment": _sentence("average review sentiment ", _decimal(v)),
        "last_sentiment": _sentence("last review sentiment ", _decimal(v)),
        "first_purchase_days": _sentence("first order ", _count(v, "day", "days"), " ago"),
        "bgnbd_p_alive": _sentence("purchase pattern says ", _percent(v), " likely still active"),
        "bgnbd_expected_orders": _sentence(_decimal(v, 2), " orders expected in the churn window at the usual pace"),
    }
    if {"orders_90d", "orders_prev_90d"} <= columns:
        recent, previous = pl.col("orders_90d"), pl.col("orders_prev_90d")
        direction = pl.when(v < 0).then(pl.lit("fell")).when(v > 0).then(pl.lit("rose")).otherwise(pl.lit("stayed"))
        templates["order_trend"] = (
            pl.when(v == 0)
            .then(_sentence("orders stayed at ", _whole(recent), " in the last 90 days"))
            .otherwise(
                _sentence(
                    "orders ", direction, " from ", _whole(previous), " to ", _whole(recent), " in the last 90 days"
                )
            )
        )
    return templates


def numeric_reason(column: str, columns: set[str]) -> pl.Expr:
    value = pl.col(column)
    template = _known_templates(value, columns).get(column, _sentence(f"{column} is ", _decimal(value)))
    missing_text = "no completed order yet" if column == "recency_days" else f"{column} is missing"
    return pl.when(value.is_null()).then(pl.lit(missing_text)).otherwise(template).alias(column)


def categorical_reason(column: str, levels: list[str]) -> pl.Expr:
    value = pl.col(column)
    return (
        pl.when(value == MISSING_LEVEL)
        .then(pl.lit(f"{column} is missing"))
        .when(value.is_in(levels))
        .then(_sentence(f"{column} is ", value))
        .otherwise(_sentence(f"{column} is ", value, " (rare or new value)"))
        .alias(column)
    )


def reason_texts(raw_values: pl.DataFrame, numeric_columns: list[str], categorical_levels: dict) -> pl.DataFrame:
    """One readable reason per (row, input column), columns in ``numeric_columns + categorical`` order."""
    columns = set(raw_values.columns)
    expressions = [numeric_reason(c, columns) for c in numeric_columns]
    expressions += [
        categorical_reason(c, [level for level in levels if level != OTHER_LEVEL])
        for c, levels in categorical_levels.items()
    ]
    return raw_values.select(expressions)
