"""Declarative automation helpers any asset module can apply without this module knowing about it.

The daily schedule rebuilds every asset for the day; these conditions cover what happens between daily runs:
when an upstream asset is materialized on its own (a retraining run promotes a new champion, a partition is
re-loaded), the assets that apply them are refreshed for the latest as-of partitions by the automation sensor.

    from customer_assets.defs.automation_conditions import with_refresh_on_update
    assets = with_refresh_on_update([my_scored_table])
"""

import datetime as dt
from typing import Iterable

import dagster as dg

# The newest as-of partition is yesterday (today's exists but is filled by tonight's run): look back two days.
LATEST_AS_OF_LOOKBACK = dt.timedelta(days=2)


def refresh_when_deps_update(lookback: dt.timedelta = LATEST_AS_OF_LOOKBACK) -> dg.AutomationCondition:
    """Like `AutomationCondition.eager()`, but covering the last two as-of partitions and never filling
    partitions merely because they are missing (the schedule does that, in order)."""
    return (
        dg.AutomationCondition.in_latest_time_window(lookback)
        & dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("refresh_when_deps_update")


def with_refresh_on_update(assets: Iterable, condition: dg.AutomationCondition | None = None) -> list:
    """The same assets with `condition` (default `refresh_when_deps_update()`) on every spec; checks pass through."""
    condition = condition or refresh_when_deps_update()
    return [
        dg.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=condition), [a])[0]
        if isinstance(a, (dg.AssetsDefinition, dg.AssetSpec)) and not isinstance(a, dg.AssetChecksDefinition)
        else a
        for a in assets
    ]
