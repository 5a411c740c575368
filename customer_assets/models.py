"""The model declarations: one per model domain, imported by definitions, automation, monitoring and serving.

A declaration names everything the rest of the platform needs to know about a model without importing it:
the training asset, the MLflow registered model, the tables it writes, the metric the champion / challenger
lifecycle compares on (and its direction), the plain baseline it must beat, and what the automation watches
(score columns whose distribution drifts, the features behind it, where outcomes arrive, a realized-metric
floor). Adding a model is a declaration here plus its library under ``customer_assets/ml/`` and a thin
``defs/<domain>/assets.py`` built with ``customer_assets.defs.model_assets``.

This module knows nothing of Dagster or MLflow (the scoring service imports it); asset keys are user strings
(``"marts/churn_scores"``) and ``asset_key`` turns one into a Dagster key where Dagster is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass


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
class ModelDeclaration:
    name: str  # the domain: "churn"
    training_asset: str  # asset key as a user string: "churn_model"
    registry_name: str  # registered model name in MLflow
    score_table: str | None = None  # "marts.churn_scores": partitioned by as_of_date, watched for drift
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
    # The lifecycle: what the challenger, the champion and the plain baseline are compared on.
    group: str = ""  # Dagster asset group of the domain
    primary_metric: str = ""
    higher_is_better: bool = True
    baselines: tuple[str, ...] = ()  # the plain baselines the serving model must beat on the same holdout
    tables: tuple[str, ...] = ()  # every warehouse table the domain's Python assets write ("marts.x")
    served: bool = True  # loaded by the scoring service

    @property
    def score_asset_key(self) -> str | None:
        """The score table's asset key as a user string ("marts/churn_scores")."""
        if self.score_asset:
            return self.score_asset
        return self.score_table.replace(".", "/") if self.score_table else None

    @property
    def training_key(self):
        return asset_key(self.training_asset)

    @property
    def score_key(self):
        key = self.score_asset_key
        return asset_key(key) if key else None

    def table_key(self, table: str):
        """The Dagster key of one of the domain's tables: "marts.x" -> AssetKey(["marts", "x"])."""
        if table not in self.tables:
            raise KeyError(f"{self.name} declares no table {table!r} (declared: {', '.join(self.tables)})")
        return asset_key(table.replace(".", "/"))


def asset_key(user_string: str):
    import dagster as dg  # only where Dagster is loaded: the scoring service never asks for a key

    return dg.AssetKey.from_user_string(user_string)


CHURN_FEATURES = ("recency_days", "frequency", "monetary", "orders_90d", "order_trend", "engagement_score")
VALUE_FEATURES = ("recency_days", "frequency", "monetary", "avg_order_value", "tenure_days")

CHURN = ModelDeclaration(
    name="churn",
    training_asset="churn_model",
    registry_name="churn_model",
    group="churn",
    score_table="marts.churn_scores",
    tables=("marts.churn_scores",),
    primary_metric="roc_auc",
    baselines=("logistic_onehot", "frequency_only", "recency_only"),
    score_columns=("churn_probability", "churn_score", "probability"),
    key_features=CHURN_FEATURES,
    labels=LabelSource("marts.churn_training_set", "cutoff_date", delay_days=90),
    performance=RealizedPerformance(
        "marts.churn_training_set", "churned", "cutoff_date", "customer_id", "roc_auc", floor=0.65
    ),
    churn_rate_alert=True,
    holdout_metric_key="holdout_roc_auc",
)
SEGMENTATION = ModelDeclaration(
    name="segmentation",
    training_asset="segmentation_model",
    registry_name="customer_segmentation",
    group="segmentation",
    score_table="marts.customer_segments",
    tables=("marts.customer_segments", "marts.segment_profiles", "marts.customer_embedding"),
    primary_metric="silhouette",
    baselines=("value_quantile_baseline",),
    score_columns=("segment_id", "segment"),
    key_features=VALUE_FEATURES,
)
RECOMMENDATION = ModelDeclaration(
    name="recommendation",
    training_asset="recommendation_model",
    registry_name="product_recommender",
    group="recommendations",
    score_table="marts.product_recommendations",
    tables=("marts.product_recommendations", "marts.similar_products"),
    primary_metric="ndcg@10",
    baselines=("popularity",),
    score_columns=("score",),
    key_features=("frequency", "category_breadth"),
    labels=LabelSource("staging.stg_orders", "order_date"),
    new_labels_threshold=2000,
)
SENTIMENT = ModelDeclaration(
    name="sentiment",
    training_asset="sentiment_model",
    registry_name="review_sentiment",
    group="reviews",
    score_table="marts.review_sentiment",
    tables=("marts.review_sentiment", "marts.review_topics", "marts.product_sentiment", "marts.customer_sentiment"),
    primary_metric="macro_f1",
    baselines=("vader", "majority class"),  # the lexicon where the language allows
    score_columns=("sentiment_score", "sentiment_label"),
    labels=LabelSource("staging.stg_reviews", "review_date"),
    new_labels_threshold=1000,
)
# Customer value learns from every completed order, so new orders are its new labels; realized performance
# (predicted vs actual orders over the horizon) is judged by the training asset's own holdout, not here.
VALUE = ModelDeclaration(
    name="value",
    training_asset="value_model",
    registry_name="customer_value_model",
    group="value",
    score_table="marts.customer_value",
    tables=("marts.customer_value", "marts.retention_targets"),
    primary_metric="value_mae",
    higher_is_better=False,
    baselines=("naive",),
    score_columns=("expected_value", "expected_orders", "p_alive"),
    key_features=VALUE_FEATURES,
    labels=LabelSource("staging.stg_orders", "order_date"),
    new_labels_threshold=2000,
)

MODELS: tuple[ModelDeclaration, ...] = (CHURN, SEGMENTATION, RECOMMENDATION, SENTIMENT, VALUE)
SERVED_MODEL_NAMES: tuple[str, ...] = tuple(m.registry_name for m in MODELS if m.served)


def by_registry_name(name: str) -> ModelDeclaration:
    for model in MODELS:
        if model.registry_name == name:
            return model
    raise KeyError(f"unknown model {name!r} (models: {', '.join(m.registry_name for m in MODELS)})")
