"""MLflow tracking and the model registry: log a training run, register it, and promote by alias.

`ModelRegistry` is one tracking server / registry (an `MlflowClient` it owns; no process-wide tracking URI).
Stages are deprecated in MLflow 3; the serving model is whichever version holds the `champion` alias.
A challenger gets the alias only when it beats the champion on the same holdout by a margin
(`decide_promotion`); either way the run records the decision and the reason.
No Dagster here: assets call these functions.
"""

import contextlib
import importlib.metadata
import json
import os
import pickle
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.artifacts
import mlflow.pyfunc
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

CHAMPION = "champion"
# MLflow 3 phones home unless told not to, and this machine (like many users') has no internet: switched off for
# the process before the first client exists (a user's own value wins).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


PACKAGE_TAG = "customer_ml_version"
try:
    PACKAGE_VERSION = importlib.metadata.version("customer-ml")
except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
    PACKAGE_VERSION = "unknown"


class PickledModel(PythonModel):
    """Any picklable model object behind MLflow's pyfunc interface; `predict` calls the object's predict."""

    def load_context(self, context):
        with open(context.artifacts["model"], "rb") as handle:
            self.model = pickle.load(handle)

    def predict(self, context, model_input, params=None):
        import polars as pl

        frame = pl.from_pandas(model_input) if not isinstance(model_input, pl.DataFrame) else model_input
        if hasattr(self.model, "predict_proba"):
            return self.model.predict_proba(frame)
        return self.model.predict(frame)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    challenger_score: float
    champion_score: float | None


def decide_promotion(
    metric: str, challenger: float, champion: float | None, higher_is_better: bool = True, margin: float = 0.0
) -> Decision:
    if champion is None:
        return Decision(
            True, f"no champion yet: the challenger ({metric}={challenger:.4f}) becomes champion", challenger, None
        )
    gain = (challenger - champion) if higher_is_better else (champion - challenger)
    if gain > margin:
        return Decision(
            True,
            f"challenger {metric}={challenger:.4f} beats champion {champion:.4f} by {gain:.4f} (> margin {margin})",
            challenger,
            champion,
        )
    return Decision(
        False,
        f"champion kept: challenger {metric}={challenger:.4f} vs champion {champion:.4f} "
        f"on the same holdout; gain {gain:.4f} is not above the margin {margin}",
        challenger,
        champion,
    )


@dataclass(frozen=True)
class LoggedModel:
    run_id: str
    version: int
    promoted: bool


def _flat_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}".replace("@", "_at_")
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and value == value:
            flat[name] = float(value)
        elif isinstance(value, dict):
            flat.update(_flat_metrics(value, f"{name}."))
    return flat


def jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _chunks(items: list, size: int):
    for at in range(0, len(items), size):
        yield items[at : at + size]


