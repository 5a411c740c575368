"""The app's data access: SQL over the current online snapshot's Parquet files and read-only MLflow lookups.

The app never opens the warehouse (DuckDB allows one writer or several readers, never both, and the pipeline
writes it): it reads the folder `<home>/online/current` points to, through an in-memory DuckDB connection. Every
query is aggregated or paged (LIMIT/OFFSET), so a page never pulls all customers into the browser, and `current`
is resolved on every call, so a newly published snapshot shows up without a restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from customer_assets.serving import snapshot as snapshots
from customer_assets.serving.models import MODEL_NAMES
from customer_assets.serving.snapshot_view import HIGH_RISK_CUT

PAGE_SIZE = 50
RUN_SUMMARY = Path("runs") / "latest.json"  # = customer_assets.cli.RUN_SUMMARY (not imported: it loads Dagster)
RUN_FIRST = "No online snapshot in this home yet: run `make run` first."


class NoSnapshot(RuntimeError):
    """Nothing published in this home: pages show RUN_FIRST instead of charts."""


@dataclass(frozen=True)
class Snapshot:
    version: str
    folder: Path
    manifest: dict

    def has(self, table: str) -> bool:
        return (self.folder / f"{table}.parquet").is_file()

    @property
    def as_of(self) -> str:
        return str(self.manifest.get("as_of", "?"))


def current_snapshot(home: Path) -> Snapshot:
    online = snapshots.online_dir(home)
    version = snapshots.current_version(online)
    if version is None:
        raise NoSnapshot(RUN_FIRST)
    folder = online / version
    try:
        manifest = snapshots.read_manifest(folder)
    except snapshots.SnapshotError as error:
        raise NoSnapshot(f"The online snapshot {version} cannot be read ({error}): run `make run` again.") from error
    return Snapshot(version, folder, manifest)


def _sql(snap: Snapshot, query: str, params: list | None = None) -> pd.DataFrame:
    """Run `query` with each `{table}` placeholder replaced by that Parquet file of the snapshot."""
    tables = {p.stem: f"read_parquet('{p.as_posix()}')" for p in snap.folder.glob("*.parquet")}
    with duckdb.connect(":memory:") as con:
        return con.execute(query.format(**tables), params or []).fetchdf()


def columns(snap: Snapshot, table: str) -> list[str]:
    if not snap.has(table):
        return []
    return list(_sql(snap, f"SELECT * FROM {{{table}}} LIMIT 0").columns)


# --- overview --------------------------------------------------------------------------------------------


def overview(snap: Snapshot) -> dict:
    feature_cols = columns(snap, "features")
    active = "avg(CASE WHEN is_active THEN 1 ELSE 0 END)" if "is_active" in feature_cols else "NULL"
    row = _sql(snap, f"SELECT count(*) AS customers, {active} AS active_share FROM {{features}}").iloc[0]
    result = {
        "customers": int(row["customers"]),
        "active_share": None if pd.isna(row["active_share"]) else float(row["active_share"]),
        "churn_rate": None,
        "high_risk": None,
        "value_at_risk": None,
    }
    if snap.has("churn_scores"):
        churn = _sql(
            snap,
            "SELECT avg(churn_probability) AS rate, "
            "sum(CASE WHEN churn_probability >= ? THEN 1 ELSE 0 END) AS high FROM {churn_scores}",
            [HIGH_RISK_CUT],
        ).iloc[0]
        result["churn_rate"], result["high_risk"] = float(churn["rate"]), int(churn["high"])
    if snap.has("retention_targets") and "value_at_risk" in columns(snap, "retention_targets"):
        result["value_at_risk"] = float(
            _sql(snap, "SELECT sum(value_at_risk) AS v FROM {retention_targets}").iloc[0]["v"] or 0.0
        )
    return result


HISTORY_COLUMNS = ["as_of_date", "customers", "active_share", "churn_rate", "high_risk", "value_at_risk"]


def history(snap: Snapshot) -> pd.DataFrame:
    """One row per as-of date (at most app_tables.HISTORY_DAYS): the published app_history, or, for a snapshot
    published without it, the snapshot's own day only."""
    if snap.has("app_history"):
        frame = _sql(snap, "SELECT * FROM {app_history} ORDER BY as_of_date")
    else:
        frame = pd.DataFrame([{"as_of_date": snap.as_of, **overview(snap)}])
    for column in HISTORY_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    return frame[HISTORY_COLUMNS]


