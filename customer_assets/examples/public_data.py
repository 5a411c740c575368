"""Convert the public sample data (MovieLens small, shopping-app reviews) into the canonical input schema.

    python -m customer_assets.examples.public_data --shared ../shared/data --out .customer_ml/public_input
    CUSTOMER_ML_SOURCE=.customer_ml/public_input CUSTOMER_ML_PARTITION_START=1996-01-01 make run

Mapping: MovieLens users -> customers (signup = first rating), movies -> products (first genre as category,
title as name, all genres as description), each rating -> a review (0.5-5 stars rounded up to 1-5) and a
one-item completed order at its timestamp (unit price nominal 1.0: MovieLens has no prices). Each app
review -> a review of one product, the shop's app, by its own anonymous customer.
"""

import argparse
from pathlib import Path

import polars as pl

APP_PRODUCT_ID = "APP"


def convert(shared_data: Path) -> dict[str, pl.DataFrame]:
    movielens = shared_data / "movielens-small"
    ratings = pl.read_csv(movielens / "ratings.csv").with_row_index("n")
    movies = pl.read_csv(movielens / "movies.csv")
    rating_ts = pl.from_epoch("timestamp", time_unit="s")

    customers = (
        ratings.group_by("userId")
        .agg(signup_date=rating_ts.min().dt.date())
        .select(
            customer_id=pl.format("U{}", "userId"), signup_date="signup_date", country=pl.lit(None, dtype=pl.String)
        )
    )
    products = movies.select(
        product_id=pl.format("M{}", "movieId"),
        name="title",
        category=pl.col("genres").str.split("|").list.first(),
        description=pl.col("genres").str.replace_all("|", ", ", literal=True),
        price=pl.lit(1.0),
    )
    orders = ratings.select(
        order_id=pl.format("O{}", "n"),
        customer_id=pl.format("U{}", "userId"),
        order_ts=rating_ts,
        status=pl.lit("completed"),
    )
    order_items = ratings.select(
        order_id=pl.format("O{}", "n"),
        product_id=pl.format("M{}", "movieId"),
        quantity=pl.lit(1),
        unit_price=pl.lit(1.0),
    )
    reviews = ratings.select(
        review_id=pl.format("R{}", "n"),
        customer_id=pl.format("U{}", "userId"),
        rating=pl.col("rating").ceil().cast(pl.Int64).clip(1, 5),
        review_ts=rating_ts,
        product_id=pl.format("M{}", "movieId"),
        review_text=pl.lit(None, dtype=pl.String),
    )

    app_path = shared_data / "app_reviews" / "shopping_app_reviews.csv"
    if app_path.exists():
        app = pl.read_csv(app_path, infer_schema=False).filter(pl.col("content").is_not_null())
        app = app.with_columns(at=pl.col("at").str.to_datetime(strict=False)).filter(pl.col("at").is_not_null())
        app_customers = app.select(
            customer_id=pl.format("A{}", "reviewId"),
            signup_date=pl.col("at").dt.date(),
            country=pl.lit(None, dtype=pl.String),
        )
        customers = pl.concat([customers, app_customers])
        products = pl.concat(
            [
                products,
                pl.DataFrame(
                    {
                        "product_id": [APP_PRODUCT_ID],
                        "name": ["Shopping app"],
                        "category": ["App"],
                        "description": ["The shop's mobile app"],
                        "price": [0.0],
                    }
                ),
            ]
        )
        reviews = pl.concat(
            [
                reviews,
                app.select(
                    review_id=pl.format("A{}", "reviewId"),
                    customer_id=pl.format("A{}", "reviewId"),
                    rating=pl.col("score").cast(pl.Int64),
                    review_ts="at",
                    product_id=pl.lit(APP_PRODUCT_ID),
                    review_text="content",
                ),
            ]
        )
    return {
        "customers": customers,
        "products": products,
        "orders": orders,
        "order_items": order_items,
        "reviews": reviews,
    }


def write(tables: dict[str, pl.DataFrame], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.write_parquet(out / f"{name}.parquet")


def converter_main(convert_fn, description: str, default_out: str, argv=None) -> None:
    """The command line of a converter: read ../shared/data (or --shared), write Parquet to --out, list rows."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path(default_out))
    args = parser.parse_args(argv)
    tables = convert_fn(args.shared)
    write(tables, args.out)
    for name, frame in tables.items():
        print(f"{name:<12} {frame.height:>8,} rows -> {args.out / (name + '.parquet')}")


def main(argv=None) -> None:
    converter_main(convert, __doc__, ".customer_ml/public_input", argv)


if __name__ == "__main__":
    main()
