"""Benchmark: the whole `make run` graph at scale, per asset (default 100,000 synthetic customers).

    .venv/bin/python benchmarks/bench_pipeline.py [--customers N [N ...]] [--search-seconds S]

For each size: a fresh home, then exactly what `make run` does (`customer_assets.cli.run_all`): the source
snapshot and raw loads, dbt, every model's training and scoring, the online snapshot, drift and monitoring, in
one process on the embedded DuckDB. A sampler thread reads the resident memory of the process and its children
(dbt runs as a subprocess) every 0.2 s; each step's wall time comes from Dagster's own step events and its peak
memory is the highest sample inside the step. Prints a table per size, the three slowest steps, totals against
the targets (1M customers: 30 minutes, 12 GB), and writes everything as JSON to `<home>/bench/pipeline.json`.

Search budgets are the settings' (`CUSTOMER_ML_CHURN_SEARCH_SECONDS` 60 by default); `--search-seconds`
overrides the churn one for quick looks. Homes go under `$CUSTOMER_ML_BENCH_HOME` or a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import psutil  # noqa: E402

TARGET = {1_000_000: {"seconds": 30 * 60, "peak_gb": 12.0}}


class MemorySampler(threading.Thread):
    """(time, RSS of this process + its children) every `interval` seconds until stopped."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval, self.samples, self._halt = interval, [], threading.Event()
        self._process = psutil.Process()

    def _rss(self) -> int:
        total = self._process.memory_info().rss
        for child in self._process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:  # the child ended between listing and reading
                pass
        return total

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.time(), self._rss()))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak(self, start: float, end: float) -> int | None:
        """Highest sample in [start, end]; None for a step shorter than the sampling interval."""
        inside = [rss for at, rss in self.samples if start <= at <= end]
        return max(inside) if inside else None


def step_windows(instance, results) -> list[dict]:
    """Per executed step: job, step key, status, start and end (Dagster event timestamps)."""
    steps = []
    for result in results:
        started: dict[str, float] = {}
        for record in instance.all_logs(result.run_id):
            event = record.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type_value == "STEP_START":
                started[event.step_key] = record.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
                steps.append(
                    {
                        "job": result.job_def.name,
                        "step": event.step_key,
                        "status": "ok" if event.event_type_value == "STEP_SUCCESS" else "failed",
                        "start": started[event.step_key],
                        "end": record.timestamp,
                    }
                )
    return steps


def degraded_assets(results) -> dict[str, str]:
    """Assets that wrote nothing because their model step failed (the degrade-on-failure reason)."""
    found = {}
    for result in results:
        for event in result.all_events:
            if event.event_type_value == "ASSET_MATERIALIZATION":
                materialization = event.event_specific_data.materialization
                if "degraded" in materialization.metadata:
                    found[materialization.asset_key.to_user_string()] = materialization.metadata["degraded"].value
    return found


def run_size(customers: int, root: Path) -> dict:
    import dagster as dg

    from customer_assets.cli import run_all
    from customer_assets.config import synthetic_settings

    home = root / f"pipeline_{customers}"
    settings = synthetic_settings(home, synthetic_customers=customers)
    instance = dg.DagsterInstance.ephemeral()
    sampler = MemorySampler()
    sampler.start()
    started = time.time()
    try:
        results = run_all(settings, instance=instance, raise_on_error=False)
    finally:
        ended = time.time()
        sampler.stop()
    steps = step_windows(instance, results)
    for step in steps:
        step["seconds"] = round(step["end"] - step["start"], 2)
        peak = sampler.peak(step["start"], step["end"])
        step["peak_rss_mb"] = round(peak / 2**20, 1) if peak is not None else None
    record = {
        "customers": customers,
        "home": str(home),
        "wall_seconds": round(ended - started, 1),
        "peak_rss_mb": round((sampler.peak(started, ended) or 0) / 2**20, 1),
        "runs_succeeded": [bool(r.success) for r in results],
        "failed_steps": [s["step"] for s in steps if s["status"] == "failed"],
        "degraded": degraded_assets(results),
        "steps": [{k: v for k, v in s.items() if k not in ("start", "end")} for s in steps],
        "slowest": [s["step"] for s in sorted(steps, key=lambda s: -s["seconds"])[:3]],
    }
    target = TARGET.get(customers)
    if target:
        record["target"] = target
        record["meets_target"] = (
            record["wall_seconds"] <= target["seconds"] and record["peak_rss_mb"] / 1024 <= target["peak_gb"]
        )
    out = home / "bench" / "pipeline.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    record["json"] = str(out)
    return record


def show(record: dict) -> None:
    print(
        f"\n== {record['customers']:,} customers: {record['wall_seconds']:.0f} s, peak {record['peak_rss_mb']:.0f} MB"
    )
    print(f"{'step':<58} {'job':<12} {'seconds':>9} {'peak MB':>9}  status")
    for step in record["steps"]:
        peak = f"{step['peak_rss_mb']:.0f}" if step["peak_rss_mb"] is not None else "-"
        print(f"{step['step']:<58} {step['job']:<12} {step['seconds']:>9.1f} {peak:>9}  {step['status']}")
    print(f"slowest: {', '.join(record['slowest'])}")
    for asset, reason in record["degraded"].items():
        print(f"DEGRADED {asset}: {reason}")
    if record["failed_steps"]:
        print(f"FAILED steps: {', '.join(record['failed_steps'])}")
    if "target" in record:
        target = record["target"]
        verdict = "meets" if record["meets_target"] else "MISSES"
        print(f"target {target['seconds'] / 60:.0f} min / {target['peak_gb']:.0f} GB: {verdict}")
    print(f"json: {record['json']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--search-seconds", type=float, default=None, help="CUSTOMER_ML_CHURN_SEARCH_SECONDS")
    args = parser.parse_args(argv)
    if args.search_seconds is not None:
        # The churn knobs are read from the environment when its training step runs.
        os.environ["CUSTOMER_ML_CHURN_SEARCH_SECONDS"] = str(args.search_seconds)
    root = Path(os.environ.get("CUSTOMER_ML_BENCH_HOME") or tempfile.mkdtemp(prefix="customer-ml-pipeline-"))
    failed = False
    for customers in args.customers:
        record = run_size(customers, root)
        show(record)
        failed |= not all(record["runs_succeeded"])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
