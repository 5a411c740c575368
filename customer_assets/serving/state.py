"""The live service's state: one online snapshot and the champions loaded from it, answered from atomically.

A `ServingState` is immutable once built (customer_assets.serving.reload builds and swaps them): a request reads
the one current state and sees either the old or the new one, never a mix. Its methods are the service's lookups:
each checks that what it needs is loaded (503 otherwise), validates a payload (customer_assets.serving.validation)
and scores with the champion (customer_assets.serving.scoring). Churn scores and segments by id were computed for
every snapshot customer when the state was built, so a request by id is a lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from customer_assets.serving import scoring
from customer_assets.serving.models import CHURN, RECOMMENDER, SEGMENTATION, SENTIMENT, Champion
from customer_assets.serving.scoring import ChurnResult
from customer_assets.serving.snapshot_view import SnapshotData
from customer_assets.serving.validation import RequestError, feature_frame


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

    def _unknown(self, model: str, what: str, field_name: str, customer_id: str, where: str) -> RequestError:
        if model in self.problems:
            return RequestError(503, None, f"{what} unavailable: {self.problems[model]}")
        return RequestError(404, field_name, f"unknown customer {customer_id!r} (not in online snapshot {where})")

    # --- churn ------------------------------------------------------------------------------------------

    def churn_by_customer(self, customer_id: str, field_name: str = "customer_id") -> ChurnResult:
        self.champion(CHURN)
        snap = self.require_snapshot()
        found = self.churn_by_id.get(customer_id)
        if found is None:
            raise self._unknown(CHURN, "churn scores", field_name, customer_id, f"{snap.version}, as of {snap.as_of}")
        return found

    def churn_from_features(self, payloads: list[dict], field_prefix: str = "features") -> list[ChurnResult]:
        champion = self.champion(CHURN)
        preparer = champion.model.preparer
        numeric, categorical = list(preparer.input_numeric_columns), list(preparer.categorical_levels)
        frame = feature_frame(payloads, numeric, categorical, self.feature_rules, field_prefix)
        return scoring.score_churn(champion, frame)

    # --- segments ---------------------------------------------------------------------------------------

    def segment_by_customer(self, customer_id: str) -> dict:
        self.champion(SEGMENTATION)
        snap = self.require_snapshot()
        found = self.segment_by_id.get(customer_id)
        if found is None:
            raise self._unknown(SEGMENTATION, "segments", "customer_id", customer_id, snap.version)
        return found

    def segment_from_features(self, payload: dict, customer_id: str | None) -> dict:
        champion = self.champion(SEGMENTATION)
        columns = list(champion.model.feature_columns)
        frame = feature_frame([payload], columns, [], self.feature_rules, "features", customer_ids=[customer_id])
        return {**scoring.assign_segments(champion, frame)[0], "customer_id": customer_id}

    # --- recommendations and sentiment ------------------------------------------------------------------

    def recommend(self, customer_id: str, k: int, country: str | None = None) -> dict:
        champion = self.champion(RECOMMENDER)
        snap = self.require_snapshot()
        known = customer_id in self.feature_rows
        return scoring.recommend(champion, snap, self.cold_start, customer_id, k, country, known_customer=known)

    def similar_products(self, product_id: str, k: int) -> dict:
        champion = self.champion(RECOMMENDER)
        return scoring.similar_products(champion, self.require_snapshot(), product_id, k)

    def sentiment(self, texts: list[str]) -> dict:
        return scoring.sentiment(self.champion(SENTIMENT), texts)
