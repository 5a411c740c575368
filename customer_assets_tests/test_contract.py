"""Every kind of bad input stops with an error naming the file, the column and example rows."""

import polars as pl
import pytest

from customer_assets.sources.contract import ContractError
from customer_assets.sources.loader import load_folder
from customer_assets.sources.synthetic import SyntheticSpec, generate


@pytest.fixture(scope="module")
def clean_tables():
    return generate(SyntheticSpec(customers=200, seed=11))


def write_folder(path, tables, fmt="csv"):
    path.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "csv":
            frame.write_csv(path / f"{name}.csv")
        else:
            frame.write_parquet(path / f"{name}.parquet")
    return path


def with_change(tables, table, frame):
    changed = dict(tables)
    changed[table] = frame
    return changed


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_clean_folder_loads(tmp_path, clean_tables, fmt):
    loaded = load_folder(write_folder(tmp_path / "in", clean_tables, fmt))
    assert loaded.tables["orders"].height == clean_tables["orders"].height
    assert loaded.tables["orders"].schema["order_ts"] == pl.Datetime("us")
    assert loaded.tables["order_items"].schema["quantity"] == pl.Int64


def _error(tmp_path, tables) -> str:
    with pytest.raises(ContractError) as info:
        load_folder(write_folder(tmp_path / "in", tables))
    return str(info.value)


def test_missing_required_column(tmp_path, clean_tables):
    message = _error(tmp_path, with_change(clean_tables, "orders", clean_tables["orders"].drop("order_ts")))
    assert "orders.csv" in message and "'order_ts'" in message and "missing" in message


def test_wrong_type_names_rows(tmp_path, clean_tables):
    items = clean_tables["order_items"].with_columns(pl.col("quantity").cast(pl.String))
    items = items.with_columns(pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("two")).otherwise("quantity")
                               .alias("quantity"))
    message = _error(tmp_path, with_change(clean_tables, "order_items", items))
    assert "order_items.csv" in message and "'quantity'" in message and "'row': 5" in message and "two" in message


def test_unparseable_date(tmp_path, clean_tables):
    orders = clean_tables["orders"].with_columns(pl.col("order_ts").cast(pl.String))
    orders = orders.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("31/31/2024"))
                                 .otherwise("order_ts").alias("order_ts"))
    message = _error(tmp_path, with_change(clean_tables, "orders", orders))
    assert "'order_ts'" in message and "31/31/2024" in message and "timestamp" in message


def test_duplicate_ids(tmp_path, clean_tables):
    customers = pl.concat([clean_tables["customers"], clean_tables["customers"].head(2)])
    message = _error(tmp_path, with_change(clean_tables, "customers", customers))
    assert "customers.csv" in message and "'customer_id'" in message and "duplicate" in message


@pytest.mark.parametrize("table,column", [("products", "price"), ("order_items", "quantity"),
                                          ("order_items", "unit_price")])
def test_negative_values(tmp_path, clean_tables, table, column):
    frame = clean_tables[table].with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(-pl.col(column)).otherwise(pl.col(column)).alias(column))
    message = _error(tmp_path, with_change(clean_tables, table, frame))
    assert f"{table}.csv" in message and f"'{column}'" in message and "outside [0" in message


def test_rating_outside_one_to_five(tmp_path, clean_tables):
    reviews = clean_tables["reviews"].with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(7).otherwise(pl.col("rating")).alias("rating"))
    message = _error(tmp_path, with_change(clean_tables, "reviews", reviews))
    assert "reviews.csv" in message and "'rating'" in message and "'rating': 7" in message


def test_orphan_keys_above_tolerance(tmp_path, clean_tables):
    customers = clean_tables["customers"].tail(-50)  # orders of 50 customers now point nowhere
    message = _error(tmp_path, with_change(clean_tables, "customers", customers))
    assert "orders.csv" in message and "'customer_id'" in message and "missing from customers" in message


