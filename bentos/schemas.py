"""Request and response models of the live scoring service (pydantic; BentoML builds the OpenAPI docs from them).

Unknown fields are rejected (`extra="forbid"`), so a typo is a 400 that names the field instead of being
silently ignored. Limits are part of the schema where pydantic can state them; the batch row limit and the
body size limit are checked by the service and answer 413.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_K = 100
MAX_BATCH_ROWS = int(os.environ.get("CUSTOMER_ML_SERVE_MAX_BATCH_ROWS") or 1000)
MAX_TEXTS = 100
MAX_TEXT_CHARS = 5000

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
K = Annotated[int, Field(ge=1, le=MAX_K, strict=True, description=f"How many items, 1 to {MAX_K}.")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerOrFeatures(Strict):
    customer_id: Identifier | None = Field(None, description="Look the customer up in the online snapshot.",
                                           examples=["C0000001"])
    features: dict[str, Any] | None = Field(
        None, description="Or score this feature payload (every input column of the champion; null for unknown). "
                          "With both, customer_id only labels the answer.")

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
        min_length=1, description=f"1 to {MAX_BATCH_ROWS} rows (CUSTOMER_ML_SERVE_MAX_BATCH_ROWS); more is a 413.")


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
        None, description="Cold start for a customer unknown to the snapshot: their country's popular list.")


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
        min_length=1, max_length=MAX_TEXTS, description=f"1 to {MAX_TEXTS} texts of at most {MAX_TEXT_CHARS} "
                                                        "characters.")


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
    problems: dict[str, str] = Field(default_factory=dict, description="What could not be loaded, and why.")