def segment_sizes(snap: Snapshot) -> pd.DataFrame:
    if not snap.has("segments"):
        return pd.DataFrame(columns=["segment", "customers"])
    label = _segment_label(snap)
    return _sql(
        snap,
        f"SELECT CAST({label} AS VARCHAR) AS segment, count(*) AS customers FROM {{segments}} "
        "GROUP BY 1 ORDER BY 2 DESC",
    )


def _segment_label(snap: Snapshot) -> str:
    cols = columns(snap, "segments")
    return next((c for c in ("segment_name", "segment_label", "segment", "segment_id") if c in cols), cols[1])


# --- churn -----------------------------------------------------------------------------------------------


def risk_histogram(snap: Snapshot, bins: int = 20) -> pd.DataFrame:
    """Customers per churn-probability bin (aggregated in SQL: the browser gets `bins` rows, not customers)."""
    if not snap.has("churn_scores"):
        return pd.DataFrame(columns=["low", "customers"])
    return _sql(
        snap,
        "SELECT least(floor(churn_probability * ?), ? - 1) / ? AS low, count(*) AS customers "
        "FROM {churn_scores} GROUP BY 1 ORDER BY 1",
        [bins, bins, bins],
    )


def filter_options(snap: Snapshot) -> dict[str, list[str]]:
    options: dict[str, list] = {"segment": [], "country": []}
    if snap.has("segments"):
        options["segment"] = segment_sizes(snap)["segment"].tolist()
    if "country" in columns(snap, "features"):
        options["country"] = _sql(
            snap, "SELECT DISTINCT CAST(country AS VARCHAR) AS c FROM {features} WHERE country IS NOT NULL ORDER BY 1"
        )["c"].tolist()
    return options


def _high_risk_query(snap: Snapshot, segment: str | None, country: str | None) -> tuple[str, list]:
    joins, where, params = [], ["s.churn_probability >= ?"], [HIGH_RISK_CUT]
    select = ["CAST(s.customer_id AS VARCHAR) AS customer_id", "s.churn_probability"]
    if "top_reasons" in columns(snap, "churn_scores"):
        select.append("array_to_string(s.top_reasons, '; ') AS reasons")
    if snap.has("segments"):
        joins.append("LEFT JOIN {segments} g ON CAST(g.customer_id AS VARCHAR) = CAST(s.customer_id AS VARCHAR)")
        select.append(f"CAST(g.{_segment_label(snap)} AS VARCHAR) AS segment")
        if segment:
            where.append(f"CAST(g.{_segment_label(snap)} AS VARCHAR) = ?")
            params.append(segment)
    if "country" in columns(snap, "features"):
        joins.append("LEFT JOIN {features} f ON CAST(f.customer_id AS VARCHAR) = CAST(s.customer_id AS VARCHAR)")
        select.append("CAST(f.country AS VARCHAR) AS country")
        if country:
            where.append("CAST(f.country AS VARCHAR) = ?")
            params.append(country)
    query = (
        f"SELECT {', '.join(select)} FROM {{churn_scores}} s {' '.join(joins)} "
        f"WHERE {' AND '.join(where)} ORDER BY s.churn_probability DESC, 1"
    )
    return query, params


def high_risk(
    snap: Snapshot, segment: str | None = None, country: str | None = None, page: int = 0, page_size: int = PAGE_SIZE
) -> tuple[pd.DataFrame, int]:
    """One page of the high-risk list and the number of matching customers."""
    if not snap.has("churn_scores"):
        return pd.DataFrame(), 0
    query, params = _high_risk_query(snap, segment, country)
    total = int(_sql(snap, f"SELECT count(*) AS n FROM ({query})", params).iloc[0]["n"])
    rows = _sql(snap, f"{query} LIMIT ? OFFSET ?", [*params, page_size, page * page_size])
    return rows, total


def high_risk_csv(snap: Snapshot, segment: str | None = None, country: str | None = None) -> bytes:
    """The whole filtered list as CSV, for the download button (the page passes a callable: built on click)."""
    if not snap.has("churn_scores"):
        return b""
    query, params = _high_risk_query(snap, segment, country)
    return _sql(snap, query, params).to_csv(index=False).encode()


