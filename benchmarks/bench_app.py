"""Benchmark: the Streamlit business app on an online snapshot of 1,000,000 customers (issue 13).

    .venv/bin/python benchmarks/bench_app.py [--rows N] [--seed S] [--keep]

Builds a synthetic online snapshot in a temporary home, vectorised in NumPy / polars, with the schemas the real
`publish` writes (features, churn scores with their top_reasons lists, segments, ten recommendations per customer,
similar products, customer value, ranked retention targets, purchases, and the app tables: history, segment history
and moves, products, each reviewer's latest reviews, topics, product sentiment overall and by month, drift) through
the real `customer_assets.serving.snapshot.write_snapshot`, with a manifest shaped like publish's. MLflow is absent
(no registry in the temporary home): the Models page shows its "no champion" note, the Churn page its "no calibration
plot" note; the app only reads MLflow, so its cost does not grow with customers.

Then drives the real app (`customer_assets/app/main.py`) through Streamlit's AppTest, page by page (Overview,
Churn, Churn filtered by segment, Churn page 2, Segments, Customer with an id search, Products and reviews, Models):
seconds per page run, peak RSS of this process (AppTest runs the script in-process), that no page raised or showed
an error, and what each page ships to the browser: the largest dataframe's rows, the points in its Plotly charts and
the bytes of its download buttons. Prints the figures; writes nothing into the repository (the home is a temporary
directory, deleted unless --keep).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from customer_assets import config  # noqa: E402
from customer_assets.serving import snapshot as snapshots  # noqa: E402
from customer_assets.serving.snapshot_view import HIGH_RISK_CUT  # noqa: E402

APP = str(REPO_ROOT / "customer_assets" / "app" / "main.py")
AS_OF = dt.date(2026, 10, 31)
HISTORY_DATES = 30
PRODUCTS = 2_000
RECS_PER_CUSTOMER = 10
SIMILAR_PER_PRODUCT = 10
PURCHASES_PER_CUSTOMER = 5
SEGMENTS = ["High Value", "Low Value", "Inactive", "At Risk", "New"]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "ES", "IT", "PL", "SE", "CA"]
CATEGORIES = ["Electronics", "Home", "Books", "Sports", "Beauty", "Toys", "Garden", "Fashion"]
REASONS = [
    "0 sessions in the last 90 days",
    "0.0 orders expected in the churn window at the usual pace",
    "engagement score 0 (0 to 1)",
    "7 reviews written",
    "customer for 933 days",
    "lifetime value to date 1133.0",
    "average order value 190.86",
    "2 orders in the 90 days before the last 90",
    "3 support tickets in the last 90 days",
    "return rate 0.40",
]
REVIEW_TEXTS = [
    "Not happy. The quality is terrible.",
    "Would not buy again. Stopped working after two days.",
    "Arrived quickly, five stars, great value for the price.",
    "Okay for the price, shipping took two weeks.",
    "Excellent quality, customer support answered my question within an hour. Really happy with it.",
]
FEATURES = [
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "first_purchase_days",
    "clv_to_date",
    "orders_90d",
    "orders_prev_90d",
    "order_trend",
    "return_rate",
    "cancel_rate",
    "category_breadth",
    "login_frequency",
    "sessions_90d",
    "conversion_rate",
    "support_tickets_90d",
    "engagement_score",
    "review_count",
    "avg_rating",
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _pick(values: list[str], index: np.ndarray) -> pl.Series:
    """values[index] as a String Series, vectorised (a gather on a small Series, no Python loop over rows)."""
    return pl.Series(values, dtype=pl.String).gather(pl.Series(index.astype(np.int64)))


def _ids(prefix: str, n: int, width: int) -> pl.Series:
    return pl.select(pl.lit(prefix) + pl.int_range(0, n).cast(pl.String).str.zfill(width)).to_series()


# --- the synthetic snapshot --------------------------------------------------------------------------------


def build_frames(n: int, seed: int) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """(the service's tables, the app tables), with the real publish's columns and types."""
    rng = np.random.default_rng(seed)
    customer_id = _ids("C", n, 7)
    product_id = _ids("P", PRODUCTS, 5)
    as_of = pl.lit(AS_OF)
    frequency = rng.poisson(4.0, n).astype(float)
    buyer = frequency > 0
    monetary = np.where(buyer, rng.gamma(2.0, 60.0, n) * frequency, 0.0)
    feats = {name: rng.gamma(1.5, 10.0, n) for name in FEATURES}
    feats.update(
        frequency=frequency,
        monetary=monetary,
        tenure_days=rng.integers(30, 1500, n).astype(float),
        engagement_score=rng.random(n),
        return_rate=rng.random(n) * 0.4,
        conversion_rate=rng.random(n) * 0.2,
        review_count=rng.poisson(1.0, n).astype(float),
        avg_rating=1 + 4 * rng.random(n),
    )
    features = (
        pl.DataFrame({"customer_id": customer_id})
        .with_columns(
            as_of.alias("as_of_date"),
            _pick(COUNTRIES, rng.integers(0, len(COUNTRIES), n)).alias("country"),
            *[pl.Series(name, feats[name]) for name in FEATURES],
            pl.Series("is_active", rng.random(n) < 0.56),
        )
        .with_columns(  # null where there is no order, as the real mart has
            *[
                pl.when(pl.Series(buyer)).then(pl.col(c)).otherwise(None).alias(c)
                for c in ("recency_days", "avg_order_value", "first_purchase_days")
            ],
        )
    )

    probability = rng.beta(0.8, 2.0, n)
    reason_index = rng.integers(0, len(REASONS), (n, 3))
    churn_scores = pl.DataFrame({"customer_id": customer_id}).with_columns(
        as_of.alias("as_of_date"),
        pl.Series("churn_probability", probability),
        pl.Series("risk_level", np.where(probability >= 0.7, "High", np.where(probability >= 0.3, "Medium", "Low"))),
        pl.concat_list([_pick(REASONS, reason_index[:, k]) for k in range(3)]).alias("top_reasons"),
        pl.lit("churn_model").alias("model_name"),
        pl.lit(1, pl.Int64).alias("model_version"),
    )

    segment_id = rng.integers(0, len(SEGMENTS), n)
    segments = pl.DataFrame({"customer_id": customer_id}).with_columns(
        as_of.alias("as_of_date"),
        pl.Series("segment_id", segment_id, pl.Int32),
        _pick(SEGMENTS, segment_id).alias("segment_name"),
        pl.lit("kmeans").alias("algorithm"),
        pl.lit(1, pl.Int64).alias("model_version"),
    )

    recs = n * RECS_PER_CUSTOMER
    recommendations = pl.DataFrame(
        {
            "customer_id": customer_id.gather(pl.Series(np.repeat(np.arange(n), RECS_PER_CUSTOMER))),
            "as_of_date": pl.repeat(AS_OF, recs, eager=True),
            "rank": pl.Series(np.tile(np.arange(1, RECS_PER_CUSTOMER + 1), n), dtype=pl.Int32),
            "product_id": product_id.gather(pl.Series(rng.integers(0, PRODUCTS, recs))),
            "score": np.sort(rng.random((n, RECS_PER_CUSTOMER)), axis=1)[:, ::-1].ravel(),
            "strategy": _pick(["implicit_als", "popular"], (rng.random(recs) < 0.1).astype(int)),
            "model_version": pl.repeat(1, recs, dtype=pl.Int64, eager=True),
        }
    )

    sims = PRODUCTS * SIMILAR_PER_PRODUCT
    similar_products = pl.DataFrame(
        {
            "product_id": product_id.gather(pl.Series(np.repeat(np.arange(PRODUCTS), SIMILAR_PER_PRODUCT))),
            "rank": pl.Series(np.tile(np.arange(1, SIMILAR_PER_PRODUCT + 1), PRODUCTS), dtype=pl.Int32),
            "similar_product_id": product_id.gather(pl.Series(rng.integers(0, PRODUCTS, sims))),
            "score": np.sort(rng.random((PRODUCTS, SIMILAR_PER_PRODUCT)), axis=1)[:, ::-1].ravel(),
            "as_of_date": pl.repeat(AS_OF, sims, eager=True),
            "model_version": pl.repeat(1, sims, dtype=pl.Int64, eager=True),
        }
    )

    valued = np.flatnonzero(buyer)
    m = valued.size
    p_alive = rng.random(m)
    expected_orders = rng.gamma(1.0, 0.5, m) * p_alive
    order_value = rng.gamma(3.0, 25.0, m)
    customer_value = pl.DataFrame(
        {
            "customer_id": customer_id.gather(pl.Series(valued)),
            "as_of_date": pl.repeat(AS_OF, m, eager=True),
            "p_alive": p_alive,
            "expected_orders": expected_orders,
            "expected_value": expected_orders * order_value,
            "horizon_days": pl.repeat(90, m, dtype=pl.Int64, eager=True),
            "clv_12m": expected_orders * order_value * 3.5,
            "model_name": pl.repeat("customer_value_model", m, eager=True),
            "model_version": pl.repeat(1, m, dtype=pl.Int64, eager=True),
            "p_order": p_alive * 0.6,
            "expected_order_value": order_value,
            "orders": pl.Series(frequency[valued].astype(np.int64)),
            "days_since_first": rng.integers(30, 1000, m),
            "days_since_last": rng.integers(0, 700, m),
            "total_value": monetary[valued],
            "mean_order_value": order_value,
            "mean_repeat_value": np.where(frequency[valued] > 1, order_value, np.nan),
        }
    ).with_columns(pl.col("mean_repeat_value").fill_nan(None))

    at_risk = probability[valued] * customer_value["expected_value"].to_numpy()
    order = np.argsort(-at_risk, kind="stable")
    picked = valued[order]
    retention_targets = pl.DataFrame(
        {
            "as_of_date": pl.repeat(AS_OF, m, eager=True),
            "rank": np.arange(1, m + 1, dtype=np.int64),
            "customer_id": customer_id.gather(pl.Series(picked)),
            "value_at_risk": at_risk[order],
            "churn_probability": probability[picked],
            "churn_probability_source": pl.repeat("churn_model", m, eager=True),
            "risk_level": churn_scores["risk_level"].gather(pl.Series(picked)),
            "top_reasons": churn_scores["top_reasons"].gather(pl.Series(picked)),
            "segment_name": segments["segment_name"].gather(pl.Series(picked)),
            "expected_value": customer_value["expected_value"].to_numpy()[order],
            "clv_12m": customer_value["clv_12m"].to_numpy()[order],
            "p_alive": p_alive[order],
            "recommended_products": pl.select(
                pl.concat_list([product_id.gather(pl.Series(rng.integers(0, PRODUCTS, m))) for _ in range(3)])
            ).to_series(),
            "horizon_days": pl.repeat(90, m, dtype=pl.Int64, eager=True),
            "churn_model_version": pl.repeat(1, m, dtype=pl.Int64, eager=True),
            "value_model_version": pl.repeat(1, m, dtype=pl.Int64, eager=True),
        }
    )

    bought = n * PURCHASES_PER_CUSTOMER
    purchases = (
        pl.DataFrame(
            {
                "customer_id": customer_id.gather(pl.Series(np.repeat(np.arange(n), PURCHASES_PER_CUSTOMER))),
                "product_id": product_id.gather(pl.Series(rng.integers(0, PRODUCTS, bought))),
            }
        )
        .unique()
        .sort("customer_id", "product_id")
    )

    frames = {
        "features": features,
        "churn_scores": churn_scores,
        "segments": segments,
        "recommendations": recommendations,
        "similar_products": similar_products,
        "customer_value": customer_value,
        "retention_targets": retention_targets,
        "purchases": purchases,
    }
    return frames, build_app_tables(n, rng, customer_id, product_id, probability, segments, retention_targets)


def build_app_tables(n, rng, customer_id, product_id, probability, segments, retention_targets):
    dates = pl.date_range(AS_OF - dt.timedelta(days=HISTORY_DATES - 1), AS_OF, eager=True)
    grow = np.linspace(0.97, 1.0, HISTORY_DATES)
    history = pl.DataFrame(
        {
            "as_of_date": dates,
            "customers": (grow * n).astype(np.int64),
            "active_share": 0.56 + rng.normal(0, 0.01, HISTORY_DATES),
            "churn_rate": float(probability.mean()) + rng.normal(0, 0.005, HISTORY_DATES),
            "high_risk": (grow * (probability >= HIGH_RISK_CUT).sum()).astype(np.int64),
            "value_at_risk": grow * float(retention_targets["value_at_risk"].sum()),
        }
    )
    sizes = segments.group_by("segment_name").len().sort("segment_name")
    segment_history = pl.DataFrame(
        {
            "as_of_date": dates.gather(pl.Series(np.repeat(np.arange(HISTORY_DATES), sizes.height))),
            "segment": pl.concat([sizes["segment_name"]] * HISTORY_DATES),
            "customers": (np.repeat(grow, sizes.height) * np.tile(sizes["len"].to_numpy(), HISTORY_DATES)).astype(
                np.int64
            ),
        }
    )
    k = len(SEGMENTS)
    moves = rng.multinomial(n, np.full(k * k, 1 / (k * k)))
    segment_moves = pl.DataFrame(
        {
            "previous_as_of": pl.repeat(AS_OF - dt.timedelta(days=1), k * k, eager=True),
            "as_of_date": pl.repeat(AS_OF, k * k, eager=True),
            "from_segment": _pick(SEGMENTS, np.repeat(np.arange(k), k)),
            "to_segment": _pick(SEGMENTS, np.tile(np.arange(k), k)),
            "customers": moves.astype(np.int64),
        }
    ).sort("from_segment", "to_segment")
    products = pl.DataFrame(
        {
            "product_id": product_id,
            "product_name": pl.select(pl.lit("Product ") + pl.int_range(0, PRODUCTS).cast(pl.String)).to_series(),
            "category": _pick(CATEGORIES, rng.integers(0, len(CATEGORIES), PRODUCTS)),
        }
    )
    per_customer = np.minimum(rng.poisson(1.0, n), 5)  # REVIEWS_PER_CUSTOMER latest reviews at most
    owner = np.repeat(np.arange(n), per_customer)
    r = owner.size
    rating = rng.integers(1, 6, r)
    score = (rating - 3) / 2 + rng.normal(0, 0.2, r)
    reviews = pl.DataFrame(
        {
            "customer_id": customer_id.gather(pl.Series(owner)),
            "product_id": product_id.gather(pl.Series(rng.integers(0, PRODUCTS, r))),
            "review_date": pl.Series(np.datetime64(AS_OF, "D") - rng.integers(0, 700, r).astype("timedelta64[D]")).cast(
                pl.Date
            ),
            "rating": rating.astype(np.int64),
            "sentiment_label": _pick(["negative", "neutral", "positive"], np.digitize(score, [-0.2, 0.2])),
            "sentiment_score": score,
            "review_text": _pick(REVIEW_TEXTS, rating - 1),
        }
    ).sort("customer_id", pl.col("review_date"), descending=[False, True])
    topics = pl.DataFrame(
        {
            "topic_id": np.arange(8, dtype=np.int64),
            "label": [f"topic {i} / words" for i in range(8)],
            "top_terms": ["arrived, stars, five, quickly, answered, shipping, support, question, weeks, worth"] * 8,
            "size": rng.integers(1_000, 100_000, 8),
        }
    )
    stats = (
        reviews.group_by("product_id")
        .agg(
            pl.len().cast(pl.Int64).alias("review_count"),
            pl.col("rating").mean().alias("average_rating"),
            (pl.col("sentiment_label") == "positive").mean().alias("positive_share"),
            (pl.col("sentiment_label") == "neutral").mean().alias("neutral_share"),
            (pl.col("sentiment_label") == "negative").mean().alias("negative_share"),
            pl.col("sentiment_score").mean().alias("average_sentiment"),
        )
        .with_columns(
            pl.lit("quality, shipping, price").alias("aspects_praised"),
            pl.lit("shipping, price").alias("aspects_criticized"),
        )
        .sort("product_id")
    )
    monthly = (
        reviews.group_by("product_id", pl.col("review_date").dt.truncate("1mo").alias("month"))
        .agg(
            pl.len().cast(pl.Int64).alias("reviews"),
            pl.col("sentiment_score").mean().alias("average_sentiment"),
            (pl.col("sentiment_label") == "negative").mean().alias("negative_share"),
        )
        .sort("product_id", "month")
    )
    drift = pl.DataFrame(
        {
            "as_of_date": dates.gather(pl.Series(np.repeat(np.arange(HISTORY_DATES), len(FEATURES)))),
            "feature": pl.Series(FEATURES * HISTORY_DATES),
            "psi": rng.gamma(1.0, 0.03, HISTORY_DATES * len(FEATURES)),
        }
    ).with_columns(
        pl.when(pl.col("psi") > 0.2)
        .then(pl.lit("significant"))
        .when(pl.col("psi") > 0.1)
        .then(pl.lit("moderate"))
        .otherwise(pl.lit("stable"))
        .alias("status")
    )
    return {
        "app_history": history,
        "app_segment_history": segment_history,
        "app_segment_moves": segment_moves,
        "app_products": products,
        "app_reviews": reviews,
        "app_topics": topics,
        "app_product_sentiment": stats,
        "app_product_sentiment_monthly": monthly,
        "app_drift": drift,
    }


def publish_synthetic(home: Path, frames: dict, app_frames: dict) -> snapshots.Published:
    """The real write_snapshot with a manifest shaped like `snapshot.publish`'s."""
    manifest = {
        "as_of": AS_OF.isoformat(),
        "warehouse": "duckdb",
        "tables": {name: {"as_of": AS_OF.isoformat(), "rows": f.height} for name, f in frames.items()},
        "missing_tables": sorted(set(snapshots.DATED_TABLES) - set(frames)),
        "champion_versions": {},
        "model_versions": {
            name: sorted(int(v) for v in frames[name]["model_version"].unique().drop_nulls())
            for name in snapshots.DATED_TABLES
            if name in frames and "model_version" in frames[name].columns
        },
        "app_tables": {name: {"rows": f.height} for name, f in app_frames.items()},
        "app_tables_skipped": {},
    }
    return snapshots.write_snapshot({**frames, **app_frames}, snapshots.online_dir(home), manifest)


# --- driving the pages -------------------------------------------------------------------------------------


def _trace_points(trace: dict) -> int:
    most = 0
    for axis in ("x", "y"):
        values = trace.get(axis)
        if isinstance(values, list):
            most = max(most, len(values))
        elif isinstance(values, dict):  # plotly's typed-array encoding: {"dtype", "bdata", "shape"}
            if "shape" in values:
                most = max(most, int(str(values["shape"]).split(",")[0]))
            elif "bdata" in values:
                size = np.dtype(values.get("dtype", "f8")).itemsize
                most = max(most, len(base64.b64decode(values["bdata"])) // size)
    return most


_MEDIA_BYTES: list[int] = []


def _record_media() -> None:
    """Count the bytes each page run puts in Streamlit's media store (a download button's file is built and
    stored on every run unless its data is a callable, built on click)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    add = MediaFileManager.add

    def recording(self, path_or_data, *args, **kwargs):
        if isinstance(path_or_data, (bytes, str)):
            _MEDIA_BYTES.append(len(path_or_data))
        return add(self, path_or_data, *args, **kwargs)

    MediaFileManager.add = recording


def shipped(app) -> dict:
    """What the page sends to the browser: the largest dataframe's rows, Plotly points, download-button bytes."""
    frames = [len(df.value) for df in app.dataframe]
    charts = []
    for chart in app.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        charts.append(sum(_trace_points(t) for t in spec.get("data", [])))
    downloads = [size for size in _MEDIA_BYTES]  # the bytes the page's download buttons stored this run
    return {
        "largest_dataframe_rows": max(frames, default=0),
        "dataframes": frames,
        "largest_chart_points": max(charts, default=0),
        "charts": len(charts),
        "download_bytes": downloads,
    }


def _check(app, page: str) -> list[str]:
    problems = [f"exception: {e.value}" for e in app.exception] + [f"error: {e.value}" for e in app.error]
    headers = [h.value for h in app.header]
    if headers != [page]:
        problems.append(f"headers {headers}")
    return problems


def run_pages(customer_id: str, timeout: float) -> list[dict]:
    from streamlit.testing.v1 import AppTest

    results = []

    _record_media()

    def timed(label: str, page: str, step) -> None:
        _MEDIA_BYTES.clear()
        started = time.perf_counter()
        app = step()
        seconds = time.perf_counter() - started
        results.append(
            {
                "page": label,
                "seconds": round(seconds, 2),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "problems": _check(app, page),
                "infos": [i.value for i in app.info][:3],
                **shipped(app),
            }
        )

    for page in ("Overview", "Churn", "Segments", "Customer", "Products and reviews", "Models"):
        app = AppTest.from_file(APP, default_timeout=timeout)
        app.run()  # the first page (Overview) with the sidebar; timed separately below
        timed(page, page, lambda app=app, page=page: app.sidebar.radio[0].set_value(page).run())
        if page == "Churn":
            segment = app.selectbox(key="churn_segment").options[1]
            timed(
                f"Churn, segment {segment!r}",
                page,
                lambda app=app, s=segment: app.selectbox(key="churn_segment").set_value(s).run(),
            )
            timed("Churn, page 2", page, lambda app=app: app.number_input(key="churn_page").set_value(2).run())
        if page == "Customer":
            timed(
                f"Customer {customer_id}",
                page,
                lambda app=app: app.text_input(key="customer_id").input(customer_id).run(),
            )
            timed(
                "Customer, unknown id",
                page,
                lambda app=app: app.text_input(key="customer_id").input("no-such-customer").run(),
            )
    return results


def build_into(home: Path, rows: int, seed: int) -> dict:
    """Build and publish the snapshot (run in a child process, so the app's peak RSS below is the app's own)."""
    started = time.perf_counter()
    frames, app_frames = build_frames(rows, seed)
    build = time.perf_counter() - started
    started = time.perf_counter()
    published = publish_synthetic(home, frames, app_frames)
    scores = frames["churn_scores"]
    return {
        "build_seconds": round(build, 1),
        "write_seconds": round(time.perf_counter() - started, 1),
        "parquet_mb": round(sum(p.stat().st_size for p in published.path.glob("*.parquet")) / 2**20, 1),
        "folder": str(published.path),
        "rows": {name: f.height for name, f in {**frames, **app_frames}.items()},
        "customer_id": scores.filter(pl.col("churn_probability") >= HIGH_RISK_CUT)["customer_id"][0],
        "high_risk": int((scores["churn_probability"] >= HIGH_RISK_CUT).sum()),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds AppTest allows one page run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (its path is printed)")
    parser.add_argument("--build-into", type=Path, help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args(argv)
    if args.build_into:
        print(json.dumps(build_into(args.build_into, args.rows, args.seed)))
        return 0

    home = Path(tempfile.mkdtemp(prefix="bench_app_"))
    os.environ["CUSTOMER_ML_HOME"] = str(home)
    os.environ["CUSTOMER_ML_API_KEY"] = ""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    settings = config.load_settings()
    assert settings.home == home.resolve(), settings.home
    try:
        child = subprocess.run(
            [sys.executable, __file__, "--rows", str(args.rows), "--seed", str(args.seed), "--build-into", str(home)],
            check=True,
            capture_output=True,
            text=True,
        )
        built = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"customers {args.rows:,}: snapshot built in {built['build_seconds']:.1f} s, written in "
            f"{built['write_seconds']:.1f} s ({built['parquet_mb']:.0f} MB of Parquet in {built['folder']}; "
            f"builder's peak RSS {built['peak_rss_mb']:.0f} MB, a separate process)"
        )
        for name, count in built["rows"].items():
            print(f"  {name:<30} {count:>12,} rows")
        print(f"  high-risk customers (p >= {HIGH_RISK_CUT}): {built['high_risk']:,}")
        print(f"app process before the first page: peak RSS {peak_rss_mb():.0f} MB")

        results = run_pages(built["customer_id"], args.timeout)
        print(
            f"\n{'page':<36} {'seconds':>8} {'peak RSS MB':>12} {'max df rows':>12} {'max chart pts':>14}  "
            "media bytes / problems"
        )
        for r in results:
            extra = r["problems"] or (r["download_bytes"] if r["download_bytes"] else "")
            print(
                f"{r['page']:<36} {r['seconds']:8.2f} {r['peak_rss_mb']:12.0f} {r['largest_dataframe_rows']:12,} "
                f"{r['largest_chart_points']:14,}  {extra}"
            )
        failed = [r for r in results if r["problems"]]
        most_rows = max(r["largest_dataframe_rows"] for r in results)
        most_points = max(r["largest_chart_points"] for r in results)
        most_media = max((b for r in results for b in r["download_bytes"]), default=0)
        print(
            f"\npages run: {len(results)}, with an exception or error: {len(failed)}; largest dataframe shipped "
            f"{most_rows:,} rows, largest chart {most_points:,} points, largest media file {most_media:,} bytes "
            f"(customers {args.rows:,}); slowest page {max(r['seconds'] for r in results):.2f} s; "
            f"app process peak RSS {peak_rss_mb():.0f} MB"
        )
        print(json.dumps({"customers": args.rows, "snapshot": built, "pages": results}, default=str))
        return 1 if failed or most_rows >= args.rows or most_points >= args.rows else 0
    finally:
        if args.keep:
            print(f"home kept: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
