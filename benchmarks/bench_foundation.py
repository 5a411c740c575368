"""Generation, load and all dbt models at 10k, 100k and 1M customers: wall time and peak memory per stage.

    .venv/bin/python benchmarks/bench_foundation.py [--scales 10000 100000 1000000]

Each scale runs in its own process against its own DuckDB file (removed afterwards unless
CUSTOMER_ML_BENCH_KEEP is set), so peak memory is per scale. Results are
printed and written to $CUSTOMER_ML_HOME/bench/foundation.json. Targets on the 2-core machine: 1M customers
through all three stages in under 5 minutes, peak memory under 8 GB.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def peak_gb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024 / 1024


def one_scale(customers: int) -> dict:
    import dataclasses
    import datetime as dt

    from customer_assets.config import DBT_PROJECT_DIR, load_settings
    from customer_assets.sources import landing, loader
    from customer_assets.warehouse.client import Warehouse
    from customer_assets.warehouse.dbt_env import dbt_environment

    home = Path(tempfile.mkdtemp(prefix=f"bench-{customers}-"))
    settings = dataclasses.replace(load_settings(), home=home, warehouse_url=None)
    stages = {}

    started = time.perf_counter()
    source = loader.load_synthetic(customers, 42, settings.synthetic_end_date)
    landing.publish(source, settings.landing_dir)
    rows = {name: frame.height for name, frame in source.tables.items()}
    del source
    stages["generate"] = {"seconds": time.perf_counter() - started, "peak_gb": peak_gb()}

    started = time.perf_counter()
    warehouse = Warehouse(duckdb_path=settings.duckdb_path)
    first, last = landing.date_range(settings.landing_dir)
    for name in ("customers", "products"):
        warehouse.replace_table("raw", name, landing.read(settings.landing_dir, name))
    for name in ("orders", "order_items", "reviews", "events"):
        warehouse.replace_partitions("raw", name, landing.read(settings.landing_dir, name, first, last),
                                     "partition_date", first, last)
    stages["load"] = {"seconds": time.perf_counter() - started, "peak_gb": peak_gb()}

    started = time.perf_counter()
    env = {**os.environ, **dbt_environment(settings)}
    dbt = Path(sys.executable).with_name("dbt")
    proc = subprocess.run([str(dbt), "build", "--exclude", "tag:scored", "--profiles-dir", ".", "--target-path", str(home / "dbt_target")],
                          cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:])
    stages["dbt_build"] = {"seconds": time.perf_counter() - started, "peak_gb": peak_gb()}
    features = warehouse.row_count("marts", "customer_features")
    training = warehouse.row_count("marts", "churn_training_set")
    result = {"customers": customers, "rows": rows, "stages": stages,
              "total_seconds": sum(s["seconds"] for s in stages.values()),
              "customer_features_rows": features, "churn_training_rows": training,
              "duckdb_file_gb": settings.duckdb_path.stat().st_size / 1e9}
    if os.environ.get("CUSTOMER_ML_BENCH_KEEP"):  # keep the warehouse to inspect queries at this scale
        result["home"] = str(home)
    else:
        shutil.rmtree(home, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_scale(args.one)))
        return
    results = []
    for scale in args.scales:
        proc = subprocess.run([sys.executable, __file__, "--one", str(scale)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"benchmark failed at {scale} customers")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(result)
        stages = "  ".join(f"{k} {v['seconds']:6.1f}s/{v['peak_gb']:.2f}GB" for k, v in result["stages"].items())
        print(f"{scale:>9,} customers  total {result['total_seconds']:6.1f}s  {stages}  "
              f"orders {result['rows']['orders']:,}  events {result['rows']['events']:,}", flush=True)
    from customer_assets.config import load_settings

    out = load_settings().bench_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "foundation.json").write_text(json.dumps(results, indent=2))
    print(f"written {out / 'foundation.json'}")


if __name__ == "__main__":
    main()
