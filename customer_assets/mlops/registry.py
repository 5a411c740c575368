"""MLflow tracking and the model registry: log a training run, register it, and promote by alias.

Stages are deprecated in MLflow 3; the serving model is whichever version holds the `champion` alias.
A challenger gets the alias only when it beats the champion on the same holdout by a margin
(`decide_promotion`); either way the run records the decision and the reason.
No Dagster here: assets call these functions.
"""

import importlib.metadata
import json
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

CHAMPION = "champion"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def configure(tracking_uri: str, artifact_root: Path) -> None:
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI, which Settings reads as the user's choice:
    # left in place, every home configured later in this process would share the first home's registry.
    user_choice = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    if user_choice is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = user_choice
    artifact_root.mkdir(parents=True, exist_ok=True)
    os.environ["CUSTOMER_ML_ARTIFACT_ROOT"] = str(artifact_root)


def _experiment(name: str) -> str:
    existing = mlflow.get_experiment_by_name(name)
    if existing:
        return existing.experiment_id
    root = Path(os.environ.get("CUSTOMER_ML_ARTIFACT_ROOT", "mlartifacts")).resolve()
    # An explicit location, or MLflow writes ./mlruns in whatever folder the process started in.
    return mlflow.create_experiment(name, artifact_location=(root / name).as_uri())


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


def log_and_register(
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
    the minimal set every model here needs.
    """
    experiment_id = _experiment(model_name)
    with mlflow.start_run(experiment_id=experiment_id, tags={"decision": decision.reason, **(tags or {})}) as run:
        if params:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(_flat_metrics(report.get("metrics", {})))
        if "baseline" in report and isinstance(report["baseline"], dict):
            mlflow.log_metrics(_flat_metrics(report["baseline"], "baseline."))
        mlflow.log_dict(jsonable(report), "report.json")
        if report.get("comparison"):
            mlflow.log_dict(jsonable(report["comparison"]), "comparison.json")
        for path in (artifacts or {}).values():
            mlflow.log_artifact(str(path), artifact_path="plots")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.pkl"
            path.write_bytes(pickle.dumps(model))
            # Explicit requirements keep logging fast and offline (no environment inference).
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=PickledModel(),
                artifacts={"model": str(path)},
                pip_requirements=pip_requirements or ["mlflow", "polars", "scikit-learn", "numpy"],
                signature=signature,
            )
        version = mlflow.register_model(info.model_uri, model_name)
    client = MlflowClient()
    # The pickle needs the customer_assets package (the service, the app and the pipeline have it): the version
    # tag says which release to install, instead of a copy of the whole package inside every model version.
    client.set_model_version_tag(model_name, version.version, PACKAGE_TAG, PACKAGE_VERSION)
    client.set_model_version_tag(model_name, version.version, "decision", decision.reason[:5000])
    if decision.promote:
        client.set_registered_model_alias(model_name, CHAMPION, version.version)
    return LoggedModel(run.info.run_id, int(version.version), decision.promote)


def champion_version(model_name: str) -> int | None:
    try:
        return int(MlflowClient().get_model_version_by_alias(model_name, CHAMPION).version)
    except Exception:  # no registered model or no alias yet
        return None


def load_champion(model_name: str) -> tuple[Any, int] | None:
    """The champion's own Python object (not the pyfunc wrapper), with its version; None without one."""
    version = champion_version(model_name)
    if version is None:
        return None
    local = mlflow.artifacts.download_artifacts(f"models:/{model_name}@{CHAMPION}")
    pickled = next(Path(local).rglob("model.pkl"))
    return pickle.loads(pickled.read_bytes()), version


def jsonable(value):
    return json.loads(json.dumps(value, default=str))


def version_metrics(model_name: str, version: int | None) -> dict[str, float]:
    """The MLflow metrics of the run that produced a registered version ({} if unknown)."""
    if version is None:
        return {}
    client = MlflowClient()
    run_id = client.get_model_version(model_name, str(version)).run_id
    return dict(client.get_run(run_id).data.metrics) if run_id else {}


def log_plots_run(experiment: str, run_name: str, artifacts: dict[str, Path], tags: dict | None = None) -> str:
    """A small run holding plots made outside training (e.g. scored-table history); returns its run id."""
    with mlflow.start_run(experiment_id=_experiment(experiment), run_name=run_name, tags=tags or {}) as run:
        for path in artifacts.values():
            mlflow.log_artifact(str(path), artifact_path="plots")
    return run.info.run_id


def log_evaluation_run(
    model_name: str,
    report: dict,
    decision: Decision,
    params: dict | None = None,
    artifacts: dict[str, Path] | None = None,
    tags: dict | None = None,
) -> str:
    """A training run that registers nothing (e.g. the challenger lost and the champion needs no refit):
    params, metrics, the report and plots, tagged with the decision; returns its run id."""
    with mlflow.start_run(
        experiment_id=_experiment(model_name),
        tags={"decision": decision.reason[:5000], "registered": "false", **(tags or {})},
    ) as run:
        if params:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(_flat_metrics(report.get("metrics", {})))
        if isinstance(report.get("baseline"), dict):
            mlflow.log_metrics(_flat_metrics(report["baseline"], "baseline."))
        mlflow.log_dict(jsonable(report), "report.json")
        for path in (artifacts or {}).values():
            mlflow.log_artifact(str(path), artifact_path="plots")
    return run.info.run_id
