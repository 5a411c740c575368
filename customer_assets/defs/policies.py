"""Partitions, freshness and ownership shared by the asset definitions."""


from datetime import timedelta

import dagster as dg

from customer_assets.config import Settings

OWNER = "team:customer-analytics"


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """One partition per day from the configured start; today's partition exists so the daily run can fill it."""
    return dg.DailyPartitionsDefinition(start_date=settings.partition_start, end_offset=1)

# Everything is refreshed by the daily run; a day and a bit without a materialization is a failure.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=24))
