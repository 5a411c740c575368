"""Small, bounded tables for the business app, published beside the online snapshot (never read by the service).

The scoring service needs only the latest day; the app's "over time" charts, segment movement, product names and a
customer's reviews need a little more. Each table is aggregated or capped in the warehouse, so its size does not
grow with the number of customers beyond a fixed factor:

    history          one row per as-of date (the last HISTORY_DAYS built): customers, active share, mean churn
                     probability, high-risk count, value at risk
    segment_history  one row per (as-of date, segment) over the same dates: customers
    segment_moves    one row per (previous segment, segment) between the two latest as-of dates of the segments
    products         the catalogue: product_id, product_name, category (one row per product)
    reviews          each customer's REVIEWS_PER_CUSTOMER latest reviews with sentiment (text cut to REVIEW_CHARS)
    topics           the latest review topics with their words (one row per topic)
    product_sentiment          per product: review count, rating, sentiment shares, aspects praised / criticized
    product_sentiment_monthly  per product and review month: reviews, mean sentiment, negative share
    drift            PSI per feature per as-of date (the last HISTORY_DAYS)

They are listed under the manifest's ``app_tables`` (not ``tables``), so `read_snapshot` and the service skip them.
A table whose source is missing (a domain not built yet) is left out; a failing query is left out with its reason
in ``app_tables_skipped`` and never stops the snapshot.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

HISTORY_DAYS = 400
REVIEWS_PER_CUSTOMER = 5
REVIEW_CHARS = 300


def _dates_cte(table: str) -> str:
    return (
        f"SELECT DISTINCT as_of_date FROM {table} WHERE as_of_date <= ? ORDER BY as_of_date DESC LIMIT {HISTORY_DAYS}"
    )


def _history_sql(client) -> str:
    from customer_assets.serving.snapshot_view import HIGH_RISK_CUT

    parts = [
        (
            f"WITH dates AS ({_dates_cte('marts.customer_features')}), "
            "f AS (SELECT as_of_date, count(*) AS customers, "
            "avg(CASE WHEN is_active THEN 1.0 ELSE 0.0 END) AS active_share "
            "FROM marts.customer_features WHERE as_of_date IN (SELECT as_of_date FROM dates) GROUP BY as_of_date)"
        )
    ]
    select = ["f.as_of_date", "f.customers", "f.active_share"]
    joins = []
    if client.table_exists("marts", "churn_scores"):
        parts.append(
            f", c AS (SELECT as_of_date, avg(churn_probability) AS churn_rate, "
            f"CAST(sum(CASE WHEN churn_probability >= {float(HIGH_RISK_CUT)} THEN 1 ELSE 0 END) AS BIGINT) "
            "AS high_risk "
            "FROM marts.churn_scores WHERE as_of_date IN (SELECT as_of_date FROM dates) GROUP BY as_of_date)"
        )
        select += ["c.churn_rate", "c.high_risk"]
        joins.append("LEFT JOIN c ON c.as_of_date = f.as_of_date")
    if client.table_exists("marts", "retention_targets"):
        parts.append(
            ", r AS (SELECT as_of_date, sum(value_at_risk) AS value_at_risk FROM marts.retention_targets "
            "WHERE as_of_date IN (SELECT as_of_date FROM dates) GROUP BY as_of_date)"
        )
        select.append("r.value_at_risk")
        joins.append("LEFT JOIN r ON r.as_of_date = f.as_of_date")
    return "".join(parts) + f" SELECT {', '.join(select)} FROM f {' '.join(joins)} ORDER BY f.as_of_date"


SEGMENT_HISTORY_SQL = (
    f"WITH dates AS ({_dates_cte('marts.customer_segments')}) "
    "SELECT as_of_date, CAST(segment_name AS VARCHAR) AS segment, count(*) AS customers "
    "FROM marts.customer_segments WHERE as_of_date IN (SELECT as_of_date FROM dates) "
    "GROUP BY as_of_date, segment_name ORDER BY as_of_date, segment"
)

SEGMENT_MOVES_SQL = """
    WITH dates AS (SELECT DISTINCT as_of_date FROM marts.customer_segments WHERE as_of_date <= ?
                   ORDER BY as_of_date DESC LIMIT 2),
         latest AS (SELECT max(as_of_date) AS d FROM dates),
         previous AS (SELECT min(as_of_date) AS d FROM dates)
    SELECT (SELECT d FROM previous) AS previous_as_of, (SELECT d FROM latest) AS as_of_date,
           CAST(p.segment_name AS VARCHAR) AS from_segment, CAST(n.segment_name AS VARCHAR) AS to_segment,
           count(*) AS customers
    FROM marts.customer_segments n
    JOIN marts.customer_segments p ON CAST(p.customer_id AS VARCHAR) = CAST(n.customer_id AS VARCHAR)
    WHERE n.as_of_date = (SELECT d FROM latest) AND p.as_of_date = (SELECT d FROM previous)
      AND (SELECT d FROM latest) > (SELECT d FROM previous)
    GROUP BY p.segment_name, n.segment_name ORDER BY from_segment, to_segment"""

PRODUCTS_SQL = (
    "SELECT CAST(product_id AS VARCHAR) AS product_id, product_name, CAST(category AS VARCHAR) AS category "
    "FROM staging.stg_products ORDER BY 1"
)

REVIEWS_SQL = f"""
    WITH latest AS (SELECT max(as_of_date) AS d FROM marts.review_sentiment WHERE as_of_date <= ?),
         ranked AS (
           SELECT CAST(s.customer_id AS VARCHAR) AS customer_id, CAST(s.product_id AS VARCHAR) AS product_id,
                  s.review_id, s.review_date, s.rating, s.sentiment_label, s.sentiment_score,
                  row_number() OVER (PARTITION BY s.customer_id ORDER BY s.review_ts DESC, s.review_id) AS n
           FROM marts.review_sentiment s WHERE s.as_of_date = (SELECT d FROM latest))
    SELECT r.customer_id, r.product_id, r.review_date, r.rating, r.sentiment_label, r.sentiment_score,
           substr(t.review_text, 1, {REVIEW_CHARS}) AS review_text
    FROM ranked r LEFT JOIN staging.stg_reviews t ON t.review_id = r.review_id
    WHERE r.n <= {REVIEWS_PER_CUSTOMER} ORDER BY r.customer_id, r.review_date DESC"""


TOPICS_SQL = """
    SELECT topic_id, label, array_to_string(top_terms, ', ') AS top_terms, size FROM marts.review_topics
    WHERE as_of_date = (SELECT max(as_of_date) FROM marts.review_topics WHERE as_of_date <= ?) ORDER BY topic_id"""

PRODUCT_SENTIMENT_SQL = """
    SELECT CAST(product_id AS VARCHAR) AS product_id, review_count, average_rating, positive_share, neutral_share,
           negative_share, average_sentiment, array_to_string(top_aspects_praised, ', ') AS aspects_praised,
           array_to_string(top_aspects_criticized, ', ') AS aspects_criticized
    FROM marts.product_sentiment
    WHERE as_of_date = (SELECT max(as_of_date) FROM marts.product_sentiment WHERE as_of_date <= ?)
    ORDER BY 1"""

# Per product and calendar month of the review: bounded by products x months of history, not by reviews.
PRODUCT_SENTIMENT_MONTHLY_SQL = """
    SELECT CAST(product_id AS VARCHAR) AS product_id, CAST(date_trunc('month', review_date) AS DATE) AS month,
           count(*) AS reviews, avg(sentiment_score) AS average_sentiment,
           avg(CASE WHEN sentiment_label = 'negative' THEN 1.0 ELSE 0.0 END) AS negative_share
    FROM marts.review_sentiment
    WHERE as_of_date = (SELECT max(as_of_date) FROM marts.review_sentiment WHERE as_of_date <= ?)
    GROUP BY 1, 2 ORDER BY 1, 2"""

DRIFT_SQL = f"""
    WITH dates AS ({_dates_cte("marts.drift_report")})
    SELECT as_of_date, feature, psi, status FROM marts.drift_report
    WHERE as_of_date IN (SELECT as_of_date FROM dates) ORDER BY as_of_date, feature"""


def _plans(client) -> dict[str, tuple[tuple[tuple[str, str], ...], object, int]]:
    """name -> (tables it needs, SQL (or a function of the client), number of `?` as-of parameters)."""
    return {
        "history": ((("marts", "customer_features"),), _history_sql, 1),
        "segment_history": ((("marts", "customer_segments"),), SEGMENT_HISTORY_SQL, 1),
        "segment_moves": ((("marts", "customer_segments"),), SEGMENT_MOVES_SQL, 1),
        "products": ((("staging", "stg_products"),), PRODUCTS_SQL, 0),
        "reviews": ((("marts", "review_sentiment"), ("staging", "stg_reviews")), REVIEWS_SQL, 1),
        "topics": ((("marts", "review_topics"),), TOPICS_SQL, 1),
        "product_sentiment": ((("marts", "product_sentiment"),), PRODUCT_SENTIMENT_SQL, 1),
        "product_sentiment_monthly": ((("marts", "review_sentiment"),), PRODUCT_SENTIMENT_MONTHLY_SQL, 1),
        "drift": ((("marts", "drift_report"),), DRIFT_SQL, 1),
    }


def read_app_tables(client, as_of: dt.date, query) -> tuple[dict[str, pl.DataFrame], dict[str, dict], dict[str, str]]:
    """(frames, per-table info {rows}, skipped {name: reason}); `query(client, sql, params)` runs one query."""
    frames, info, skipped = {}, {}, {}
    for name, (needs, sql, n_params) in _plans(client).items():
        missing = [f"{s}.{t}" for s, t in needs if not client.table_exists(s, t)]
        if missing:
            skipped[name] = f"{', '.join(missing)} not built"
            continue
        try:
            frame = query(client, sql(client) if callable(sql) else sql, [as_of] * n_params)
        except Exception as error:  # noqa: BLE001 - an app table must never stop the service's snapshot
            skipped[name] = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
            continue
        frames[f"app_{name}"] = frame
        info[f"app_{name}"] = {"rows": frame.height}
    return frames, info, skipped
