"""Scoring with the champions: the model libraries' own functions on the loaded objects.

`ChurnModel.explain` (calibrated P(churn), risk level, top reasons), `SegmentModel.assign`,
`Recommender.recommend` / `.similar_products` (cold start built in) and `SentimentModel.predict`. Each function
takes a `Champion` and plain inputs and returns what the service answers; none reads the environment or holds
state. Recommendations and similar products come from the snapshot when it was computed by the loaded champion
(same model version) and deep enough, and are computed live otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from customer_assets.serving.models import RECOMMENDER, Champion
from customer_assets.serving.snapshot_view import ID, SnapshotData, grouped
from customer_assets.serving.validation import MAX_K, RequestError

COLD_START_PREFIX = "\x00cold-start:"


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
    by_id = grouped(recs.with_columns(pl.col("product_id").cast(pl.String)), "customer_id", "product_id")
    lists = {name: by_id.get(COLD_START_PREFIX + name, []) for name in names}
    lists[None] = by_id.get(COLD_START_PREFIX, [])
    return lists


def _items(pairs: list[tuple[str, float]]) -> list[dict]:
    return [{"rank": i + 1, "product_id": p, "score": s} for i, (p, s) in enumerate(pairs)]


def recommend(
    champion: Champion,
    snap: SnapshotData,
    cold_start: dict[str | None, list[tuple[str, float]]],
    customer_id: str,
    k: int,
    country: str | None = None,
    known_customer: bool = False,
) -> dict:
    """Top-k products the customer has not bought: the published list (same champion, deep enough), else the
    champion live with the snapshot's purchases passed as the library's `also_exclude` (bought after training
    too), else for a customer the model does not know the cold-start list of their country (or the global one)."""
    model = champion.model
    stored = snap.recommendations.get(customer_id)
    bought = snap.purchases.get(customer_id, frozenset())
    if stored is not None and snap.recommendations_version == champion.version and k <= len(stored):
        items, source = stored[:k], "snapshot"
        strategy = snap.recommendation_strategies.get(customer_id, "hybrid")
    elif model.customers.lookup(pl.Series([customer_id], dtype=pl.String))[0] >= 0:
        exclude = pl.DataFrame(
            {"customer_id": [customer_id] * len(bought), "product_id": sorted(bought)},
            schema={"customer_id": pl.String, "product_id": pl.String},
        )
        recs = model.recommend(
            pl.Series([customer_id], dtype=pl.String), k=k, exclude_seen=True, also_exclude=exclude if bought else None
        )
        items = [(str(p), float(s)) for p, s in zip(recs["product_id"].to_list(), recs["score"].to_list())]
        source = "model"
        strategy = recs["strategy"][0] if recs.height else "popular"
    else:
        # The per-country lists are MAX_K long, computed once per state; a customer unknown to the model has
        # bought little (the model was fitted before), so dropping it from the list still leaves k.
        popular = cold_start.get(country or snap.countries.get(customer_id)) or cold_start.get(None, [])
        items, source, strategy = [p for p in popular if p[0] not in bought][:k], "cold_start", "popular"
    return {
        "customer_id": customer_id,
        "k": k,
        "source": source,
        "strategy": strategy,
        "known_customer": known_customer,
        "items": _items(items),
        "model_version": champion.version,
    }


def similar_products(champion: Champion, snap: SnapshotData, product_id: str, k: int) -> dict:
    """The k products most similar to `product_id`: published (same champion, deep enough) or computed live;
    404 for a product outside the champion's catalog."""
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
        items = [(str(p), float(s)) for p, s in zip(frame["similar_product_id"].to_list(), frame["score"].to_list())]
        source = "model"
    return {
        "product_id": product_id,
        "k": k,
        "source": source,
        "items": _items(items),
        "model_version": champion.version,
    }


def sentiment(champion: Champion, texts: list[str]) -> dict:
    """Label and score per text; a text without letters gets neither."""
    series = pl.Series("text", texts, dtype=pl.String)
    scored = champion.model.predict(series)
    has_words = series.fill_null("").str.contains(r"\p{L}").to_list()
    predictions = [
        {"index": i, "label": label if words else None, "score": float(score) if words and score is not None else None}
        for i, (label, score, words) in enumerate(
            zip(scored["sentiment_label"].to_list(), scored["sentiment_score"].to_list(), has_words)
        )
    ]
    return {"predictions": predictions, "model_version": champion.version}