# --- segments --------------------------------------------------------------------------------------------


def segment_profiles(snap: Snapshot) -> pd.DataFrame:
    """Mean of each numeric feature per segment (one row per segment)."""
    if not snap.has("segments"):
        return pd.DataFrame()
    numeric = _numeric_features(snap, limit=12)
    means = ", ".join(f'round(avg(f."{c}"), 2) AS "{c}"' for c in numeric)
    return _sql(
        snap,
        f"SELECT CAST(g.{_segment_label(snap)} AS VARCHAR) AS segment, count(*) AS customers, {means} "
        "FROM {segments} g JOIN {features} f "
        "ON CAST(f.customer_id AS VARCHAR) = CAST(g.customer_id AS VARCHAR) GROUP BY 1 ORDER BY 1",
    )


SCATTER_SAMPLE = 2000


def segment_scatter(snap: Snapshot, sample: int = SCATTER_SAMPLE) -> pd.DataFrame:
    """PCA of a fixed-size sample of customers, coloured by segment: x, y, segment (at most `sample` rows).

    Computed here in NumPy on the sample (signed log1p of every numeric feature, standardized, SVD): the
    browser gets `sample` points whatever the number of customers. `attrs["explained"]` holds the two
    components' shares of the sample's variance."""
    if not snap.has("segments"):
        return pd.DataFrame()
    numeric = _numeric_features(snap)
    if len(numeric) < 2:
        return pd.DataFrame()
    picked = ", ".join(f'f."{c}"' for c in numeric)
    rows = _sql(
        snap,
        f"SELECT CAST(g.{_segment_label(snap)} AS VARCHAR) AS segment, {picked} "
        "FROM {features} f JOIN {segments} g "
        "ON CAST(f.customer_id AS VARCHAR) = CAST(g.customer_id AS VARCHAR) "
        f"USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE (7)",
    )
    if len(rows) < 3:
        return pd.DataFrame()
    values = rows[numeric].astype(float).to_numpy()
    medians = np.nanmedian(values, axis=0)
    values = np.where(np.isnan(values), np.nan_to_num(medians), values)
    values = np.sign(values) * np.log1p(np.abs(values))
    spread = values.std(axis=0)
    values = values[:, spread > 0]
    if values.shape[1] < 2:
        return pd.DataFrame()
    values = (values - values.mean(axis=0)) / values.std(axis=0)
    _, singular, components = np.linalg.svd(values, full_matrices=False)
    points = values @ components[:2].T
    out = pd.DataFrame({"x": points[:, 0], "y": points[:, 1], "segment": rows["segment"].to_numpy()})
    out.attrs["explained"] = (singular[:2] ** 2 / (singular**2).sum()).tolist()
    return out


def _numeric_features(snap: Snapshot, limit: int | None = None) -> list[str]:
    numeric = [
        c
        for c, t in _sql(snap, "DESCRIBE SELECT * FROM {features}")[["column_name", "column_type"]].itertuples(
            index=False
        )
        if t in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "HUGEINT") and c != "customer_id"
    ]
    return numeric[:limit] if limit else numeric


def segment_history(snap: Snapshot) -> pd.DataFrame:
    """Customers per segment per as-of date (the published app_segment_history; empty when not published)."""
    if not snap.has("app_segment_history"):
        return pd.DataFrame(columns=["as_of_date", "segment", "customers"])
    return _sql(snap, "SELECT * FROM {app_segment_history} ORDER BY as_of_date, segment")


def segment_moves(snap: Snapshot) -> pd.DataFrame:
    """Customers per (previous segment, segment) between the two latest as-of dates (empty with one date)."""
    if not snap.has("app_segment_moves"):
        return pd.DataFrame(columns=["previous_as_of", "as_of_date", "from_segment", "to_segment", "customers"])
    return _sql(snap, "SELECT * FROM {app_segment_moves} ORDER BY from_segment, to_segment")


# --- one customer ----------------------------------------------------------------------------------------


