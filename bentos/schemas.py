"""Request and response models of the live scoring service (pydantic; BentoML builds the OpenAPI docs from them).

Unknown fields are rejected (`extra="forbid"`), so a typo is a 400 that names the field instead of being
silently ignored. Limits are part of the schema where pydantic can state them; the batch row limit and the
body size limit are checked by the service and answer 413. The constrained types the pure serving code checks
too (`K`, `HorizonDays`) come from customer_assets.serving.validation, so both enforce one rule.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from customer_assets.config import serve_settings
from customer_assets.serving.validation import MAX_HORIZON_DAYS, HorizonDays, K

MAX_BATCH_ROWS = serve_settings().max_batch_rows
MAX_TEXTS = 100
MAX_TEXT_CHARS = 5000

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerOrFeatures(Strict):
    customer_id: Identifier | None = Field(
        None, description="Look the customer up in the online snapshot.", examples=["C0000001"]
    )
    features: dict[str, Any] | None = Field(
        None,
        description="Or score this feature payload (every input column of the champion; null for unknown). "
        "With both, customer_id only labels the answer.",
    )

    @model_validator(mode="after")
    def one_of(self):
        if self.customer_id is None and self.features is None:
            raise ValueError("send customer_id (a customer in the online snapshot) or features (a feature payload)")
        return self


class ChurnRequest(CustomerOrFeatures):
    pass


class ChurnResponse(BaseModel):
    customer_id: str | None
    churn_probability: float = Field(description="Calibrated P(churn) in the churn window.")
    risk_level: str = Field(description="Low < 0.2 <= Medium < 0.5 <= High")
    top_reasons: list[str] = Field(description="Up to 3 readable drivers that push the risk up.")
    model_version: int
    as_of: str | None = Field(None, description="As-of date of the snapshot features (null for a payload).")


class ChurnBatchRequest(Strict):
    customers: list[ChurnRequest] = Field(
        min_length=1, description=f"1 to {MAX_BATCH_ROWS} rows (CUSTOMER_ML_SERVE_MAX_BATCH_ROWS); more is a 413."
    )


class ChurnBatchResponse(BaseModel):
    predictions: list[ChurnResponse]
    count: int
    model_version: int


class SegmentRequest(CustomerOrFeatures):
    pass


class SegmentResponse(BaseModel):
    customer_id: str | None
    segment_id: int
    segment_name: str
    model_version: int


class RecommendationRequest(Strict):
    customer_id: Identifier
    k: K = 10
    country: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="Cold start for a customer unknown to the snapshot: their country's popular list."
    )


class Item(BaseModel):
    rank: int
    product_id: str
    score: float


class RecommendationResponse(BaseModel):
    customer_id: str
    k: int
    source: str = Field(description="snapshot (published list), model (computed live) or cold_start")
    strategy: str
    known_customer: bool
    items: list[Item]
    model_version: int


class SimilarProductsRequest(Strict):
    product_id: Identifier
    k: K = 10


class SimilarProductsResponse(BaseModel):
    product_id: str
    k: int
    source: str
    items: list[Item]
    model_version: int


class SentimentRequest(Strict):
    texts: list[Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]] = Field(
        min_length=1,
        max_length=MAX_TEXTS,
        description=f"1 to {MAX_TEXTS} texts of at most {MAX_TEXT_CHARS} characters.",
    )


class Sentiment(BaseModel):
    index: int
    label: str | None = Field(description="negative / neutral / positive; null for a text without letters")
    score: float | None = Field(description="P(positive) - P(negative), in [-1, 1]")


class SentimentResponse(BaseModel):
    predictions: list[Sentiment]
    model_version: int


class ModelInfo(BaseModel):
    name: str
    version: int
    metrics: dict[str, float]
    trained_at: str | None
    run_id: str | None
    loaded_at: str | None


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    snapshot: dict | None
    pinned: dict[str, int] = Field(
        default_factory=dict,
        description="Models pinned to a version (POST "
        "/models/{name}/load), served instead of their champion until unpinned.",
    )
    problems: dict[str, str] = Field(default_factory=dict, description="What could not be loaded, and why.")


class PurchaseSummary(Strict):
    orders: int = Field(ge=1, le=1_000_000, strict=True, description="Purchase days up to the as-of date.")
    days_since_first: int = Field(ge=0, le=36_500, strict=True, description="Days from the first purchase.")
    days_since_last: int = Field(ge=0, le=36_500, strict=True, description="Days from the last purchase.")
    mean_order_value: float | None = Field(
        None, ge=0, le=1e9, allow_inf_nan=False, description="Mean value of a purchase day (all of them)."
    )
    mean_repeat_value: float | None = Field(
        None, ge=0, le=1e9, allow_inf_nan=False, description="Mean value of the purchases after the first (better)."
    )


class ValueRequest(Strict):
    customer_id: Identifier | None = Field(
        None, description="Look the customer up in the online snapshot.", examples=["C0000001"]
    )
    summary: PurchaseSummary | None = Field(
        None,
        description="Or score this purchase summary (as of the "
        "snapshot's as-of date). With both, customer_id only "
        "labels the answer.",
    )
    horizon_days: HorizonDays | None = Field(
        None,
        description=f"Days ahead (1 to {MAX_HORIZON_DAYS}) for expected orders / value (default: the churn window "
        "the snapshot was scored with).",
    )

    @model_validator(mode="after")
    def one_of(self):
        if self.customer_id is None and self.summary is None:
            raise ValueError("send customer_id (a customer in the online snapshot) or summary (a purchase summary)")
        return self


class ValueResponse(BaseModel):
    customer_id: str | None
    p_alive: float = Field(description="P(not dropped out) at the as-of date.")
    p_order: float = Field(description="P(at least one order in the horizon); 1 - this is P(churn).")
    expected_orders: float
    expected_order_value: float
    expected_value: float = Field(description="Expected spend in the horizon (undiscounted).")
    horizon_days: int
    clv_12m: float = Field(description="Discounted expected spend over the next 12 months.")
    model_version: int
    as_of: str | None
    source: str = Field(description="snapshot (published row), model (rescored by the loaded champion) or summary")


class RetentionTarget(BaseModel):
    rank: int
    customer_id: str
    value_at_risk: float | None = Field(description="P(churn) x expected value over the horizon.")
    churn_probability: float | None
    churn_probability_source: str = Field(description="churn_model, or value_model where no churn score exists")
    risk_level: str | None
    top_reasons: list[str]
    segment_name: str | None
    expected_value: float | None
    clv_12m: float | None
    p_alive: float | None
    recommended_products: list[str]
    horizon_days: int
    churn_model_version: int | None
    value_model_version: int


class RetentionTargetsResponse(BaseModel):
    as_of: str | None
    limit: int
    count: int
    total: int
    targets: list[RetentionTarget]


class PinRequest(Strict):
    version: int = Field(ge=1, strict=True, description="A registered version of the model to serve.")
