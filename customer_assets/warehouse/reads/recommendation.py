"""Recommendation reads: the latest as-of date, purchases, ratings, the catalog and the customers to serve."""

import datetime as dt

import polars as pl

from customer_assets.warehouse.client import Warehouse
from customer_assets.warehouse.reads import MissingInput


def latest_as_of(client: Warehouse) -> dt.date:
    """The latest as-of date built in marts.customer_features."""
    as_of = client.scalar("SELECT max(as_of_date) FROM marts.customer_features")
    if as_of is None:
        raise MissingInput("marts.customer_features is empty: build the dbt models for an as-of date first")
    return as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(str(as_of)[:10])


def order_lines(client: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """Completed order lines up to the end of the as-of day: customer_id, product_id, quantity, ts."""
    return client.query(
        """
        SELECT o.customer_id, i.product_id, i.quantity, o.order_ts AS ts
        FROM staging.stg_orders o JOIN staging.stg_order_items i ON i.order_id = o.order_id
        WHERE o.status = 'completed' AND o.order_date <= ?""",
        [as_of],
    )


def seen_pairs(client: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """Distinct (customer_id, product_id) of the completed orders up to the as-of day."""
    return client.query(
        """
        SELECT DISTINCT o.customer_id, i.product_id
        FROM staging.stg_orders o JOIN staging.stg_order_items i ON i.order_id = o.order_id
        WHERE o.status = 'completed' AND o.order_date <= ?""",
        [as_of],
    )


def ratings(client: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """Product ratings of the reviews dated up to the as-of day: customer_id, product_id, rating, ts."""
    return client.query(
        """
        SELECT customer_id, product_id, rating, review_ts AS ts FROM staging.stg_reviews
        WHERE product_id IS NOT NULL AND rating IS NOT NULL AND review_date <= ?""",
        [as_of],
    )


def products(client: Warehouse) -> pl.DataFrame:
    """The catalog: product_id, name, category, description, price."""
    return client.query(
        "SELECT product_id, product_name AS name, category, description, price "
        "FROM staging.stg_products ORDER BY product_id"
    )


def customers(client: Warehouse, as_of: dt.date) -> pl.DataFrame:
    """Customers to serve as of D with their country (the cold-start group)."""
    return client.query(
        """
        SELECT f.customer_id, coalesce(f.country, c.country, 'unknown') AS country
        FROM marts.customer_features f LEFT JOIN staging.stg_customers c ON c.customer_id = f.customer_id
        WHERE f.as_of_date = ? ORDER BY f.customer_id""",
        [as_of],
    )