def customer(snap: Snapshot, customer_id: str) -> dict | None:
    """Everything the snapshot knows about one customer, or None when the id is unknown."""

    def one(table: str) -> dict | None:
        if not snap.has(table):
            return None
        rows = _sql(snap, f"SELECT * FROM {{{table}}} WHERE CAST(customer_id AS VARCHAR) = ? LIMIT 1", [customer_id])
        return None if rows.empty else {k: _plain(v) for k, v in rows.iloc[0].items()}

    features = one("features")
    if features is None:
        return None
    recs = pd.DataFrame()
    if snap.has("recommendations"):
        if snap.has("app_products"):  # product names and categories beside the ids
            recs = _sql(
                snap,
                "SELECT r.rank, CAST(r.product_id AS VARCHAR) AS product_id, p.product_name, "
                "p.category, r.score, r.strategy FROM {recommendations} r "
                "LEFT JOIN {app_products} p ON p.product_id = CAST(r.product_id AS VARCHAR) "
                "WHERE CAST(r.customer_id AS VARCHAR) = ? ORDER BY r.rank LIMIT 20",
                [customer_id],
            )
        else:
            recs = _sql(
                snap,
                "SELECT * FROM {recommendations} WHERE CAST(customer_id AS VARCHAR) = ? ORDER BY rank LIMIT 20",
                [customer_id],
            )
    reviews = None  # None: this snapshot has no review table; empty: this customer wrote none
    if snap.has("app_reviews"):
        name = ", p.product_name" if snap.has("app_products") else ""
        join = "LEFT JOIN {app_products} p ON p.product_id = r.product_id " if snap.has("app_products") else ""
        reviews = _sql(
            snap,
            f"SELECT r.review_date, r.product_id{name}, r.rating, r.sentiment_label, "
            f"round(r.sentiment_score, 3) AS sentiment_score, r.review_text "
            f"FROM {{app_reviews}} r {join}WHERE r.customer_id = ? "
            "ORDER BY r.review_date DESC LIMIT 20",
            [customer_id],
        )
    return {
        "features": features,
        "churn": one("churn_scores"),
        "segment": one("segments"),
        "value": one("customer_value"),
        "recommendations": recs,
        "reviews": reviews,
    }


def _plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return None if value is pd.NaT else value


# --- products --------------------------------------------------------------------------------------------


def product_ids(snap: Snapshot, prefix: str = "", limit: int = 200) -> list[str]:
    if not snap.has("similar_products"):
        return []
    return _sql(
        snap,
        "SELECT DISTINCT CAST(product_id AS VARCHAR) AS p FROM {similar_products} "
        "WHERE CAST(product_id AS VARCHAR) LIKE ? ORDER BY 1 LIMIT ?",
        [f"{prefix}%", limit],
    )["p"].tolist()


def similar_products(snap: Snapshot, product_id: str, k: int = 10) -> pd.DataFrame:
    if not snap.has("similar_products"):
        return pd.DataFrame()
    return _sql(
        snap,
        "SELECT * FROM {similar_products} WHERE CAST(product_id AS VARCHAR) = ? ORDER BY rank LIMIT ?",
        [product_id, k],
    )


def product_label(snap: Snapshot, product_id: str) -> str:
    """'<id> - <name>' when the snapshot carries the catalogue, else the id."""
    if not snap.has("app_products"):
        return product_id
    rows = _sql(snap, "SELECT product_name FROM {app_products} WHERE product_id = ? LIMIT 1", [product_id])
    return f"{product_id} - {rows['product_name'][0]}" if not rows.empty else product_id


def product_sentiment(snap: Snapshot, product_id: str) -> tuple[dict | None, pd.DataFrame]:
    """(the product's latest review summary with aspects praised / criticized, its sentiment per review month)."""
    summary = None
    if snap.has("app_product_sentiment"):
        rows = _sql(snap, "SELECT * FROM {app_product_sentiment} WHERE product_id = ? LIMIT 1", [product_id])
        summary = None if rows.empty else {k: _plain(v) for k, v in rows.iloc[0].items()}
    monthly = pd.DataFrame(columns=["month", "reviews", "average_sentiment", "negative_share"])
    if snap.has("app_product_sentiment_monthly"):
        monthly = _sql(
            snap,
            "SELECT month, reviews, average_sentiment, negative_share "
            "FROM {app_product_sentiment_monthly} WHERE product_id = ? ORDER BY month",
            [product_id],
        )
    return summary, monthly


