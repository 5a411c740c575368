"""The dbt project in `warehouse/` as Dagster assets: each model an asset, each dbt test an asset check."""

import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from customer_assets.config import DBT_PROJECT_DIR, Settings
from customer_assets.defs.policies import DAILY_FRESHNESS, OWNER
from customer_assets.warehouse.dbt_env import dbt_vars, target_name, write_profile

# The dbt installed in this virtualenv, also for dagster-dbt's own parse in `dagster dev`, without activation.
VENV_BIN = Path(sys.prefix) / "bin"
if str(VENV_BIN) not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
if not dbt_project.manifest_path.exists():
    # A fresh clone has no manifest yet: parse once so the definitions can load anywhere.
    dbt_project.preparer.prepare(dbt_project)


class CustomerDbtTranslator(DagsterDbtTranslator):
    """Models keyed as <schema>/<name> (e.g. marts/customer_features), grouped by layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "model":
            return dg.AssetKey([dbt_resource_props["config"]["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return dbt_resource_props["config"]["schema"]
        return super().get_group_name(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return [OWNER]

    def get_partition_mapping(self, dbt_resource_props, dbt_parent_resource_props):
        # Features as of a day are computed from every day of history up to it, not from that day alone.
        if (
            dbt_parent_resource_props.get("resource_type") == "source"
            and dbt_parent_resource_props.get("source_name") == "raw"
        ):
            return dg.AllPartitionMapping()
        return super().get_partition_mapping(dbt_resource_props, dbt_parent_resource_props)

    def get_asset_spec(self, manifest, unique_id, project):
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("model."):
            spec = spec.replace_attributes(freshness_policy=DAILY_FRESHNESS)
        return spec


SCORED = "tag:scored"  # models that read what the Python model assets write, so they run after them


def build_dbt_assets(partitions_def: dg.TimeWindowPartitionsDefinition) -> list[dg.AssetsDefinition]:
    """dbt models partitioned by as-of date: materializing a day rebuilds the marts as of that day.

    Two asset definitions from one project: the models the ML reads (staging → marts.customer_features), and the
    `scored` models that join the ML's output back (marts.customer_360). One `dbt build` for both would put the
    model assets both downstream and upstream of a single step."""

    common = dict(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=CustomerDbtTranslator(),
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.multi_run(1),
    )

    @dbt_assets(**common, exclude=SCORED, name="warehouse_models")
    def warehouse_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        """dbt build: staging views, intermediate and mart tables, and every dbt test as an asset check."""
        yield from _build(context, dbt)

    @dbt_assets(**common, select=SCORED, name="scored_models")
    def scored_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        """dbt build of the marts that join the model outputs (customer_360), with their tests."""
        yield from _build(context, dbt)

    return [warehouse_models, scored_models]


def _build(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    as_of = context.partition_key
    yield from dbt.cli(["build", "--vars", json.dumps({"as_of": as_of})], context=context).stream()


class WarehouseDbtResource(DbtCliResource):
    """dbt against one home's warehouse: that home's profile, and the settings' project variables merged into
    every command's `--vars` (a command's own variables win, e.g. the partition's `as_of`)."""

    project_vars: str = "{}"  # JSON object

    def cli(self, args, **kwargs):
        args = list(args)
        settings_vars = json.loads(self.project_vars)
        if "--vars" in args:
            at = args.index("--vars") + 1
            args[at] = json.dumps({**settings_vars, **json.loads(args[at])})
        else:
            args += ["--vars", json.dumps(settings_vars)]
        return super().cli(args, **kwargs)


def dbt_resource(settings: Settings) -> WarehouseDbtResource:
    beside = VENV_BIN / "dbt"
    return WarehouseDbtResource(
        project_dir=dbt_project,
        profiles_dir=str(write_profile(settings)),
        target=target_name(settings),
        dbt_executable=str(beside) if beside.exists() else "dbt",
        project_vars=json.dumps(dbt_vars(settings)),
    )
