"""Settings read from the environment, in one place.

Everything the platform writes lives under one home folder so that a user can delete it to start over.
``Settings`` holds the home, the source and the warehouse; each model domain's knobs are a settings section
(below ``load_settings``).

A section is a frozen dataclass whose fields are declared with ``setting(default, doc, ...)`` and registered
with ``@section("CHURN")``. ``read_section(ChurnKnobs)`` reads each field from ``CUSTOMER_ML_<PREFIX>_<FIELD>``
(or the field's own ``env`` name, kept where an older documented name exists), casts it by the field's type
(int, float, str, bool, tuple of str, dict from JSON), checks ``choices`` and ``low``/``high`` bounds, and
raises ``SettingsError`` naming the variable and the value. ``reference_markdown()`` renders every section
as the configuration reference (``docs/configuration.md``; a test fails when the file is stale).

Why dataclasses and not pydantic-settings or Dagster ``Config``: the knobs are read by pure library callers,
asset code, the service and the CLI alike, and must stay importable without Dagster or another dependency;
a dataclass per domain is what the asset modules already passed around, so only the reading changed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "warehouse"

DEFAULT_SYNTHETIC_CUSTOMERS = 3000


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    home: Path
    source: str
    synthetic_customers: int
    synthetic_seed: int
    synthetic_end_date: dt.date
    as_of: dt.date | None
    warehouse_url: str | None
    partition_start: str | None  # first as-of partition; None = the first day of data in the source
    churn_window_days: int
    orphan_tolerance: float
    extra: dict = field(default_factory=dict)

    @property
    def is_postgres(self) -> bool:
        return bool(self.warehouse_url) and self.warehouse_url.startswith("postgres")

    @property
    def duckdb_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def mlflow_tracking_uri(self) -> str:
        return _env("MLFLOW_TRACKING_URI") or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def snapshot_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def bench_dir(self) -> Path:
        return self.home / "bench"

    @property
    def run_log_dir(self) -> Path:
        """Where `make run` writes each run's tracebacks, so the console shows only the summary."""
        return self.home / "logs"


def synthetic_settings(home: Path, **overrides) -> Settings:
    """Settings for a throwaway home on the synthetic source, independent of the environment (tests and
    benchmarks build their homes with it)."""
    base = Settings(
        home=home,
        source="synthetic",
        synthetic_customers=1000,
        synthetic_seed=7,
        synthetic_end_date=dt.date(2026, 10, 31),
        as_of=None,
        warehouse_url=None,
        partition_start=None,
        churn_window_days=90,
        orphan_tolerance=0.01,
    )
    return dataclasses.replace(base, **overrides)


def load_settings() -> Settings:
    home = Path(_env("CUSTOMER_ML_HOME", str(REPO_ROOT / ".customer_ml"))).expanduser().resolve()
    as_of = _env("CUSTOMER_ML_AS_OF")
    return Settings(
        home=home,
        source=_env("CUSTOMER_ML_SOURCE", "synthetic"),
        synthetic_customers=int(_env("CUSTOMER_ML_SYNTHETIC_CUSTOMERS", str(DEFAULT_SYNTHETIC_CUSTOMERS))),
        synthetic_seed=int(_env("CUSTOMER_ML_SYNTHETIC_SEED", "42")),
        synthetic_end_date=dt.date.fromisoformat(_env("CUSTOMER_ML_SYNTHETIC_END_DATE", "2026-10-31")),
        as_of=dt.date.fromisoformat(as_of) if as_of else None,
        warehouse_url=_env("WAREHOUSE_URL"),
        partition_start=_env("CUSTOMER_ML_PARTITION_START"),
        churn_window_days=int(_env("CUSTOMER_ML_CHURN_WINDOW_DAYS", "90")),
        orphan_tolerance=float(_env("CUSTOMER_ML_ORPHAN_TOLERANCE", "0.01")),
    )


def api_key() -> str | None:
    """The shared key the scoring service and the app ask for (CUSTOMER_ML_API_KEY); None leaves them open."""
    return read_section(ServeSettings).api_key or None


# --- settings sections ------------------------------------------------------------------------------------

ENV_PREFIX = "CUSTOMER_ML_"
SECTIONS: dict[str, type] = {}
"""Registered sections by prefix, in registration order (the reference lists them so)."""


class SettingsError(ValueError):
    """A setting from the environment is not valid; the message names the variable."""


def setting(
    default,
    doc: str,
    *,
    env: str | None = None,
    choices: tuple | None = None,
    low: float | None = None,
    high: float | None = None,
):
    """A dataclass field read from the environment. ``env`` overrides the derived variable name."""
    metadata = {"doc": doc, "env": env, "choices": choices, "low": low, "high": high}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def section(prefix: str):
    """Register a dataclass as the settings section read from ``CUSTOMER_ML_<prefix>_*``."""

    def register(cls):
        cls.__settings_prefix__ = prefix
        SECTIONS[prefix] = cls
        return cls

    return register