def topics(snap: Snapshot) -> pd.DataFrame:
    if not snap.has("app_topics"):
        return pd.DataFrame(columns=["topic_id", "label", "top_terms", "size"])
    return _sql(snap, "SELECT * FROM {app_topics} ORDER BY size DESC")


def drift(snap: Snapshot) -> pd.DataFrame:
    """PSI per feature per as-of date (the published app_drift; empty when not published)."""
    if not snap.has("app_drift"):
        return pd.DataFrame(columns=["as_of_date", "feature", "psi", "status"])
    return _sql(snap, "SELECT * FROM {app_drift} ORDER BY as_of_date, feature")


# --- models (MLflow, read-only) ----------------------------------------------------------------------------


def champions(tracking_uri: str, artifact_root: Path) -> pd.DataFrame:
    """Each registered model's champion version and its metrics (baseline metrics beside them when logged)."""
    models = _registry(tracking_uri, artifact_root)
    if models is None:
        return pd.DataFrame(columns=["model", "version", "metric", "champion", "baseline"])
    rows = []
    for name in MODEL_NAMES:
        version = models.champion_version(name)
        if version is None:
            continue
        metrics = models.version_metrics(name, version)
        own = {k: v for k, v in metrics.items() if "." not in k}
        for metric, value in sorted(own.items()):
            rows.append(
                {
                    "model": name,
                    "version": version,
                    "metric": metric,
                    "champion": value,
                    "baseline": metrics.get(f"baseline.{metric}"),
                }
            )
    return pd.DataFrame(rows, columns=["model", "version", "metric", "champion", "baseline"])


def manifest_text(snap: Snapshot) -> str:
    return json.dumps(snap.manifest, indent=2, default=str)


def _registry(tracking_uri: str, artifact_root: Path):
    """The home's ModelRegistry, or None when there is none (never creates a database)."""
    from customer_assets.mlops.registry import ModelRegistry

    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        return None
    return ModelRegistry(tracking_uri, artifact_root)


PROMOTION_COLUMNS = ["model", "started", "version", "champion_now", "registered", "decision", "run_id"]


def promotion_history(tracking_uri: str, artifact_root: Path, per_model: int = 20) -> pd.DataFrame:
    """Each model's latest training runs (newest first): the version it registered, whether that version is
    the champion now, and the promotion decision with its reason (the run's `decision` tag). Read-only."""
    models = _registry(tracking_uri, artifact_root)
    if models is None:
        return pd.DataFrame(columns=PROMOTION_COLUMNS)
    client = models.client
    rows = []
    for name in MODEL_NAMES:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            continue
        versions = {v.run_id: int(v.version) for v in client.search_model_versions(f"name = '{name}'")}
        champion = models.champion_version(name)
        runs = client.search_runs(
            [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=per_model
        )
        for run in runs:
            decision = run.data.tags.get("decision")
            if decision is None:
                continue  # plot-only runs (e.g. scored-table history) decide nothing
            version = versions.get(run.info.run_id)
            rows.append(
                {
                    "model": name,
                    "started": pd.to_datetime(run.info.start_time, unit="ms", utc=True),
                    "version": version,
                    "champion_now": version is not None and version == champion,
                    "registered": version is not None,
                    "decision": decision,
                    "run_id": run.info.run_id,
                }
            )
    return pd.DataFrame(rows, columns=PROMOTION_COLUMNS)


def champion_plot(tracking_uri: str, artifact_root: Path, model: str, artifact: str) -> tuple[bytes, int] | None:
    """(PNG bytes, version) of a plot the champion's training run logged under plots/, or None."""
    models = _registry(tracking_uri, artifact_root)
    if models is None:
        return None
    client = models.client
    version = models.champion_version(model)
    if version is None:
        return None
    run_id = client.get_model_version(model, str(version)).run_id
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, f"plots/{artifact}", tmp)
        except Exception:  # noqa: BLE001 - not logged by this run (older version, plots off)
            return None
        return Path(local).read_bytes(), version


def latest_run(home: Path) -> dict | None:
    """What `make run` wrote last (`<home>/runs/latest.json`: jobs, checks, failed and degraded steps), or None."""
    path = Path(home) / RUN_SUMMARY
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
