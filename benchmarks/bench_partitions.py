"""Dagster's bookkeeping cost per partition: why raw history is loaded whole instead of one partition per day.

Four trivial daily-partitioned assets (like raw orders, order items, reviews, events) materialized as one ranged
run (BackfillPolicy.single_run) over N days on a persistent SQLite instance (what `make run` uses), beside the
same four assets unpartitioned. The assets do no work, so the time is Dagster's alone.

    .venv/bin/python benchmarks/bench_partitions.py [--days 30 90 365]
"""

import argparse
import tempfile
import time

import dagster as dg


def _assets(partitions_def):
    def make(name):
        @dg.asset(name=name, partitions_def=partitions_def,
                  backfill_policy=dg.BackfillPolicy.single_run() if partitions_def else None)
        def _asset(context) -> dg.MaterializeResult:
            return dg.MaterializeResult(metadata={"rows": 1})
        return _asset
    return [make(n) for n in ("orders", "order_items", "reviews", "events")]


def timed_run(days: int | None) -> float:
    with tempfile.TemporaryDirectory() as home:
        with dg.instance_for_test(temp_dir=home) as instance:
            partitions = dg.DailyPartitionsDefinition(start_date="2000-01-01") if days else None
            job = dg.define_asset_job("history", partitions_def=partitions)
            defs = dg.Definitions(assets=_assets(partitions), jobs=[job])
            tags = ({"dagster/asset_partition_range_start": "2000-01-01",
                     "dagster/asset_partition_range_end": partitions.get_partition_keys()[days - 1]}
                    if days else {})
            started = time.perf_counter()
            result = defs.resolve_job_def("history").execute_in_process(
                instance=instance, tags=tags,
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
            assert result.success
            return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, nargs="+", default=[30, 90, 365])
    args = parser.parse_args()
    whole = timed_run(None)
    print(f"4 unpartitioned assets, one run: {whole:6.1f} s")
    for days in args.days:
        seconds = timed_run(days)
        per = (seconds - whole) / (4 * days) * 1000
        print(f"4 assets x {days:>5} daily partitions, one ranged run: {seconds:6.1f} s "
              f"({per:.1f} ms per partition and asset; 22 years of days would take ~{per * 4 * 8000 / 60000:.0f} min)")


if __name__ == "__main__":
    main()
