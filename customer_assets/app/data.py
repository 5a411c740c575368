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
import pandas as pd

from customer_assets.serving import snapshot as snapshots
from customer_assets.serving.state import HIGH_RISK_CUT, MODEL_NAMES

PAGE_SIZE = 50
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
    result = {"customers": int(row["customers"]),
              "active_share": None if pd.isna(row["active_share"]) else float(row["active_share"]),
              "churn_rate": None, "high_risk": None, "value_at_risk": None}
    if snap.has("churn_scores"):
        churn = _sql(snap, "SELECT avg(churn_probability) AS rate, "
                           "sum(CASE WHEN churn_probability >= ? THEN 1 ELSE 0 END) AS high FROM {churn_scores}",
                     [HIGH_RISK_CUT]).iloc[0]
        result["churn_rate"], result["high_risk"] = float(churn["rate"]), int(churn["high"])
    if snap.has("retention_targets") and "value_at_risk" in columns(snap, "retention_targets"):
        result["value_at_risk"] = float(_sql(snap, "SELECT sum(value_at_risk) AS v "
                                                   "FROM {retention_targets}").iloc[0]["v"] or 0.0)
    return result


def segment_sizes(snap: Snapshot) -> pd.DataFrame:
    if not snap.has("segments"):
        return pd.DataFrame(columns=["segment", "customers"])
    label = _segment_label(snap)
    return _sql(snap, f"SELECT CAST({label} AS VARCHAR) AS segment, count(*) AS customers FROM {{segments}} "
                      "GROUP BY 1 ORDER BY 2 DESC")


def _segment_label(snap: Snapshot) -> str:
    cols = columns(snap, "segments")
    return next((c for c in ("segment_name", "segment_label", "segment", "segment_id") if c in cols), cols[1])


# --- churn -----------------------------------------------------------------------------------------------


def risk_histogram(snap: Snapshot, bins: int = 20) -> pd.DataFrame:
    """Customers per churn-probability bin (aggregated in SQL: the browser gets `bins` rows, not customers)."""
    if not snap.has("churn_scores"):
        return pd.DataFrame(columns=["low", "customers"])
    return _sql(snap, "SELECT least(floor(churn_probability * ?), ? - 1) / ? AS low, count(*) AS customers "
                      "FROM {churn_scores} GROUP BY 1 ORDER BY 1", [bins, bins, bins])


def filter_options(snap: Snapshot) -> dict[str, list[str]]:
    options = {"segment": [], "country": []}
    if snap.has("segments"):
        options["segment"] = segment_sizes(snap)["segment"].tolist()
    if "country" in columns(snap, "features"):
        options["country"] = _sql(snap, "SELECT DISTINCT CAST(country AS VARCHAR) AS c FROM {features} "
                                        "WHERE country IS NOT NULL ORDER BY 1")["c"].tolist()
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
    query = (f"SELECT {', '.join(select)} FROM {{churn_scores}} s {' '.join(joins)} "
             f"WHERE {' AND '.join(where)} ORDER BY s.churn_probability DESC, 1")
    return query, params


def high_risk(snap: Snapshot, segment: str | None = None, country: str | None = None,
              page: int = 0, page_size: int = PAGE_SIZE) -> tuple[pd.DataFrame, int]:
    """One page of the high-risk list and the number of matching customers."""
    if not snap.has("churn_scores"):
        return pd.DataFrame(), 0
    query, params = _high_risk_query(snap, segment, country)
    total = int(_sql(snap, f"SELECT count(*) AS n FROM ({query})", params).iloc[0]["n"])
    rows = _sql(snap, f"{query} LIMIT ? OFFSET ?", [*params, page_size, page * page_size])
    return rows, total


def high_risk_csv(snap: Snapshot, segment: str | None = None, country: str | None = None) -> bytes:
    """The whole filtered list as CSV, for the download button (built on click, not sent with the page)."""
    if not snap.has("churn_scores"):
        return b""
    query, params = _high_risk_query(snap, segment, country)
    return _sql(snap, query, params).to_csv(index=False).encode()


