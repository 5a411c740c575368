"""The code location: every asset, check, job and resource of customer-ml."""

import dagster as dg

from customer_assets.config import Settings, load_settings
from customer_assets.defs.automation import with_automation
from customer_assets.defs.churn.assets import build_churn_assets
from customer_assets.defs.dbt.assets import build_dbt_assets, dbt_resource
from customer_assets.defs.jobs import build_jobs
from customer_assets.defs.policies import daily_partitions
from customer_assets.defs.recommendation.assets import build_recommendation_assets
from customer_assets.defs.resources import build_resources
from customer_assets.defs.review.assets import build_review_assets
from customer_assets.defs.segmentation.assets import build_segmentation_assets
from customer_assets.defs.serving.assets import build_serving_assets
from customer_assets.defs.sources.assets import build_raw_assets
from customer_assets.defs.value.assets import build_value_assets


def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything bound to one configuration, so tests can build the graph against their own home."""
    partitions = daily_partitions(settings)
    return with_automation(
        dg.Definitions(
            assets=[
                *build_raw_assets(),
                *build_dbt_assets(partitions),
                *build_churn_assets(partitions),
                *build_review_assets(partitions),
                *build_recommendation_assets(partitions),
                *build_segmentation_assets(partitions),
                *build_value_assets(partitions),
                *build_serving_assets(),
            ],
            jobs=build_jobs(),
            resources={**build_resources(settings), "dbt": dbt_resource(settings)},
            executor=dg.in_process_executor,
        ),
        partitions,
    )


defs = build_definitions(load_settings())
