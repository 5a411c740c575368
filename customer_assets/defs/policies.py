"""Partitions, freshness and ownership shared by the asset definitions."""

from datetime import timedelta

import dagster as dg

from customer_assets.config import Settings

OWNER = "team:customer-analytics"


# Before any source is loaded (a fresh `dagster dev`), every date the input contract admits is a partition.
EARLIEST_PARTITION = "1970-01-01"


def partition_start(settings: Settings) -> str:
    """CUSTOMER_ML_PARTITION_START if set, else the first day of data in the validated landing snapshot.

    Real histories start in any year; the first as-of date that can be built is the first day with data.
    The synthetic source knows its start without being loaded; a folder source is known once it has landed
    (`make run` rebuilds the definitions after loading it)."""
    if settings.partition_start:
        return settings.partition_start
    from customer_assets.sources import landing
    from customer_assets.sources.synthetic import SyntheticSpec

    first = landing.first_date(settings.landing_dir)
    if first is not None:
        return first.isoformat()
    if settings.source == "synthetic":
        return SyntheticSpec(end_date=settings.synthetic_end_date).start_date.isoformat()
    return EARLIEST_PARTITION


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """One as-of partition per day from `partition_start`; today's exists so the daily run can fill it."""
    return dg.DailyPartitionsDefinition(start_date=partition_start(settings), end_offset=1)


# Everything is refreshed by the daily run; a day and a bit without a materialization is a failure.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=24))
