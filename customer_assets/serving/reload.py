"""Building a `ServingState` and swapping it in when the snapshot or a champion moved.

`StateLoader.refresh()` looks at the snapshot's `current` pointer and each model's `champion` alias; when either
moved it builds a complete new state (reusing the parts that did not change: an unchanged champion object, the
loaded snapshot) and only then replaces the one reference requests read, so a request never waits for a load.
`Poller` calls it on a timer in a daemon thread. The knobs come from the settings module
(CUSTOMER_ML_SERVE_POLL_SECONDS, CUSTOMER_ML_SERVE_REQUIRED_MODELS).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

from customer_assets.config import serve_settings
from customer_assets.serving import snapshot as snapshots
from customer_assets.serving.models import CHURN, MODEL_NAMES, RECOMMENDER, SEGMENTATION, Champion, ModelSource
from customer_assets.serving.scoring import assign_segments, cold_start_lists, score_churn
from customer_assets.serving.snapshot_view import ID, SnapshotData, load_snapshot
from customer_assets.serving.state import ServingState
from customer_assets.serving.validation import feature_rules

logger = logging.getLogger(__name__)


def build_state(
    snapshot: SnapshotData | None, champions: dict[str, Champion], problems: dict[str, str] | None = None
) -> ServingState:
    """A complete state: per-customer churn scores and segments computed by the champions from the snapshot's
    features (one batch each: one TreeSHAP call over all rows costs about what a single-row call does),
    cold-start lists, input rules. Failures of one part are recorded, not raised."""
    load_problems = dict(problems or {})
    problems = {}
    churn_by_id, segment_by_id, feature_rows, cold, rules = {}, {}, {}, {}, {}
    if snapshot is not None:
        features = snapshot.features
        feature_rows = {cid: i for i, cid in enumerate(features[ID].to_list())}
        rules = feature_rules(features)
        if CHURN in champions:
            try:
                churn_by_id = {r.customer_id: r for r in score_churn(champions[CHURN], features, snapshot.as_of)}
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
