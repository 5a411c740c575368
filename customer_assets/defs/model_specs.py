"""Which models the automation watches: one spec per model, by name only.

The model modules are wired by other people and may not exist yet, so nothing here imports them: a spec names
the training asset, the registered MLflow model, the scored table and where labels come from, and
`build_automation` skips every part of a spec whose assets are not in the code location.

Defaults cover churn, segmentation, recommendation, review sentiment and customer value. A JSON file named by
CUSTOMER_ML_MODEL_SPECS replaces them (a list of objects with the fields of `ModelSpec`; `labels` and
`performance` as nested objects or null).
"""

import json
from dataclasses import dataclass, fields
from pathlib import Path

import dagster as dg

from customer_assets.config import automation_settings


@dataclass(frozen=True)
class LabelSource:
    """Rows that carry an outcome. A row dated D has its label known `delay_days` after D."""

    table: str  # "schema.table"
    date_column: str
    delay_days: int = 0


@dataclass(frozen=True)
class RealizedPerformance:
    """How to score the champion's past predictions against outcomes observed since.

    Scores made as of day D (the score table's as_of_date) are joined to labels whose `label_date_column` is D
    on `key_column`; the most recent such day is "recent data".
    """

    label_table: str
    label_column: str
    label_date_column: str
    key_column: str = "customer_id"
    metric: str = "roc_auc"
    floor: float = 0.65


@dataclass(frozen=True)
class ModelSpec:
    name: str
    training_asset: str  # asset key as a user string: "churn_model" or "marts/x"
    registry_name: str  # registered model name in MLflow
    score_table: str | None = None  # "marts.churn_scores": partitioned by as_of_date
    score_columns: tuple[str, ...] = ()  # first one present is the score whose distribution is watched
    key_features: tuple[str, ...] = ()  # marts.customer_features columns whose drift triggers retraining
    labels: LabelSource | None = None
    performance: RealizedPerformance | None = None
    new_labels_threshold: int = 500
    churn_rate_alert: bool = False  # attach the "churn rate above 25%" business check to the score table
    score_asset: str | None = None  # asset key of the score table when it is not "schema/table"
    # Metadata float the training asset reports for the serving model's holdout metric (checked against
    # `performance.floor`): the floor is watched from the first training run, before any outcome is known.
    holdout_metric_key: str | None = None

    @property
    def training_key(self) -> dg.AssetKey:
        return dg.AssetKey.from_user_string(self.training_asset)

    @property
    def score_key(self) -> dg.AssetKey | None:
        if self.score_asset:
            return dg.AssetKey.from_user_string(self.score_asset)
        return dg.AssetKey(self.score_table.split(".")) if self.score_table else None


CHURN_FEATURES = ("recency_days", "frequency", "monetary", "orders_90d", "order_trend", "engagement_score")

DEFAULT_MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="churn",
        training_asset="churn_model",
        registry_name="churn_model",
        score_table="marts.churn_scores",
        score_columns=("churn_probability", "churn_score", "probability"),
        key_features=CHURN_FEATURES,
        labels=LabelSource("marts.churn_training_set", "cutoff_date", delay_days=90),
        performance=RealizedPerformance(
            "marts.churn_training_set", "churned", "cutoff_date", "customer_id", "roc_auc", floor=0.65
        ),
        churn_rate_alert=True,
        holdout_metric_key="holdout_roc_auc",
    ),
    ModelSpec(
        name="segmentation",
        training_asset="segmentation_model",
        registry_name="customer_segmentation",
        score_table="marts.customer_segments",
        score_columns=("segment_id", "segment"),
        key_features=("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"),
    ),
    ModelSpec(
        name="recommendation",
        training_asset="recommendation_model",
        registry_name="product_recommender",
        score_table="marts.product_recommendations",
        score_asset="product_recommendations",
        score_columns=("score",),
        key_features=("frequency", "category_breadth"),
        labels=LabelSource("staging.stg_orders", "order_date"),
        new_labels_threshold=2000,
    ),
    ModelSpec(
        name="sentiment",
        training_asset="sentiment_model",
        registry_name="review_sentiment",
        score_table="marts.review_sentiment",
        score_columns=("sentiment_score", "sentiment_label"),
        labels=LabelSource("staging.stg_reviews", "review_date"),
        new_labels_threshold=1000,
    ),
    # Customer value learns from every completed order, so new orders are its new labels; realized performance
    # (predicted vs actual orders over the horizon) is judged by the training asset's own holdout, not here.
    ModelSpec(
        name="value",
        training_asset="value_model",
        registry_name="customer_value_model",
        score_table="marts.customer_value",
        score_columns=("expected_value", "expected_orders", "p_alive"),
        key_features=("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"),
        labels=LabelSource("staging.stg_orders", "order_date"),
        new_labels_threshold=2000,
    ),
)


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
    for name in ("score_columns", "key_features"):
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
