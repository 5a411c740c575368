"""Which models the automation watches: the model declarations of `customer_assets.models`.

A spec is a `ModelDeclaration`: the training asset, the registered MLflow model, the scored table and where
labels come from. `build_automation` reports (and skips) a spec whose assets are not in the code location, so
a user's replacement file cannot silently watch nothing.

Defaults are the five declarations (churn, segmentation, recommendation, review sentiment, customer value). A
JSON file named by
CUSTOMER_ML_MODEL_SPECS replaces them (a list of objects with the fields of `ModelSpec`; `labels` and
`performance` as nested objects or null).
"""

import json
from dataclasses import fields
from pathlib import Path

from customer_assets.config import automation_settings
from customer_assets.models import MODELS, LabelSource, ModelDeclaration, RealizedPerformance

ModelSpec = ModelDeclaration  # what the automation reads: the declarations, or a JSON file's replacements
DEFAULT_MODEL_SPECS: tuple[ModelSpec, ...] = MODELS


def spec_from_dict(data: dict) -> ModelSpec:
    known = {f.name for f in fields(ModelSpec)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"model spec {data.get('name')!r}: unknown fields {sorted(unknown)}")
    values = dict(data)
    if values.get("labels"):
        values["labels"] = LabelSource(**values["labels"])
    if values.get("performance"):
        values["performance"] = RealizedPerformance(**values["performance"])
    for name in ("score_columns", "key_features", "baselines", "tables"):
        if name in values:
            values[name] = tuple(values[name])
    return ModelSpec(**values)


def load_model_specs() -> tuple[ModelSpec, ...]:
    path = automation_settings().model_specs
    if not path:
        return DEFAULT_MODEL_SPECS
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"CUSTOMER_ML_MODEL_SPECS ({path}) must hold a JSON list of model specs")
    return tuple(spec_from_dict(item) for item in data)
