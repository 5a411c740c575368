"""Convert the CDNOW purchase history (Fader & Hardie) into the canonical input schema.

    python -m customer_assets.examples.cdnow --shared ../shared/data --out .customer_ml/cdnow_input
    CUSTOMER_ML_SOURCE=.customer_ml/cdnow_input make run

Mapping: each CDNOW customer -> a customer (signup = first purchase, no country); each purchase row -> a
completed order at noon of its date with one line of the single product "CD" (quantity = number of CDs,
unit price = dollar value / CDs). CDNOW records no titles, so there is one product: recommendations have
nothing to recommend to customers who bought it, which the pipeline must survive. No reviews, no events.
"""

from pathlib import Path

import polars as pl

PRODUCT_ID = "CD"


def read_transactions(shared_data: Path) -> pl.DataFrame:
    """customer_id, order_date, cds, dollars: one row per purchase line of CDNOW_master.txt."""
    text = (shared_data / "cdnow" / "CDNOW_master.txt").read_text().replace("\r", "")
    rows = [line.split() for line in text.splitlines()[1:] if line.strip()]
    frame = pl.DataFrame(rows, schema=["customer_id", "date", "cds", "dollars"], orient="row")
    return frame.select(
        customer_id=pl.col("customer_id"),
        order_date=pl.col("date").str.to_date("%Y%m%d"),
        cds=pl.col("cds").cast(pl.Int64),
        dollars=pl.col("dollars").cast(pl.Float64),
    )


def convert(shared_data: Path) -> dict[str, pl.DataFrame]:
    purchases = read_transactions(shared_data).with_row_index("n")
    customers = (
        purchases.group_by("customer_id")
        .agg(signup_date=pl.col("order_date").min())
        .select("customer_id", "signup_date", country=pl.lit(None, dtype=pl.String))
        .sort("customer_id")
    )
    products = pl.DataFrame(
        {
            "product_id": [PRODUCT_ID],
            "name": ["Compact disc"],
            "category": ["Music"],
            "description": ["A CD bought at CDNOW"],
            "price": [None],
        },
        schema_overrides={"price": pl.Float64},
    )
    orders = purchases.select(
        order_id=pl.format("O{}", "n"),
        customer_id="customer_id",
        order_ts=pl.col("order_date").cast(pl.Datetime("us")) + pl.duration(hours=12),
        status=pl.lit("completed"),
    )
    quantity = pl.col("cds").clip(lower_bound=1)
    order_items = purchases.select(
        order_id=pl.format("O{}", "n"),
        product_id=pl.lit(PRODUCT_ID),
        quantity=quantity,
        unit_price=pl.col("dollars") / quantity,
    )
    return {"customers": customers, "products": products, "orders": orders, "order_items": order_items}


def main(argv=None) -> None:
    from customer_assets.examples.public_data import converter_main

    converter_main(convert, __doc__, ".customer_ml/cdnow_input", argv)


if __name__ == "__main__":
    main()
