"""`python -m customer_assets.cli run`: materialize the whole graph once and say what was built.

The graph is run as two jobs because partitioning changes along it: the source and the raw tables (all of
history), then everything downstream as of one day.
"""

import argparse
import datetime as dt
import os
import sys
import traceback
import warnings
from pathlib import Path

import dagster as dg


def _instance() -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        os.makedirs(os.environ["DAGSTER_HOME"], exist_ok=True)
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


# The console shows nothing from Dagster but critical errors: failures are summarized at the end in plain
# words, and the full logs (tracebacks included) stay in the Dagster instance (`make dev`).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
MAX_DETAIL_LINES = 12


class RunStopped(Exception):
    """A problem the user can fix, said in one line with what to do (no traceback)."""


def as_of_partition(settings, partitions_def=None) -> str:
    """The configured as-of date, or the latest order date: orders are what customer activity means here."""
    from customer_assets.defs.policies import daily_partitions
    from customer_assets.sources import landing

    partitions_def = partitions_def or daily_partitions(settings)
    day = settings.as_of or landing.date_range(settings.landing_dir, ("orders",))[1]
    if day is None:
        raise RunStopped("the source has no orders, so there is no as-of date: add orders or set CUSTOMER_ML_AS_OF")
    first = partitions_def.get_first_partition_key()
    if day.isoformat() < first:
        raise RunStopped(
            f"the as-of date {day} is before the first partition {first}: "
            "set CUSTOMER_ML_AS_OF or CUSTOMER_ML_PARTITION_START so that it is not"
        )
    return day.isoformat()


def run_all(settings, instance=None, quiet: bool = True, raise_on_error: bool = True) -> list:
    """Materialize everything for `settings`; returns every run's result (source and raw tables, then marts).

    Two runs because partitioning changes along the graph: the raw tables hold all history, the marts are
    partitioned by as-of date. The definitions are rebuilt between them so the partitions start at the first
    day of the data that has just landed."""
    from customer_assets.definitions import build_definitions
    from customer_assets.defs.policies import daily_partitions

    instance = instance or _instance()
    run_config = QUIET if quiet else None
    options = {"instance": instance, "run_config": run_config, "raise_on_error": raise_on_error}
    results = [build_definitions(settings).resolve_job_def("load_source").execute_in_process(**options)]
    if not results[0].success:
        write_run_summary(results, settings)
        return results  # the last good raw tables stand; building marts on them would hide the failure
    defs = build_definitions(settings)
    day = as_of_partition(settings, daily_partitions(settings))
    results.append(defs.resolve_job_def("build_marts").execute_in_process(partition_key=day, **options))
    write_run_summary(results, settings)
    return results


RUN_SUMMARY = Path("runs") / "latest.json"


def run_summary(results) -> dict:
    """The runs' outcome for people (the business app's Overview): jobs, checks, failed and degraded steps."""
    checks = []
    for event in events(results, "ASSET_CHECK_EVALUATION"):
        evaluation = event.event_specific_data
        checks.append(
            {
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "passed": bool(evaluation.passed),
                "severity": evaluation.severity.value,
                "description": (evaluation.description or "")[:300],
            }
        )
    return {
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "success": all(result.success for result in results),
        "runs": [
            {
                "job": result.job_def.name,
                "run_id": result.run_id,
                "success": bool(result.success),
                "partition": result.dagster_run.tags.get("dagster/partition"),
            }
            for result in results
        ],
        "checks": checks,
        "failed_steps": failed_step_lines(results),
        "degraded": degraded_lines(results),
    }


def write_run_summary(results, settings) -> Path | None:
    """`<home>/runs/latest.json` (written atomically); never stops a run: None when it cannot be written."""
    import json

    path = Path(settings.home) / RUN_SUMMARY
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".latest-{os.getpid()}.json")
        tmp.write_text(json.dumps(run_summary(results), indent=2, default=str))
        os.replace(tmp, path)
        return path
    except Exception:  # noqa: BLE001 - the summary is for people; the run's own outcome stands
        return None


# What to do next, by the step that failed: the user sees one line per failure, never a traceback.
ADVICE = (
    ("source_snapshot", "fix the input named above (file, column, rows) and run `make run` again"),
    ("raw__", "fix the input named above and run `make run` again; the previous raw tables are unchanged"),
    ("warehouse_models", "a dbt model or test failed: `make dev`, open the run, read the dbt log"),
    ("scored_models", "a dbt model or test failed: `make dev`, open the run, read the dbt log"),
)


def advice_for(step_key: str) -> str:
    for prefix, advice in ADVICE:
        if step_key.startswith(prefix):
            return advice
    return "its last good table and champion stay in place; `make dev` shows the run and its logs"


def events(results, event_type: str) -> list:
    """Every event of one type (e.g. "STEP_FAILURE") across the runs' results, in order."""
    return [event for result in results for event in result.all_events if event.event_type_value == event_type]


def failed_step_lines(results) -> list[str]:
    lines = []
    for event in events(results, "STEP_FAILURE"):
        error = event.event_specific_data.error
        # A dg.Failure carries its own description; anything else shows its innermost cause's first line.
        while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
            error = error.cause
        message = error.message.strip().splitlines() or [error.cls_name]
        head = message[0].removeprefix(f"{error.cls_name}: ").removeprefix("customer_assets.sources.contract.")
        lines.append(f"{event.step_key}: {head} -> {advice_for(event.step_key)}")
        # A contract error lists its violations (file, column, example rows) on the following lines.
        lines += [f"    {detail.strip()}" for detail in message[1:MAX_DETAIL_LINES] if detail.strip()]
    return lines