# --- segments --------------------------------------------------------------------------------------------


def segment_profiles(snap: Snapshot) -> pd.DataFrame:
    """Mean of each numeric feature per segment (one row per segment)."""
    if not snap.has("segments"):
        return pd.DataFrame()
    numeric = [c for c, t in _sql(snap, "DESCRIBE SELECT * FROM {features}")[["column_name", "column_type"]]
               .itertuples(index=False) if t in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "HUGEINT")
               and c != "customer_id"][:12]
    means = ", ".join(f'round(avg(f."{c}"), 2) AS "{c}"' for c in numeric)
    return _sql(snap, f"SELECT CAST(g.{_segment_label(snap)} AS VARCHAR) AS segment, count(*) AS customers, {means} "
                      "FROM {segments} g JOIN {features} f "
                      "ON CAST(f.customer_id AS VARCHAR) = CAST(g.customer_id AS VARCHAR) GROUP BY 1 ORDER BY 1")


def segment_scatter(snap: Snapshot, sample: int = 2000) -> pd.DataFrame:
    """A fixed-size sample of customers with their 2-D coordinates, when the segmentation published them."""
    cols = columns(snap, "segments")
    pair = next(((x, y) for x, y in (("pca_1", "pca_2"), ("pc1", "pc2"), ("tsne_1", "tsne_2"), ("x", "y"))
                 if x in cols and y in cols), None)
    if pair is None:
        return pd.DataFrame()
    return _sql(snap, f"SELECT {pair[0]} AS x, {pair[1]} AS y, CAST({_segment_label(snap)} AS VARCHAR) AS segment "
                      f"FROM {{segments}} USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE (7)")


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
        recs = _sql(snap, "SELECT * FROM {recommendations} WHERE CAST(customer_id AS VARCHAR) = ? "
                          "ORDER BY rank LIMIT 20", [customer_id])
    return {"features": features, "churn": one("churn_scores"), "segment": one("segments"),
            "value": one("customer_value"), "recommendations": recs}


def _plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return None if value is pd.NaT else value


# --- products --------------------------------------------------------------------------------------------


def product_ids(snap: Snapshot, prefix: str = "", limit: int = 200) -> list[str]:
    if not snap.has("similar_products"):
        return []
    return _sql(snap, "SELECT DISTINCT CAST(product_id AS VARCHAR) AS p FROM {similar_products} "
                      "WHERE CAST(product_id AS VARCHAR) LIKE ? ORDER BY 1 LIMIT ?", [f"{prefix}%", limit])["p"].tolist()


def similar_products(snap: Snapshot, product_id: str, k: int = 10) -> pd.DataFrame:
    if not snap.has("similar_products"):
        return pd.DataFrame()
    return _sql(snap, "SELECT * FROM {similar_products} WHERE CAST(product_id AS VARCHAR) = ? ORDER BY rank LIMIT ?",
                [product_id, k])


# --- models (MLflow, read-only) ----------------------------------------------------------------------------


def champions(tracking_uri: str, artifact_root: Path) -> pd.DataFrame:
    """Each registered model's champion version and its metrics (baseline metrics beside them when logged)."""
    from customer_assets.mlops import registry

    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        return pd.DataFrame(columns=["model", "version", "metric", "champion", "baseline"])  # never create one
    registry.configure(tracking_uri, artifact_root)
    rows = []
    for name in MODEL_NAMES:
        version = registry.champion_version(name)
        if version is None:
            continue
        metrics = registry.version_metrics(name, version)
        own = {k: v for k, v in metrics.items() if "." not in k}
        for metric, value in sorted(own.items()):
            rows.append({"model": name, "version": version, "metric": metric, "champion": value,
                         "baseline": metrics.get(f"baseline.{metric}")})
    return pd.DataFrame(rows, columns=["model", "version", "metric", "champion", "baseline"])


def manifest_text(snap: Snapshot) -> str:
    return json.dumps(snap.manifest, indent=2, default=str)
