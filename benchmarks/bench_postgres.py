"""The whole graph (`make run`) on PostgreSQL beside DuckDB, on the same synthetic customers.

Each run is the real command line in a fresh home; PostgreSQL gets a freshly created database, so nothing is
cached from an earlier run. Prints the wall time of each and the ratio (the target is PostgreSQL within 3x).

    .venv/bin/python benchmarks/bench_postgres.py [--customers 3000 100000]
        [--postgres postgresql+psycopg2://postgres@127.0.0.1:5432]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import psycopg2

DATABASE = "customer_ml_bench"


def fresh_database(server: str) -> str:
    """Drop and create the benchmark database on `server` (a URL without a database); returns its URL."""
    admin = psycopg2.connect(server.replace("+psycopg2", "") + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        cur.execute(f"CREATE DATABASE {DATABASE}")
    admin.close()
    return f"{server}/{DATABASE}"


def timed_run(customers: int, warehouse_url: str | None) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-postgres-") as home:
        env = {**os.environ, "CUSTOMER_ML_HOME": home, "CUSTOMER_ML_SOURCE": "synthetic",
               "CUSTOMER_ML_SYNTHETIC_CUSTOMERS": str(customers)}
        env.pop("WAREHOUSE_URL", None)
        if warehouse_url:
            env["WAREHOUSE_URL"] = warehouse_url
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "customer_assets.cli", "run"], env=env,
                                capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            print(result.stdout[-3000:], result.stderr[-3000:], sep="\n", file=sys.stderr)
            raise SystemExit(f"make run failed on {'PostgreSQL' if warehouse_url else 'DuckDB'} "
                             f"at {customers:,} customers")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[3000],
                        help="synthetic customers per run (100000 is the large option)")
    parser.add_argument("--postgres", default="postgresql+psycopg2://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL, without a database")
    args = parser.parse_args()
    print(f"{'customers':>10} {'DuckDB s':>10} {'PostgreSQL s':>13} {'ratio':>7}")
    for customers in args.customers:
        duckdb_s = timed_run(customers, None)
        postgres_s = timed_run(customers, fresh_database(args.postgres))
        print(f"{customers:>10,} {duckdb_s:>10.0f} {postgres_s:>13.0f} {postgres_s / duckdb_s:>6.1f}x", flush=True)


if __name__ == "__main__":
    main()