def degraded_lines(results) -> list[str]:
    """'<asset>: <reason>' for every degraded materialization (see defs/degrade.py)."""
    from customer_assets.defs.degrade import DEGRADED

    materializations = [e.event_specific_data.materialization for e in events(results, "ASSET_MATERIALIZATION")]
    return [
        f"{m.asset_key.to_user_string()}: {m.metadata[DEGRADED].value}"
        for m in materializations
        if DEGRADED in m.metadata
    ]


def write_run_log(results, settings, started: dt.datetime, error: BaseException | None = None) -> Path | None:
    """Every failed step's full traceback (and an unexpected error's) in one file under the home, or None."""
    failures = events(results, "STEP_FAILURE")
    if not failures and error is None:
        return None
    settings.run_log_dir.mkdir(parents=True, exist_ok=True)
    path = settings.run_log_dir / f"run-{started:%Y%m%dT%H%M%S}-{os.getpid()}.log"
    parts = [f"== {event.step_key}\n{event.event_specific_data.error.to_string()}" for event in failures]
    if error is not None:
        parts.append("== customer_assets.cli\n" + "".join(traceback.format_exception(error)))
    path.write_text("\n".join(parts))
    return path


def source_note_lines(results) -> list[str]:
    """The source's notes (ignored files, derived tables, dropped orphans): said to the user, not only logged."""
    materializations = [e.event_specific_data.materialization for e in events(results, "ASSET_MATERIALIZATION")]
    notes = [
        m.metadata["notes"].value
        for m in materializations
        if m.asset_key.to_user_string() == "source_snapshot" and "notes" in m.metadata
    ]
    return [line.removeprefix("- ") for text in notes for line in text.splitlines() if line.startswith("- ")]


def summary(results, settings) -> str:
    from customer_assets.warehouse.client import Warehouse

    warehouse = Warehouse(duckdb_path=settings.duckdb_path, url=settings.warehouse_url)
    built = all(result.success for result in results)
    lines = [
        "",
        "customer-ml: the graph is built." if built else "customer-ml: the run stopped early (see below).",
        "",
        "Tables (rows):",
    ]
    tables = warehouse.query(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('raw', 'marts') ORDER BY 1, 2"
    )
    for schema, table in tables.iter_rows():
        lines.append(f"  {schema}.{table:<32} {warehouse.row_count(schema, table):>12,}")
    notes = source_note_lines(results)
    if notes:
        lines += ["", "Source notes:", *[f"  {note}" for note in notes]]
    evaluations = [e.event_specific_data for e in events(results, "ASSET_CHECK_EVALUATION")]
    passed, failures, warnings_ = 0, [], []
    for evaluation in evaluations:
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            passed += 1
        elif evaluation.severity == dg.AssetCheckSeverity.WARN:
            warnings_.append(name)  # an alert about the data or the business, not a broken build
        else:
            failures.append(name)
    versus = [
        f"  {e.asset_key.to_user_string()}: {e.metadata['vs_baseline'].value}"
        for e in evaluations
        if "vs_baseline" in e.metadata
    ]
    if versus:
        lines += ["", "Models beside their plain baselines (same holdout):", *versus]
    lines += ["", f"Checks: {passed} passed, {len(failures)} failed, {len(warnings_)} warnings"]
    lines += [f"  failed: {name}" for name in failures] + [f"  warning: {name}" for name in warnings_]
    degraded = degraded_lines(results)
    if degraded:
        lines += [
            "",
            "Degraded (nothing written; last good table and champion kept; the rest was built without it):",
            *[f"  {line}" for line in degraded],
        ]
    failed_steps = failed_step_lines(results)
    if failed_steps:
        lines += [
            "",
            "Failed (their downstream assets were skipped; everything else was built):",
            *[f"  {line}" for line in failed_steps],
        ]
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
        if not settings.is_postgres
        else "                #   psql ... -c 'select * from marts.customer_features limit 5'",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="customer_assets.cli")
    parser.add_argument("command", choices=["run"])
    parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=dg.BetaWarning if hasattr(dg, "BetaWarning") else Warning)
    from customer_assets.config import load_settings

    started = dt.datetime.now()
    settings = None
    try:
        settings = load_settings()
        # Keep going past a failed step so every independent asset is still built, then report it and exit 1.
        results = run_all(settings, raise_on_error=False)
        print(summary(results, settings))
        log = write_run_log(results, settings, started)
        if log is not None:
            print(f"\nFull tracebacks of the failed steps: {log}")
    except RunStopped as stopped:
        print(f"\ncustomer-ml: stopped: {stopped}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the user gets one line; the log keeps the traceback
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        log = write_run_log([], settings, started, error) if settings is not None else None
        print(
            f"\ncustomer-ml: stopped: {type(error).__name__}: {first}"
            + (f"\n  -> traceback in {log}" if log else "")
            + "\n  -> `make dev` shows the runs and their logs; report it with this line if it persists",
            file=sys.stderr,
        )
        return 1
    print(f"\nDone in {(dt.datetime.now() - started).total_seconds():.0f} s.")
    return 0 if all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
