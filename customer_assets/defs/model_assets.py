"""The asset factory for declared models: every domain's training and scoring assets are built here.

A domain module (`defs/churn/assets.py`, `defs/segmentation/assets.py`, ...) writes only its asset bodies — read
the inputs, call its pure library under `customer_assets/ml/`, hand the figures to `mlops.lifecycle` — and
decorates them with `training_asset` / `scoring_asset`. Everything the five domains share comes from the model
declaration (`customer_assets.models`): the asset name and key, group, owner, freshness policy, the one
non-blocking `champion_gate` check on the training asset, the per-partition backfill policy of score tables, the
degrade-on-failure wrapper (one model's failure never stops unrelated outputs), and the launchpad run config of
the knobs a user tunes per run.

Run config: `run_knobs(context, knobs)` overlays the run's config on the domain's knobs read from settings.
Every field defaults to null, which means "the setting" (named, with its current value, in the field's
description), so a launched run that sets nothing behaves exactly like the nightly schedule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import dagster as dg

from customer_assets.config import SettingsError, env_name, with_overrides
from customer_assets.defs.degrade import degrade_on_failure
from customer_assets.defs.policies import DAILY_FRESHNESS, OWNER
from customer_assets.mlops.lifecycle import GATE_CHECK
from customer_assets.models import ModelDeclaration

_DAGSTER_TYPES: dict[type, Any] = {int: dg.Int, float: dg.Float, str: dg.String, bool: dg.Bool}


def knob_config(section: type, names: tuple[str, ...]) -> dict[str, dg.Field]:
    """Launchpad fields for the knobs `names` of a settings section class (null = the setting).

    Tuple knobs (e.g. the churn model families) are comma-separated strings in the launchpad, as in the env.
    Nothing is read from the environment here: a bad setting fails the run that uses it, not the code location."""
    fields = {f.name: f for f in dataclasses.fields(section)}
    config = {}
    for name in names:
        if name not in fields or "doc" not in fields[name].metadata:
            raise KeyError(f"{section.__name__} has no knob {name!r}")
        item = fields[name]
        default = item.default if item.default is not dataclasses.MISSING else item.default_factory()  # type: ignore[misc]
        kind = str if isinstance(default, tuple) else type(default)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        config[name] = dg.Field(
            dg.Noneable(_DAGSTER_TYPES[kind]),
            default_value=None,
            is_required=False,
            description=f"{item.metadata['doc']} Null: the setting {env_name(section, item)} (default {shown}).",
        )
    return config


def run_knobs(context: dg.AssetExecutionContext, knobs: Any) -> Any:
    """`knobs` with the run config's non-null fields in their place, each checked like its setting."""
    run_config = context.op_execution_context.op_config or {}
    chosen = {name: value for name, value in run_config.items() if value is not None}
    if not chosen:
        return knobs
    try:
        tuned = with_overrides(knobs, chosen, f"run config of {context.asset_key.to_user_string()}")
    except SettingsError as error:
        raise dg.Failure(description=str(error)) from None
    context.log.info(f"run config overrides: {chosen}")
    return tuned


def training_asset(
    model: ModelDeclaration,
    *,
    deps: list,
    description: str,
    gate_description: str,
    kinds: set[str],
    check_specs: tuple[dg.AssetCheckSpec, ...] = (),
    config_schema: dict | None = None,
) -> Callable:
    """The decorator of a declared model's training asset (named `model.training_asset`, one `champion_gate`)."""

    def build(body: Callable) -> dg.AssetsDefinition:
        return dg.asset(
            key=model.training_key,
            group_name=model.group,
            owners=[OWNER],
            deps=deps,
            kinds=kinds,
            freshness_policy=DAILY_FRESHNESS,
            description=description,
            config_schema=config_schema,
            check_specs=[
                dg.AssetCheckSpec(GATE_CHECK, asset=model.training_key, blocking=False, description=gate_description),
                *check_specs,
            ],
        )(degrade_on_failure(body))

    return build


def scoring_asset(
    model: ModelDeclaration,
    table: str,
    *,
    partitions_def: dg.PartitionsDefinition,
    deps: list,
    description: str,
    kinds: set[str],
    check_specs: tuple[dg.AssetCheckSpec, ...] = (),
    config_schema: dict | None = None,
) -> Callable:
    """The decorator of one of a declared model's tables (`marts.x` -> key `marts/x`), one partition per day."""

    def build(body: Callable) -> dg.AssetsDefinition:
        return dg.asset(
            key=model.table_key(table),
            group_name=model.group,
            owners=[OWNER],
            deps=deps,
            partitions_def=partitions_def,
            backfill_policy=dg.BackfillPolicy.multi_run(1),
            kinds=kinds,
            freshness_policy=DAILY_FRESHNESS,
            description=description,
            config_schema=config_schema,
            check_specs=list(check_specs),
        )(degrade_on_failure(body))

    return build


@dataclass(frozen=True)
class Table:
    """One output of a step that writes several of a declared model's tables together."""

    name: str  # "marts.review_topics"
    deps: list
    kinds: set[str]
    description: str


def scoring_multi_asset(
    model: ModelDeclaration,
    name: str,
    tables: list[Table],
    *,
    partitions_def: dg.PartitionsDefinition,
    description: str,
    check_specs: tuple[dg.AssetCheckSpec, ...] = (),
    config_schema: dict | None = None,
) -> Callable:
    """The decorator of a step writing several of a declared model's tables as of one day (e.g. the review tables)."""
    specs = [
        dg.AssetSpec(
            model.table_key(table.name),
            deps=table.deps,
            kinds=table.kinds,
            group_name=model.group,
            owners=[OWNER],
            freshness_policy=DAILY_FRESHNESS,
            description=table.description,
        )
        for table in tables
    ]

    def build(body: Callable) -> dg.AssetsDefinition:
        return dg.multi_asset(
            name=name,
            specs=specs,
            check_specs=list(check_specs),
            partitions_def=partitions_def,
            backfill_policy=dg.BackfillPolicy.multi_run(1),
            description=description,
            config_schema=config_schema,
        )(degrade_on_failure(body))

    return build
