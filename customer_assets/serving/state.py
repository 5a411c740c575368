"""The live service's state: the online snapshot and the champion models, loaded and swapped atomically.

Pure Python (no BentoML, no Dagster), so it is tested without HTTP. `StateLoader.refresh()` looks at the
snapshot's `current` pointer and each model's `champion` alias; when either moved it builds a complete new
`ServingState` (reusing the parts that did not change) and only then replaces the one reference requests
read, so a request sees either the old state or the new one, never a mix, and never waits for a load.

Scoring reuses the model libraries' own functions on the champion objects from the MLflow registry:
`ChurnModel.explain` (calibrated P(churn), risk level, top reasons), `SegmentModel.assign`,
`Recommender.recommend` / `.similar_products` (cold start built in), `SentimentModel.predict` and
`ValueModel.score` (customer_assets.serving.value: value by id or purchase summary, the retention worklist).
When a state is built, the churn and segmentation champions score every snapshot customer in one batch
(one TreeSHAP call over all rows costs about what one single-row call does), so a request by id is a lookup
of what the loaded champion computed from the snapshot's features; a request with a feature payload is
scored on the spot. Recommendations and similar products come from the snapshot when it was computed by the
loaded champion (same model version) and are computed live otherwise (or when k exceeds the published depth).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import pickle
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from customer_assets.config import serve_settings
from customer_assets.serving import snapshot as snapshots

logger = logging.getLogger(__name__)

CHURN = "churn_model"
SEGMENTATION = "customer_segmentation"
RECOMMENDER = "product_recommender"
SENTIMENT = "review_sentiment"
VALUE = "customer_value_model"
MODEL_NAMES = (CHURN, SEGMENTATION, RECOMMENDER, SENTIMENT, VALUE)
ID = "customer_id"
MAX_K = 100
HIGH_RISK_CUT = 0.5
MAX_ABS_FEATURE = 1e12
COLD_START_PREFIX = "\x00cold-start:"


class RequestError(Exception):
    """A request the service cannot answer as asked: `status` is the HTTP status, `field` names the input."""

    def __init__(self, status: int, field: str | None, message: str):
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message

    def body(self) -> dict:
        prefix = f"{self.field}: " if self.field else ""
        return {"error": prefix + self.message, "field": self.field}


# --- models ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Champion:
    name: str
    version: int
    model: Any
    metrics: dict[str, float] = field(default_factory=dict)
    trained_at: str | None = None
    run_id: str | None = None
    loaded_at: str | None = None

    def describe(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "metrics": self.metrics,
            "trained_at": self.trained_at,
            "run_id": self.run_id,
            "loaded_at": self.loaded_at,
        }

    def holdout_metrics(self) -> dict[str, float]:
        """The registered run's own holdout metrics (top-level names; cv./baseline./holdout. prefixes left out)."""
        return {
            k: v for k, v in self.metrics.items() if "." not in k and isinstance(v, (int, float)) and math.isfinite(v)
        }


class ModelSource(Protocol):
    def champion_versions(self, names: tuple[str, ...]) -> dict[str, int | None]: ...

    def load(self, name: str, version: int) -> Champion: ...


class MlflowModelSource:
    """Champions from the MLflow registry by alias (`models:/<name>@champion` resolves to a version number,
    which is then loaded as `models:/<name>/<version>` so the object always matches the version reported)."""

    def __init__(self, tracking_uri: str, artifact_root: Path):
        from customer_assets.mlops import registry

        registry.configure(tracking_uri, artifact_root)
        self._registry = registry

    def champion_versions(self, names: tuple[str, ...]) -> dict[str, int | None]:
        return {name: self._registry.champion_version(name) for name in names}

    def load(self, name: str, version: int) -> Champion:
        import mlflow
        from mlflow.tracking import MlflowClient

        local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}"))
        try:
            model = pickle.loads(next(local.rglob("model.pkl")).read_bytes())
        except StopIteration as error:
            raise RuntimeError(f"{name} v{version}: no model.pkl in its MLflow artifacts") from error
        details = MlflowClient().get_model_version(name, str(version))
        created = details.creation_timestamp
        return Champion(
            name=name,
            version=int(version),
            model=model,
            metrics=self._registry.version_metrics(name, int(version)),
            trained_at=(
                dt.datetime.fromtimestamp(created / 1000, dt.timezone.utc).isoformat(timespec="seconds")
                if created
                else None
            ),
            run_id=details.run_id,
            loaded_at=_now(),
        )


