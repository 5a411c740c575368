"""`python -m customer_assets.cli run`: materialize the whole graph once and say what was built.

The graph is run as three jobs because partitioning changes along it: the source and unpartitioned raw
tables, then every day of history as one ranged run, then everything downstream.
"""

import argparse
import datetime as dt
import os
import sys
import warnings

import dagster as dg


def _instance() -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        os.makedirs(os.environ["DAGSTER_HOME"], exist_ok=True)
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def as_of_partition(settings) -> str:
    """The configured as-of date, or the latest order date: orders are what customer activity means here."""
    from customer_assets.sources import landing

    return settings.as_of.isoformat() if settings.as_of else landing.date_range(settings.landing_dir, ("orders",))[1].isoformat()


MAX_GAP_DAYS = 31


def history_ranges(settings) -> list[tuple[str, str]]:
    """Contiguous blocks of days that hold data, within the partitions; one ranged run each.

    Years without a single row (e.g. two datasets far apart in time) would otherwise cost a materialization
    event per empty day and table.
    """
    from customer_assets.defs.policies import daily_partitions
    from customer_assets.sources import landing

    keys = daily_partitions(settings).get_partition_keys()
    first_key, last_key = dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])
    dates = landing.data_dates(settings.landing_dir)
    if dates and dates[0] < first_key:
        print(f"note: data starts {dates[0]}, before the first partition {first_key}; "
              f"set CUSTOMER_ML_PARTITION_START to load it", file=sys.stderr)
    dates = [d for d in dates if first_key <= d <= last_key]
    ranges, start, previous = [], None, None
    for day in dates:
        if start is None:
            start = day
        elif (day - previous).days > MAX_GAP_DAYS:
            ranges.append((start.isoformat(), previous.isoformat()))
            start = day
        previous = day
    if start is not None:
        ranges.append((start.isoformat(), previous.isoformat()))
    return ranges


def run_all(settings, instance=None, quiet: bool = True, raise_on_error: bool = True) -> list:
    """Materialize everything for `settings`; returns every run's result (source, history blocks, marts)."""
    from customer_assets.definitions import build_definitions

    defs = build_definitions(settings)
    instance = instance or _instance()
    run_config = QUIET if quiet else None
    options = {"instance": instance, "run_config": run_config, "raise_on_error": raise_on_error}
    results = [defs.resolve_job_def("load_source").execute_in_process(**options)]
    for start, end in history_ranges(settings):
        results.append(defs.resolve_job_def("load_history").execute_in_process(
            tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
            **options,
        ))
    results.append(defs.resolve_job_def("build_marts").execute_in_process(
        partition_key=as_of_partition(settings), **options))
    return results


def summary(results, settings) -> str:
    from customer_assets.warehouse.client import Warehouse

    warehouse = Warehouse(duckdb_path=settings.duckdb_path, url=settings.warehouse_url)
    lines = ["", "customer-ml: the graph is built.", "", "Tables (rows):"]
    tables = warehouse.query(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('raw', 'marts') ORDER BY 1, 2"
    )
    for schema, table in tables.iter_rows():
        lines.append(f"  {schema}.{table:<32} {warehouse.row_count(schema, table):>12,}")
    passed, failures, warnings_ = 0, [], []
    for result in results:
        for event in result.all_events:
            if event.event_type_value == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                if evaluation.passed:
                    passed += 1
                elif evaluation.severity == dg.AssetCheckSeverity.WARN:
                    warnings_.append(name)  # an alert about the data or the business, not a broken build
                else:
                    failures.append(name)
    lines += ["", f"Checks: {passed} passed, {len(failures)} failed, {len(warnings_)} warnings"]
    lines += [f"  failed: {name}" for name in failures] + [f"  warning: {name}" for name in warnings_]
    failed_steps = [f"{event.step_key}: {event.event_specific_data.error.message.strip().splitlines()[0]}"
                    for result in results for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    if failed_steps:
        lines += ["", "Failed steps (their downstream assets were skipped; everything else was built):",
                  *[f"  {step}" for step in failed_steps]]
    where = ("PostgreSQL: " + settings.warehouse_url) if settings.is_postgres else f"DuckDB: {settings.duckdb_path}"
    lines += [
        "",
        "Look next:",
        "  make dev      # the Dagster UI on http://127.0.0.1:3000 (assets, checks, backfills)",
        "  make serve    # live scoring on http://127.0.0.1:3001 (OpenAPI docs at the root)",
        f"  SQL           # {where}",
        # The duckdb Python package ships no CLI; the venv's Python always works.
        f"                #   .venv/bin/python -c \"import duckdb; duckdb.connect('{settings.duckdb_path}', "
        "read_only=True).sql('select * from marts.customer_features limit 5').show()\""
        if not settings.is_postgres else "                #   psql ... -c 'select * from marts.customer_features limit 5'",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="customer_assets.cli")
    parser.add_argument("command", choices=["run"])
    parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=dg.BetaWarning if hasattr(dg, "BetaWarning") else Warning)
    from customer_assets.config import load_settings

    started = dt.datetime.now()
    settings = load_settings()
    # Keep going past a failed step (e.g. a model that does not beat its baseline is blocked by its gate) so
    # every independent asset is still built, then report the failure and exit non-zero.
    results = run_all(settings, raise_on_error=False)
    print(summary(results, settings))
    print(f"\nDone in {(dt.datetime.now() - started).total_seconds():.0f} s.")
    return 0 if all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