class ModelRegistry:
    """One MLflow tracking server / registry and its artifact folder, through an `MlflowClient` it owns.

    Nothing here sets MLflow's process-wide tracking URI or an active run: two homes (two registries) can be
    used side by side in one process, and a test builds one the way the pipeline does."""

    def __init__(self, tracking_uri: str, artifact_root: Path | str):
        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root)
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def __repr__(self) -> str:
        return f"ModelRegistry({self.tracking_uri!r})"

    def experiment_id(self, name: str) -> str:
        existing = self.client.get_experiment_by_name(name)
        if existing:
            return existing.experiment_id
        # An explicit location, or MLflow writes ./mlruns in whatever folder the process started in.
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        return self.client.create_experiment(name, artifact_location=(self.artifact_root.resolve() / name).as_uri())

    # --- runs ---------------------------------------------------------------------------------------------

    def _log_run_contents(self, run_id: str, report: dict, params: dict | None, artifacts: dict[str, Path] | None):
        now = int(time.time() * 1000)
        metrics = {**_flat_metrics(report.get("metrics", {}))}
        if isinstance(report.get("baseline"), dict):
            metrics.update(_flat_metrics(report["baseline"], "baseline."))
        for batch in _chunks([Metric(k, v, now, 0) for k, v in metrics.items()], 1000):
            self.client.log_batch(run_id, metrics=batch)
        for batch in _chunks([Param(k, str(v)[:500]) for k, v in (params or {}).items()], 100):
            self.client.log_batch(run_id, params=batch)
        self.client.log_dict(run_id, jsonable(report), "report.json")
        if report.get("comparison"):
            self.client.log_dict(run_id, jsonable(report["comparison"]), "comparison.json")
        for path in (artifacts or {}).values():
            self.client.log_artifact(run_id, str(path), artifact_path="plots")

    @contextlib.contextmanager
    def _run(self, experiment: str, tags: dict, run_name: str | None = None):
        run = self.client.create_run(self.experiment_id(experiment), tags=tags, run_name=run_name)
        try:
            yield run
        except BaseException:
            self.client.set_terminated(run.info.run_id, "FAILED")
            raise
        self.client.set_terminated(run.info.run_id, "FINISHED")

    def log_and_register(
        self,
        model_name: str,
        model: Any,
        report: dict,
        decision: Decision,
        params: dict | None = None,
        artifacts: dict[str, Path] | None = None,
        tags: dict | None = None,
        signature: Any = None,
        pip_requirements: list[str] | None = None,
    ) -> LoggedModel:
        """One MLflow run: params, metrics, the report, plots and the model; registered, and promoted if decided.

        `signature` (an MLflow ModelSignature) and `pip_requirements` are optional; the default requirements are
        the minimal set every model here needs."""
        with self._run(model_name, {"decision": decision.reason[:5000], **(tags or {})}) as run:
            run_id = run.info.run_id
            self._log_run_contents(run_id, report, params, artifacts)
            with tempfile.TemporaryDirectory() as tmp:
                pickled = Path(tmp) / "model.pkl"
                pickled.write_bytes(pickle.dumps(model))
                saved = Path(tmp) / "model"
                # Explicit requirements keep saving fast and offline (no environment inference).
                mlflow.pyfunc.save_model(
                    path=str(saved),
                    python_model=PickledModel(),
                    artifacts={"model": str(pickled)},
                    pip_requirements=pip_requirements or ["mlflow", "polars", "scikit-learn", "numpy"],
                    signature=signature,
                )
                self.client.log_artifacts(run_id, str(saved), artifact_path="model")
            try:
                self.client.create_registered_model(model_name)
            except MlflowException as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            version = self.client.create_model_version(model_name, f"{run.info.artifact_uri}/model", run_id=run_id)
        # The pickle needs the customer_assets package (the service, the app and the pipeline have it): the version
        # tag says which release to install, instead of a copy of the whole package inside every model version.
        self.client.set_model_version_tag(model_name, version.version, PACKAGE_TAG, PACKAGE_VERSION)
        self.client.set_model_version_tag(model_name, version.version, "decision", decision.reason[:5000])
        if decision.promote:
            self.client.set_registered_model_alias(model_name, CHAMPION, version.version)
        return LoggedModel(run_id, int(version.version), decision.promote)

    def log_evaluation_run(
        self,
        model_name: str,
        report: dict,
        decision: Decision,
        params: dict | None = None,
        artifacts: dict[str, Path] | None = None,
        tags: dict | None = None,
    ) -> str:
        """A training run that registers nothing (e.g. the challenger lost and the champion needs no refit):
        params, metrics, the report and plots, tagged with the decision; returns its run id."""
        tags = {"decision": decision.reason[:5000], "registered": "false", **(tags or {})}
        with self._run(model_name, tags) as run:
            self._log_run_contents(run.info.run_id, report, params, artifacts)
        return run.info.run_id

    def log_plots_run(
        self, experiment: str, run_name: str, artifacts: dict[str, Path], tags: dict | None = None
    ) -> str:
        """A small run holding plots made outside training (e.g. scored-table history); returns its run id."""
        with self._run(experiment, tags or {}, run_name=run_name) as run:
            for path in artifacts.values():
                self.client.log_artifact(run.info.run_id, str(path), artifact_path="plots")
        return run.info.run_id

    # --- the registry -------------------------------------------------------------------------------------

    def champion_version(self, model_name: str) -> int | None:
        try:
            return int(self.client.get_model_version_by_alias(model_name, CHAMPION).version)
        except MlflowException:  # no registered model or no alias yet
            return None

    def load_version(self, model_name: str, version: int) -> Any:
        """The registered version's own Python object (not the pyfunc wrapper)."""
        with tempfile.TemporaryDirectory() as tmp:
            # The version's own artifact location, resolved by this registry: a `models:/` URI would be resolved
            # against MLflow's process-wide registry instead.
            source = self.client.get_model_version_download_uri(model_name, str(version))
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=self.tracking_uri
            )
            pickled = next(Path(local).rglob("model.pkl"))
            return pickle.loads(pickled.read_bytes())

    def load_champion(self, model_name: str) -> tuple[Any, int] | None:
        """The champion's own Python object with its version; None without one."""
        version = self.champion_version(model_name)
        if version is None:
            return None
        return self.load_version(model_name, version), version

    def version_metrics(self, model_name: str, version: int | None) -> dict[str, float]:
        """The MLflow metrics of the run that produced a registered version ({} if unknown)."""
        if version is None:
            return {}
        run_id = self.client.get_model_version(model_name, str(version)).run_id
        return dict(self.client.get_run(run_id).data.metrics) if run_id else {}