class LazyMlflowModelSource:
    """`MlflowModelSource` created on first use: importing MLflow takes seconds, so a service builds this in
    its constructor and the import happens in the poller thread while the HTTP server is already answering."""

    def __init__(self, tracking_uri: str, artifact_root: Path):
        self._args = (tracking_uri, artifact_root)
        self._source: MlflowModelSource | None = None

    def _get(self) -> MlflowModelSource:
        if self._source is None:
            self._source = MlflowModelSource(*self._args)
        return self._source

    def champion_versions(self, names: tuple[str, ...]) -> dict[str, int | None]:
        return self._get().champion_versions(names)

    def load(self, name: str, version: int) -> Champion:
        return self._get().load(name, version)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# --- snapshot -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotData:
    version: str
    manifest: dict
    features: pl.DataFrame
    rows: dict[str, int]
    countries: dict[str, str | None]
    recommendations: dict[str, list[tuple[str, float]]]
    recommendations_version: int | None
    recommendations_depth: int
    recommendation_strategies: dict[str, str]
    similar: dict[str, list[tuple[str, float]]]
    similar_version: int | None
    similar_depth: int
    purchases: dict[str, frozenset[str]]
    churn_rate: float | None
    created_at: dt.datetime | None
    value: pl.DataFrame | None = None  # marts.customer_value (customer_assets.serving.value reads it)
    value_index: dict[str, int] = field(default_factory=dict)
    targets: pl.DataFrame | None = None  # marts.retention_targets, ranked

    @property
    def as_of(self) -> str:
        return self.manifest.get("as_of")

    def age_seconds(self, now: dt.datetime | None = None) -> float | None:
        if self.created_at is None:
            return None
        return ((now or dt.datetime.now(dt.timezone.utc)) - self.created_at).total_seconds()


def _grouped(frame: pl.DataFrame | None, key: str, item: str) -> dict[str, list[tuple[str, float]]]:
    if frame is None or frame.is_empty():
        return {}
    ordered = frame.sort(key, "rank")
    out: dict[str, list[tuple[str, float]]] = {}
    for k, i, s in zip(
        ordered[key].cast(pl.String).to_list(),
        ordered[item].cast(pl.String).to_list(),
        ordered["score"].cast(pl.Float64).to_list(),
    ):
        out.setdefault(k, []).append((i, s))
    return out


def _single_version(frame: pl.DataFrame | None) -> int | None:
    if frame is None or "model_version" not in frame.columns:
        return None
    versions = frame["model_version"].drop_nulls().unique().to_list()
    return int(versions[0]) if len(versions) == 1 else None