def test_few_orphans_are_dropped_and_reported(tmp_path, clean_tables):
    orders = clean_tables["orders"]
    stray = orders.head(1).with_columns(order_id=pl.lit("O-stray"), customer_id=pl.lit("C-nobody"))
    loaded = load_folder(write_folder(tmp_path / "in", with_change(clean_tables, "orders", pl.concat([orders, stray]))),
                         orphan_tolerance=0.01)
    assert "O-stray" not in loaded.tables["orders"]["order_id"].to_list()
    assert loaded.dropped_orphans == {"orders.customer_id": 1}


def test_empty_file(tmp_path, clean_tables):
    message = _error(tmp_path, with_change(clean_tables, "products", clean_tables["products"].head(0)))
    assert "products.csv" in message and "empty" in message


def test_missing_dimensions_are_derived_and_optional_tables_noted(tmp_path, clean_tables):
    tables = {k: v for k, v in clean_tables.items() if k in ("orders", "order_items")}
    loaded = load_folder(write_folder(tmp_path / "in", tables))
    assert loaded.tables["customers"].height == clean_tables["orders"]["customer_id"].n_unique()
    assert loaded.tables["products"].height == clean_tables["order_items"]["product_id"].n_unique()
    assert loaded.tables["reviews"].height == 0 and loaded.tables["events"].height == 0
    assert any("reviews" in note for note in loaded.notes)


def test_every_problem_is_reported_at_once(tmp_path, clean_tables):
    tables = with_change(clean_tables, "orders", clean_tables["orders"].drop("order_ts"))
    tables = with_change(tables, "products", tables["products"].with_columns(price=-pl.col("price")))
    message = _error(tmp_path, tables)
    assert "orders.csv" in message and "products.csv" in message


def test_typed_parquet_keeps_values_and_still_fails_bad_ones(tmp_path, clean_tables):
    # Typed columns skip the text round trip (ms timestamps, 32-bit counts); the values must not change.
    typed = dict(clean_tables)
    typed["orders"] = clean_tables["orders"].with_columns(pl.col("order_ts").cast(pl.Datetime("ms")))
    typed["order_items"] = clean_tables["order_items"].with_columns(pl.col("quantity").cast(pl.Int32))
    loaded = load_folder(write_folder(tmp_path / "typed", typed, "parquet"))
    assert loaded.tables["orders"].schema["order_ts"] == pl.Datetime("us")
    assert loaded.tables["orders"]["order_ts"].dt.truncate("1s").equals(
        clean_tables["orders"]["order_ts"].dt.truncate("1s").cast(pl.Datetime("us")))
    assert loaded.tables["order_items"]["quantity"].to_list() == clean_tables["order_items"]["quantity"].to_list()
    # a float column where whole numbers are required still goes through the checked path
    fractional = dict(typed)
    fractional["order_items"] = typed["order_items"].with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(1.5).otherwise(pl.col("quantity")).alias("quantity"))
    with pytest.raises(ContractError) as info:
        load_folder(write_folder(tmp_path / "frac", fractional, "parquet"))
    message = str(info.value)
    assert "quantity" in message and "1 value(s) are not a valid whole number" in message


@pytest.mark.parametrize("bad_ts", ["1900-01-01 00:00:00", "2199-05-01 12:00:00"])
def test_dates_before_1970_or_after_today_name_rows(tmp_path, clean_tables, bad_ts):
    orders = clean_tables["orders"].with_columns(pl.col("order_ts").cast(pl.String))
    orders = orders.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(pl.lit(bad_ts))
                                 .otherwise("order_ts").alias("order_ts"))
    message = _error(tmp_path, with_change(clean_tables, "orders", orders))
    assert "orders.csv" in message and "'order_ts'" in message and "before 1970-01-01 or after today" in message
    assert "'row': 3" in message and f"datetime({int(bad_ts[:4])}," in message