def env_name(cls, item: dataclasses.Field) -> str:
    return item.metadata.get("env") or f"{ENV_PREFIX}{cls.__settings_prefix__}_{item.name.upper()}"


def _cast(kind, raw: str, name: str):
    origin = typing.get_origin(kind)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        kind = options[0] if len(options) == 1 else str  # e.g. str | dict: the caller parses the text
        origin = typing.get_origin(kind)
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}={raw!r} is not a boolean (true/false)")
    if kind is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if kind is float:
        try:
            return float(raw.strip())
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number") from None
    if origin is tuple:
        return tuple(v.strip() for v in raw.split(",") if v.strip())
    if kind is dict or origin is dict:
        try:
            value = json.loads(raw)
        except ValueError as error:
            raise SettingsError(f"{name}={raw!r} is not a JSON object: {error}") from None
        if not isinstance(value, dict):
            raise SettingsError(f"{name}={raw!r} is not a JSON object")
        return value
    return raw.strip()


def _check(item: dataclasses.Field, value, name: str) -> None:
    meta = item.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise SettingsError(f"{name}={value!r} is not one of {', '.join(map(str, meta['choices']))}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if meta.get("low") is not None and value < meta["low"]:
            raise SettingsError(f"{name}={value!r} is below its minimum {meta['low']}")
        if meta.get("high") is not None and value > meta["high"]:
            raise SettingsError(f"{name}={value!r} is above its maximum {meta['high']}")


def read_section(cls, environ: Mapping[str, str] | None = None):
    """An instance of section ``cls`` from the environment (unset or empty variables keep the default)."""
    environ = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values = {}
    for item in dataclasses.fields(cls):
        if "doc" not in item.metadata:
            continue
        name = env_name(cls, item)
        raw = environ.get(name)
        if raw is None or raw.strip() == "":
            continue
        value = _cast(hints[item.name], raw, name)
        if isinstance(value, str) and item.metadata.get("choices"):
            value = value.lower()
        _check(item, value, name)
        values[item.name] = value
    instance = cls(**values)
    for item in dataclasses.fields(cls):  # defaults are checked too (a wrong default is a bug here)
        if "doc" in item.metadata:
            _check(item, getattr(instance, item.name), env_name(cls, item))
    return instance


def with_overrides(instance, values: Mapping[str, object], source: str):
    """``instance`` (a section) with ``values`` in place, each cast and checked like its setting.

    For per-run knobs (Dagster run config): a bad value is a SettingsError naming ``source`` and the field."""
    cls = type(instance)
    hints = typing.get_type_hints(cls)
    items = {item.name: item for item in dataclasses.fields(cls) if "doc" in item.metadata}
    changes = {}
    for name, value in values.items():
        if name not in items:
            raise SettingsError(f"{source}: {name!r} is not a {cls.__settings_prefix__} knob ({', '.join(items)})")
        label = f"{source} {name}"
        if isinstance(value, str) and hints[name] is not str:
            value = _cast(hints[name], value, label)
        if isinstance(value, str) and items[name].metadata.get("choices"):
            value = value.lower()
        _check(items[name], value, label)
        changes[name] = value
    return dataclasses.replace(instance, **changes)


def _shown(value) -> str:
    if value is None or value == "" or value == () or value == {}:
        return "unset"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def reference_markdown() -> str:
    """The configuration reference of every registered section (importing the modules that declare them)."""
    import_sections()
    lines = [
        "# Configuration reference",
        "",
        "Generated from the settings sections (`customer_assets/config.py`, `read_section`) by",
        "`python -m customer_assets.config > docs/configuration.md`; a test fails when this file is stale.",
        "Unset or empty variables keep the default; a bad value stops with an error naming the variable.",
        "",
        "**Per run, in the Dagster launchpad.** The knobs a user tunes per run (search budget, model families,",
        "k, margins, seeds, ...) are also the run config of the model assets that use them (*Materialize →",
        "Open launchpad*, or `run_config` in the API): every field defaults to null, which means the setting",
        "below, and a value given there is checked like the setting and used by that run only. The churn window",
        "stays a setting: dbt labels the training set with it, so one run cannot change it for the model alone.",
        "",
    ]

    def order(item):  # SECTION_MODULES order, whatever order the modules happened to be imported in
        module = item[1].__module__
        return SECTION_MODULES.index(module) if module in SECTION_MODULES else len(SECTION_MODULES)

    for prefix, cls in sorted(SECTIONS.items(), key=order):
        lines += [
            f"## {prefix.lower()} (`{cls.__module__}.{cls.__name__}`)",
            "",
            "| variable | default | meaning |",
            "|---|---|---|",
        ]
        for item in dataclasses.fields(cls):
            if "doc" not in item.metadata:
                continue
            default = item.default if item.default is not dataclasses.MISSING else item.default_factory()
            doc = item.metadata["doc"]
            if item.metadata.get("choices"):
                doc += f" One of: {', '.join(map(str, item.metadata['choices']))}."
            lines.append(f"| `{env_name(cls, item)}` | `{_shown(default)}` | {doc.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


@section("SERVE")
@dataclass(frozen=True)
class ServeSettings:
    """The scoring service and the online snapshot."""

    poll_seconds: float = setting(5.0, "How often the service looks for a new snapshot or champion.", low=0.01)
    required_models: tuple[str, ...] = setting(
        (),
        "Comma list of models without which /readyz answers 503 (`all`: "
        "every model; unset: ready once the snapshot is loaded).",
    )
    max_batch_rows: int = setting(1000, "Rows per /predict/churn/batch request.", low=1)
    batch_max_rows: int = setting(100_000, "Rows per uploaded file of POST /batch/churn.", low=1)
    batch_max_jobs: int = setting(4, "Batch jobs kept (queued, running or done) at once.", low=1)
    max_body_bytes: int = setting(2 * 1024 * 1024, "Largest request body the service reads.", low=1024)
    api_key: str = setting(
        "",
        "Shared key the service and the app ask for (required when exposed beyond loopback); unset leaves them open.",
        env="CUSTOMER_ML_API_KEY",
    )
    online_keep_versions: int = setting(
        3,
        "Published online snapshots kept (a reader may hold the previous one).",
        env="CUSTOMER_ML_ONLINE_KEEP_VERSIONS",
        low=2,
    )


@section("AUTOMATION")
@dataclass(frozen=True)
class AutomationSettings:
    """Schedules, sensors and alerts."""

    timezone: str = setting("UTC", "Time zone of the daily schedule (an IANA name).", env="CUSTOMER_ML_TIMEZONE")
    default_status: str = setting(
        "running", "Whether schedules and sensors start running or stopped.", choices=("running", "stopped")
    )
    retrain_cooldown_hours: float = setting(
        24.0, "Least time between two retraining runs of one model.", env="CUSTOMER_ML_RETRAIN_COOLDOWN_HOURS", low=0
    )
    retrain_psi: float = setting(
        0.2, "Feature PSI above which the drift sensor retrains.", env="CUSTOMER_ML_RETRAIN_PSI", low=0
    )
    drift_bins: int = setting(10, "Bins of the PSI drift figure.", env="CUSTOMER_ML_DRIFT_BINS", low=2)
    model_specs: str = setting(
        "", "JSON file of watched-model specs replacing the defaults (monitoring).", env="CUSTOMER_ML_MODEL_SPECS"
    )
    alert_webhook_url: str = setting(
        "", "URL a failed run's alert is POSTed to as JSON (unset: logged only).", env="CUSTOMER_ML_ALERT_WEBHOOK_URL"
    )


@section("VALUE")
@dataclass(frozen=True)
class ValueKnobs:
    horizon_days: int = setting(
        90, "Value horizon: the churn window (one setting for both).", env="CUSTOMER_ML_CHURN_WINDOW_DAYS", low=1
    )
    seasonal: str = setting(
        "auto",
        "Seasonal purchase clock: auto (chosen on a validation window), on or off.",
        choices=("auto", "on", "off"),
    )
    validation_days: int = setting(90, "Validation window inside the training orders that decides `auto`.", low=1)
    annual_discount: float = setting(0.10, "Yearly discount rate of the 12-month CLV.", low=0, high=9.99)
    promotion_tolerance: float = setting(0.02, "Relative loss a newer fit may show and still take the alias.", low=0)
    purchase_model: str = setting(
        "bgnbd",
        "Purchase model: bgnbd or mbgnbd (dropout also right after the first purchase).",
        choices=("bgnbd", "mbgnbd"),
    )


def serve_settings() -> ServeSettings:
    return read_section(ServeSettings)


def automation_settings() -> AutomationSettings:
    return read_section(AutomationSettings)


SECTION_MODULES = (
    "customer_assets.defs.churn.assets",
    "customer_assets.defs.segmentation.assets",
    "customer_assets.defs.recommendation.assets",
    "customer_assets.defs.review.assets",
    "customer_assets.defs.value.assets",
)


def import_sections() -> None:
    import importlib

    for module in SECTION_MODULES:
        importlib.import_module(module)


if __name__ == "__main__":  # run as a script this module is __main__: read the sections of the imported one
    from customer_assets.config import reference_markdown as _reference

    print(_reference(), end="")