def load_snapshot(online_dir: Path, version: str | None = None) -> SnapshotData:
    version, manifest, frames = snapshots.read_snapshot(online_dir, version)
    features = frames["features"].with_columns(pl.col(ID).cast(pl.String))
    recs = frames.get("recommendations")
    similar = frames.get("similar_products")
    purchases: dict[str, set] = {}
    if "purchases" in frames:
        for cid, pid in (
            frames["purchases"].select(pl.col(ID).cast(pl.String), pl.col("product_id").cast(pl.String)).iter_rows()
        ):
            purchases.setdefault(cid, set()).add(pid)
    scores = frames.get("churn_scores")
    churn_rate = (
        float((scores["churn_probability"] >= HIGH_RISK_CUT).mean()) if scores is not None and scores.height else None
    )
    created = manifest.get("created_at")
    strategies = {}
    if recs is not None and "strategy" in recs.columns and recs.height:
        strategies = dict(
            recs.group_by(ID).agg(pl.col("strategy").first()).select(pl.col(ID).cast(pl.String), "strategy").iter_rows()
        )
    return SnapshotData(
        version=version,
        manifest=manifest,
        features=features,
        rows={name: frame.height for name, frame in frames.items()},
        countries=(
            dict(features.select(ID, pl.col("country").cast(pl.String)).iter_rows())
            if "country" in features.columns
            else {}
        ),
        recommendations=_grouped(recs, ID, "product_id"),
        recommendations_version=_single_version(recs),
        recommendations_depth=int(recs.group_by(ID).len()["len"].min()) if recs is not None and recs.height else 0,
        recommendation_strategies=strategies,
        similar=_grouped(similar, "product_id", "similar_product_id"),
        similar_version=_single_version(similar),
        similar_depth=(
            int(similar.group_by("product_id").len()["len"].min()) if similar is not None and similar.height else 0
        ),
        purchases={k: frozenset(v) for k, v in purchases.items()},
        churn_rate=churn_rate,
        created_at=dt.datetime.fromisoformat(created) if created else None,
        value=frames.get("customer_value"),
        value_index=(
            {cid: i for i, cid in enumerate(frames["customer_value"][ID].cast(pl.String).to_list())}
            if "customer_value" in frames
            else {}
        ),
        targets=frames["retention_targets"].sort("rank") if "retention_targets" in frames else None,
    )


# --- per-state precomputation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChurnResult:
    customer_id: str | None
    churn_probability: float
    risk_level: str
    top_reasons: list[str]
    model_version: int
    as_of: str | None = None

    def as_dict(self) -> dict:
        return {
            "customer_id": self.customer_id,
            "churn_probability": self.churn_probability,
            "risk_level": self.risk_level,
            "top_reasons": list(self.top_reasons),
            "model_version": self.model_version,
            "as_of": self.as_of,
        }


def score_churn(champion: Champion, frame: pl.DataFrame, as_of: str | None = None) -> list[ChurnResult]:
    """The churn library's explain (P(churn), risk level, top-3 reasons) for every row of `frame`."""
    explained = champion.model.explain(frame, top_k=3)
    ids = frame[ID].cast(pl.String).to_list() if ID in frame.columns else [None] * frame.height
    return [
        ChurnResult(cid, float(p), str(level), list(reasons or []), champion.version, as_of)
        for cid, p, level, reasons in zip(
            ids,
            explained["churn_probability"].to_list(),
            explained["risk_level"].to_list(),
            explained["top_reasons"].to_list(),
        )
    ]


def assign_segments(champion: Champion, frame: pl.DataFrame) -> list[dict]:
    labels = champion.model.assign(frame, ID)
    return [
        {"customer_id": cid, "segment_id": int(sid), "segment_name": name, "model_version": champion.version}
        for cid, sid, name in zip(
            labels[ID].cast(pl.String).to_list(), labels["segment_id"].to_list(), labels["segment_name"].to_list()
        )
    ]


def cold_start_lists(champion: Champion, countries: dict[str, str | None]) -> dict[str | None, list[tuple[str, float]]]:
    """The recommender's own cold start for a customer it does not know: the popular list of the customer's
    country (learnt from the purchases of the snapshot's customers of that country, as the
    product_recommendations asset does), else the global one; computed once per country with one placeholder
    customer each. `countries` maps the snapshot's customers to their country."""
    names = sorted({c for c in countries.values() if c})
    ids = [COLD_START_PREFIX + c for c in names] + [COLD_START_PREFIX]
    # The global placeholder has no group: the library gives customers outside `groups` the global list.
    groups = pl.DataFrame(
        {"customer_id": [*countries, *ids[:-1]], "group": [*countries.values(), *names]},
        schema={"customer_id": pl.String, "group": pl.String},
    )
    recs = champion.model.recommend(
        pl.Series(ids, dtype=pl.String), k=MAX_K, exclude_seen=False, groups=groups if names else None
    )
    by_id = _grouped(recs.with_columns(pl.col("product_id").cast(pl.String)), "customer_id", "product_id")
    lists = {name: by_id.get(COLD_START_PREFIX + name, []) for name in names}
    lists[None] = by_id.get(COLD_START_PREFIX, [])
    return lists