@pytest.mark.parametrize("bad_ts", ["9999-12-31 00:00:00"])
def test_far_future_timestamp_is_rejected(tmp_path, clean_tables, bad_ts):
    # A 9999-12-31 placeholder once became the as-of date and poisoned the landing snapshot.
    test_dates_before_1970_or_after_today_name_rows(tmp_path, clean_tables, bad_ts)


@pytest.mark.parametrize("spelling", ["inf", "-inf", "Infinity", "-INFINITY", "nan", "NaN", "NAN"])
@pytest.mark.parametrize(("table", "column"), [("order_items", "unit_price"), ("products", "price"),
                                               ("order_items", "quantity"), ("reviews", "rating")])
def test_non_finite_numbers_name_file_column_and_rows(tmp_path, clean_tables, table, column, spelling):
    frame = clean_tables[table].with_columns(pl.col(column).cast(pl.String))
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(pl.lit(spelling))
                               .otherwise(column).alias(column))
    message = _error(tmp_path, with_change(clean_tables, table, frame))
    assert f"{table}.csv" in message and f"'{column}'" in message and "'row': 2" in message


def test_non_finite_numbers_in_typed_parquet(tmp_path, clean_tables):
    items = clean_tables["order_items"].with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(float("inf")).otherwise("unit_price").alias("unit_price"))
    with pytest.raises(ContractError) as info:
        load_folder(write_folder(tmp_path / "in", with_change(clean_tables, "order_items", items), "parquet"))
    message = str(info.value)
    assert "order_items.parquet" in message and "'unit_price'" in message and "not finite" in message


def test_duplicated_header_column(tmp_path, clean_tables):
    folder = write_folder(tmp_path / "in", clean_tables)
    orders = clean_tables["orders"].with_columns(pl.col("order_id").alias("order_id_again"))
    orders.write_csv(folder / "orders.csv")
    text = (folder / "orders.csv").read_text().replace("order_id_again", "order_id", 1)
    (folder / "orders.csv").write_text(text)
    with pytest.raises(ContractError) as info:
        load_folder(folder)
    assert "orders.csv" in str(info.value) and "repeats column(s) order_id" in str(info.value)


@pytest.mark.parametrize(("make_bad", "words"), [
    (lambda path: path.write_bytes(b""), "empty"),
    (lambda path: path.write_bytes(b"order_id,customer_id,order_ts\nO-1,C-\xff\xfe,2024-01-01\n"), "UTF-8"),
    (lambda path: (path.unlink(), path.mkdir()), "not a regular file"),
])
def test_unreadable_files_name_the_file(tmp_path, clean_tables, make_bad, words):
    folder = write_folder(tmp_path / "in", clean_tables)
    make_bad(folder / "orders.csv")
    with pytest.raises(ContractError) as info:
        load_folder(folder)
    assert f"{folder / 'orders.csv'}" in str(info.value) and words in str(info.value)


def test_unknown_table_file_is_noted(tmp_path, clean_tables):
    folder = write_folder(tmp_path / "in", clean_tables)
    (folder / "coupons.csv").write_text("coupon_id\nX\n")
    notes = load_folder(folder).notes
    assert any("coupons.csv" in note and "customers, products, orders" in note for note in notes)


@pytest.mark.parametrize("variant", ["bom", "crlf", "quoted_newline"])
def test_bom_crlf_and_quoted_newlines_are_accepted(tmp_path, clean_tables, variant):
    folder = write_folder(tmp_path / "in", clean_tables)
    path = folder / "products.csv"
    if variant == "quoted_newline":
        products = clean_tables["products"].with_columns(
            pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("two\nlines")).otherwise("description")
            .alias("description"))
        products.write_csv(path)
    text = path.read_text()
    if variant == "crlf":
        path.write_bytes(text.replace("\n", "\r\n").encode())
    if variant == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    loaded = load_folder(folder)
    assert loaded.tables["products"].height == clean_tables["products"].height
    if variant == "quoted_newline":
        assert "two\nlines" in loaded.tables["products"]["description"].to_list()
