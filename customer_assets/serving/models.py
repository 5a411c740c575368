"""The champion models the service serves, loaded from the MLflow registry.

A `ModelSource` answers which version holds each model's `champion` alias and loads a version as a `Champion`
(the unpickled library object and its registered metrics). `MlflowModelSource` is the registry;
`LazyMlflowModelSource` defers its MLflow import to first use; `customer_assets.serving.pins` wraps either to
serve a pinned version instead of the champion.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from customer_assets import models as declared

# The registered names the service loads, from the model declarations (customer_assets/models.py).
CHURN = declared.CHURN.registry_name
SEGMENTATION = declared.SEGMENTATION.registry_name
RECOMMENDER = declared.RECOMMENDATION.registry_name
SENTIMENT = declared.SENTIMENT.registry_name
VALUE = declared.VALUE.registry_name
MODEL_NAMES = declared.SERVED_MODEL_NAMES


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
        from customer_assets.mlops.registry import ModelRegistry

        self._registry = ModelRegistry(tracking_uri, artifact_root)

    def champion_versions(self, names: tuple[str, ...]) -> dict[str, int | None]:
        return {name: self._registry.champion_version(name) for name in names}

    def load(self, name: str, version: int) -> Champion:
        try:
            model = self._registry.load_version(name, int(version))
        except StopIteration as error:
            raise RuntimeError(f"{name} v{version}: no model.pkl in its MLflow artifacts") from error
        details = self._registry.client.get_model_version(name, str(version))
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
            loaded_at=now(),
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


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