@dataclass(frozen=True)
class ServingState:
    snapshot: SnapshotData | None = None
    champions: dict[str, Champion] = field(default_factory=dict)
    churn_by_id: dict[str, ChurnResult] = field(default_factory=dict)
    segment_by_id: dict[str, dict] = field(default_factory=dict)
    feature_rows: dict[str, int] = field(default_factory=dict)
    cold_start: dict[str | None, list[tuple[str, float]]] = field(default_factory=dict)
    feature_rules: dict[str, tuple[float, float]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    build_problems: dict[str, str] = field(default_factory=dict)
    built_at: float = 0.0

    @property
    def key(self) -> tuple:
        return (
            self.snapshot.version if self.snapshot else None,
            tuple(sorted((n, c.version) for n, c in self.champions.items())),
        )

    def missing(self, required: tuple[str, ...]) -> list[str]:
        """What keeps the state from serving: no snapshot, a required champion not loaded, or one that
        cannot score the snapshot (e.g. it needs a column the snapshot lacks)."""
        out = [] if self.snapshot else ["online snapshot"]
        return out + [name for name in required if name not in self.champions or name in self.build_problems]

    def champion(self, name: str) -> Champion:
        found = self.champions.get(name)
        if found is None:
            raise RequestError(
                503,
                None,
                f"no `{name}` champion is loaded" + (f" ({self.problems[name]})" if name in self.problems else ""),
            )
        return found

    def require_snapshot(self) -> SnapshotData:
        if self.snapshot is None:
            raise RequestError(
                503,
                None,
                "no online snapshot is loaded yet"
                + (f" ({self.problems['snapshot']})" if "snapshot" in self.problems else ""),
            )
        return self.snapshot

    # --- churn ------------------------------------------------------------------------------------------

    def churn_by_customer(self, customer_id: str, field_name: str = "customer_id") -> ChurnResult:
        self.champion(CHURN)
        self.require_snapshot()
        found = self.churn_by_id.get(customer_id)
        if found is None:
            if CHURN in self.problems:
                raise RequestError(503, None, f"churn scores unavailable: {self.problems[CHURN]}")
            raise RequestError(
                404,
                field_name,
                f"unknown customer {customer_id!r} (not in online snapshot "
                f"{self.snapshot.version}, as of {self.snapshot.as_of})",
            )
        return found

    def churn_from_features(self, payloads: list[dict], field_prefix: str = "features") -> list[ChurnResult]:
        champion = self.champion(CHURN)
        preparer = champion.model.preparer
        frame = self._feature_frame(
            payloads, list(preparer.input_numeric_columns), list(preparer.categorical_levels), field_prefix
        )
        return score_churn(champion, frame)

    # --- segments ---------------------------------------------------------------------------------------

    def segment_by_customer(self, customer_id: str) -> dict:
        self.champion(SEGMENTATION)
        snap = self.require_snapshot()
        found = self.segment_by_id.get(customer_id)
        if found is None:
            if SEGMENTATION in self.problems:
                raise RequestError(503, None, f"segments unavailable: {self.problems[SEGMENTATION]}")
            raise RequestError(
                404, "customer_id", f"unknown customer {customer_id!r} (not in online snapshot {snap.version})"
            )
        return found

    def segment_from_features(self, payload: dict, customer_id: str | None) -> dict:
        champion = self.champion(SEGMENTATION)
        frame = self._feature_frame(
            [payload], list(champion.model.feature_columns), [], "features", customer_ids=[customer_id]
        )
        result = assign_segments(champion, frame)[0]
        return {**result, "customer_id": customer_id}

    # --- recommendations --------------------------------------------------------------------------------

    def recommend(self, customer_id: str, k: int, country: str | None = None) -> dict:
        champion = self.champion(RECOMMENDER)
        snap = self.require_snapshot()
        model = champion.model
        stored = snap.recommendations.get(customer_id)
        if stored is not None and snap.recommendations_version == champion.version and k <= len(stored):
            items, source = stored[:k], "snapshot"
            strategy = snap.recommendation_strategies.get(customer_id, "hybrid")
        elif model.customers.lookup(pl.Series([customer_id], dtype=pl.String))[0] >= 0:
            bought = snap.purchases.get(customer_id, frozenset())
            # Purchases after the model's training (in the snapshot) are excluded by the library itself.
            exclude = pl.DataFrame(
                {"customer_id": [customer_id] * len(bought), "product_id": sorted(bought)},
                schema={"customer_id": pl.String, "product_id": pl.String},
            )
            recs = model.recommend(
                pl.Series([customer_id], dtype=pl.String),
                k=k,
                exclude_seen=True,
                also_exclude=exclude if bought else None,
            )
            items = [(str(p), float(s)) for p, s in zip(recs["product_id"].to_list(), recs["score"].to_list())]
            source = "model"
            strategy = recs["strategy"][0] if recs.height else "popular"
        else:
            group = country or snap.countries.get(customer_id)
            bought = snap.purchases.get(customer_id, frozenset())
            popular = self.cold_start.get(group) or self.cold_start.get(None, [])
            items, source, strategy = [p for p in popular if p[0] not in bought][:k], "cold_start", "popular"
        return {
            "customer_id": customer_id,
            "k": k,
            "source": source,
            "strategy": strategy,
            "known_customer": customer_id in self.feature_rows,
            "items": [{"rank": i + 1, "product_id": p, "score": s} for i, (p, s) in enumerate(items)],
            "model_version": champion.version,
        }

    def similar_products(self, product_id: str, k: int) -> dict:
        champion = self.champion(RECOMMENDER)
        snap = self.require_snapshot()
        stored = snap.similar.get(product_id)
        if stored is not None and snap.similar_version == champion.version and k <= len(stored):
            items, source = stored[:k], "snapshot"
        else:
            if champion.model.items.lookup(pl.Series([product_id], dtype=pl.String))[0] < 0:
                raise RequestError(
                    404,
                    "product_id",
                    f"unknown product {product_id!r} (not in the catalog of {RECOMMENDER} v{champion.version})",
                )
            frame = champion.model.similar_products(pl.Series([product_id], dtype=pl.String), k=k)
            items = [
                (str(p), float(s)) for p, s in zip(frame["similar_product_id"].to_list(), frame["score"].to_list())
            ]
            source = "model"
        return {
            "product_id": product_id,
            "k": k,
            "source": source,
            "items": [{"rank": i + 1, "product_id": p, "score": s} for i, (p, s) in enumerate(items)],
            "model_version": champion.version,
        }

    # --- sentiment --------------------------------------------------------------------------------------

    def sentiment(self, texts: list[str]) -> dict:
        champion = self.champion(SENTIMENT)
        series = pl.Series("text", texts, dtype=pl.String)
        scored = champion.model.predict(series)
        has_words = series.fill_null("").str.contains(r"\p{L}").to_list()
        predictions = []
        for i, (label, score, words) in enumerate(
            zip(scored["sentiment_label"].to_list(), scored["sentiment_score"].to_list(), has_words)
        ):
            predictions.append(
                {
                    "index": i,
                    "label": label if words else None,
                    "score": float(score) if words and score is not None else None,
                }
            )
        return {"predictions": predictions, "model_version": champion.version}

    # --- feature payloads -------------------------------------------------------------------------------

    def _feature_frame(
        self,
        payloads: list[dict],
        numeric: list[str],
        categorical: list[str],
        prefix: str,
        customer_ids: list | None = None,
    ) -> pl.DataFrame:
        """A typed frame from JSON feature payloads; every problem is a 400 naming the field."""
        expected = set(numeric) | set(categorical)
        rows_numeric: dict[str, list] = {c: [] for c in numeric}
        rows_categorical: dict[str, list] = {c: [] for c in categorical}
        for index, payload in enumerate(payloads):
            where = prefix.replace("{i}", str(index))
            if not isinstance(payload, dict):
                raise RequestError(400, where, "must be an object of feature name -> value")
            unknown = sorted(set(payload) - expected)
            if unknown:
                raise RequestError(
                    400, f"{where}.{unknown[0]}", f"unknown feature (the model uses: {', '.join(sorted(expected))})"
                )
            missing = sorted(expected - set(payload))
            if missing:
                raise RequestError(
                    400,
                    f"{where}.{missing[0]}",
                    f"missing feature{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                    "(send null for an unknown value)",
                )
            for column in numeric:
                value = payload[column]
                name = f"{where}.{column}"
                if value is None:
                    rows_numeric[column].append(None)
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise RequestError(400, name, f"must be a number or null, got {type(value).__name__}")
                value = float(value)
                if not math.isfinite(value) or abs(value) > MAX_ABS_FEATURE:
                    raise RequestError(400, name, f"out of range: {value}")
                low, high = self.feature_rules.get(column, (-math.inf, math.inf))
                if not low <= value <= high:
                    raise RequestError(400, name, f"out of range: {value} (allowed {low} to {high})")
                rows_numeric[column].append(value)
            for column in categorical:
                value = payload[column]
                if value is not None and not isinstance(value, str):
                    raise RequestError(
                        400, f"{where}.{column}", f"must be a string or null, got {type(value).__name__}"
                    )
                rows_categorical[column].append(value)
        data = {ID: pl.Series(ID, customer_ids if customer_ids else [None] * len(payloads), dtype=pl.String)}
        data.update({c: pl.Series(c, v, dtype=pl.Float64) for c, v in rows_numeric.items()})
        data.update({c: pl.Series(c, v, dtype=pl.String) for c, v in rows_categorical.items()})
        return pl.DataFrame(data)


def feature_rules(features: pl.DataFrame) -> dict[str, tuple[float, float]]:
    """Allowed range per numeric feature: never negative where the snapshot holds no negative value, and rates
    (`*_rate`) within [0, 1] where the snapshot's are."""
    rules = {}
    for column, dtype in features.schema.items():
        if column == ID or not dtype.is_numeric():
            continue
        values = features[column].cast(pl.Float64).drop_nulls().drop_nans()
        if values.is_empty():
            continue
        low = 0.0 if values.min() >= 0 else -math.inf
        high = 1.0 if column.endswith("_rate") and values.max() <= 1 else math.inf
        rules[column] = (low, high)
    return rules


# --- building and swapping ------------------------------------------------------------------------------


def build_state(
    snapshot: SnapshotData | None, champions: dict[str, Champion], problems: dict[str, str] | None = None
) -> ServingState:
    """A complete state: per-customer churn scores and segments computed by the champions from the snapshot's
    features, cold-start lists, input rules. Failures of one part are recorded, not raised."""
    load_problems = dict(problems or {})
    problems = {}
    churn_by_id, segment_by_id, feature_rows, cold, rules = {}, {}, {}, {}, {}
    if snapshot is not None:
        features = snapshot.features
        feature_rows = {cid: i for i, cid in enumerate(features[ID].to_list())}
        rules = feature_rules(features)
        if CHURN in champions:
            try:
                results = score_churn(champions[CHURN], features, snapshot.as_of)
                churn_by_id = {r.customer_id: r for r in results}
            except Exception as error:  # e.g. the champion needs a column the snapshot lacks
                problems[CHURN] = (
                    f"{CHURN} v{champions[CHURN].version} cannot score snapshot {snapshot.version}: {error}"
                )
                logger.exception("churn scoring of the snapshot failed")
        if SEGMENTATION in champions:
            try:
                segment_by_id = {r["customer_id"]: r for r in assign_segments(champions[SEGMENTATION], features)}
            except Exception as error:
                problems[SEGMENTATION] = (
                    f"{SEGMENTATION} v{champions[SEGMENTATION].version} cannot segment "
                    f"snapshot {snapshot.version}: {error}"
                )
                logger.exception("segment assignment of the snapshot failed")
    if RECOMMENDER in champions:
        try:
            cold = cold_start_lists(champions[RECOMMENDER], snapshot.countries if snapshot is not None else {})
        except Exception as error:
            problems[RECOMMENDER] = f"cold start lists failed: {error}"
            logger.exception("cold start lists failed")
    return ServingState(
        snapshot=snapshot,
        champions=dict(champions),
        churn_by_id=churn_by_id,
        segment_by_id=segment_by_id,
        feature_rows=feature_rows,
        cold_start=cold,
        feature_rules=rules,
        problems={**problems, **load_problems},
        build_problems=problems,
        built_at=time.time(),
    )


class StateLoader:
    """Holds the current `ServingState`; `refresh()` builds a new one when the snapshot or a champion moved."""

    def __init__(self, online_dir: Path, source: ModelSource, models: tuple[str, ...] = MODEL_NAMES):
        self.online_dir = Path(online_dir)
        self.source = source
        self.models = tuple(models)
        self.state = ServingState()
        self.last_error: str | None = None
        self.refreshes = 0
        self._lock = threading.Lock()

    def observe(self) -> tuple[str | None, dict[str, int | None]]:
        return snapshots.current_version(self.online_dir), self.source.champion_versions(self.models)

    def refresh(self) -> bool:
        """Load what changed; True when a new state was swapped in. Never raises: the old state keeps serving."""
        with self._lock:
            try:
                return self._refresh()
            except Exception as error:  # noqa: BLE001 - a failed refresh must not stop serving
                self.last_error = f"{type(error).__name__}: {error}"
                logger.exception("state refresh failed; the previous state keeps serving")
                return False

    def _refresh(self) -> bool:
        old = self.state
        version, wanted = self.observe()
        problems: dict[str, str] = {}
        snap = old.snapshot
        if version is None:
            problems["snapshot"] = f"no online snapshot in {self.online_dir}: materialize online_snapshot"
        elif snap is None or snap.version != version:
            try:
                snap = load_snapshot(self.online_dir, version)
            except Exception as error:  # noqa: BLE001 - a bad snapshot must not replace a good one
                problems["snapshot"] = f"snapshot {version} could not be read: {error}"
        champions = dict(old.champions)
        for name, number in wanted.items():
            if number is None:
                problems[name] = f"no version of `{name}` holds the champion alias"
                continue
            if name in champions and champions[name].version == number:
                continue
            try:
                champions[name] = self.source.load(name, number)
            except Exception as error:  # noqa: BLE001 - keep the previous champion of this model
                problems[name] = f"{name} v{number} could not be loaded: {error}"
                logger.exception("loading %s v%s failed", name, number)
        changed = (snap is not old.snapshot) or any(
            champions.get(n) is not old.champions.get(n) for n in set(champions) | set(old.champions)
        )
        if not changed:
            current = {**old.build_problems, **problems}
            if current != old.problems:
                self.state = replace(old, problems=current)
            self.last_error = None
            return False
        new = build_state(snap, champions, problems)
        self.state = new  # the one atomic swap
        self.refreshes += 1
        self.last_error = None
        logger.info("serving state %s", new.key)
        return True


class Poller:
    """Calls `loader.refresh()` every `interval` seconds in a daemon thread; `on_refresh(state)` after each."""

    def __init__(self, loader: StateLoader, interval: float, on_refresh=None):
        self.loader = loader
        self.interval = interval
        self.on_refresh = on_refresh
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="customer-ml-state-poller", daemon=True)

    def start(self) -> "Poller":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.loader.refresh()
            if self.on_refresh is not None:
                try:
                    self.on_refresh(self.loader.state)
                except Exception:  # noqa: BLE001
                    logger.exception("on_refresh failed")
            self._stop.wait(self.interval)


def poll_seconds() -> float:
    return serve_settings().poll_seconds


def required_models() -> tuple[str, ...]:
    """Models without which /readyz answers 503. Default none: the service is ready once the snapshot is loaded
    and serves the champions it has (a model that could not train must not take the others offline);
    `all` requires every model."""
    names = serve_settings().required_models
    if names == ("all",):
        return MODEL_NAMES
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"CUSTOMER_ML_SERVE_REQUIRED_MODELS: unknown models {unknown}; choose from {MODEL_NAMES}")
    return names
