"""Live scoring benchmark: the real service (`bentoml serve`) over a built home, beside a trivial BentoML
service measured in the same run as the floor of what BentoML itself costs on this machine.

    python benchmarks/bench_service.py                 # builds a home of 3,000 synthetic customers once
    python benchmarks/bench_service.py --home PATH     # an already built home (make run) with an online snapshot

Measures, on 127.0.0.1 with one worker:
- time from process start to /readyz = 200 (snapshot and every champion loaded);
- sequential p50/p95/p99 of POST /predict/churn by customer_id and POST /recommendations (k=10), and of the
  trivial service's echo endpoint;
- throughput with 8 requests in flight (8 client threads, each with its own keep-alive connection) for the
  same endpoints, with the count of non-200 answers.
Targets (issue 7, 2 cores): churn p95 < 10 ms, p99 < 25 ms sequential; >= 300 requests/s at 8 in flight with no
errors; ready within 10 s. Request loops are bounded in count and only reach 127.0.0.1.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bentos import launch  # noqa: E402

TRIVIAL_SERVICE = textwrap.dedent('''
    import bentoml
    from pydantic import BaseModel

    class Ping(BaseModel):
        customer_id: str

    class Pong(BaseModel):
        customer_id: str
        churn_probability: float

    @bentoml.service(name="trivial", workers=1)
    class Trivial:
        @bentoml.api(route="/predict/churn")
        def predict(self, request: Ping, /) -> Pong:
            return Pong(customer_id=request.customer_id, churn_probability=0.5)
''')


def build_home(customers: int) -> Path:
    import dagster as dg

    from customer_assets.cli import run_all
    from customer_assets.config import synthetic_settings

    home = Path(tempfile.mkdtemp(prefix="bench-service-")) / "home"
    settings = synthetic_settings(home, synthetic_customers=customers)
    started = time.perf_counter()
    results = run_all(settings, instance=dg.DagsterInstance.ephemeral())
    if not all(r.success for r in results):
        raise SystemExit("building the benchmark home failed")
    print(f"built a home of {customers:,} customers in {time.perf_counter() - started:.0f} s: {home}")
    return home


def sequential(client: httpx.Client, path: str, bodies: list[dict], n: int) -> tuple[np.ndarray, int]:
    for body in bodies[:50]:  # warm-up
        client.post(path, json=body)
    times, errors = [], 0
    for i in range(n):
        started = time.perf_counter()
        answer = client.post(path, json=bodies[i % len(bodies)])
        times.append(time.perf_counter() - started)
        errors += answer.status_code != 200
    return np.asarray(times) * 1000, errors


def in_flight(url: str, path: str, bodies: list[dict], total: int, concurrency: int = 8) -> tuple[float, int]:
    clients = [httpx.Client(base_url=url, timeout=30.0) for _ in range(concurrency)]
    per_client = total // concurrency

    def worker(j: int) -> int:
        errors = 0
        for i in range(per_client):
            errors += clients[j].post(path, json=bodies[(i * concurrency + j) % len(bodies)]).status_code != 200
        return errors

    for j in range(concurrency):
        clients[j].post(path, json=bodies[j % len(bodies)])
    started = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as pool:
        errors = sum(pool.map(worker, range(concurrency)))
    elapsed = time.perf_counter() - started
    for c in clients:
        c.close()
    return per_client * concurrency / elapsed, errors


def line(name: str, ms: np.ndarray, errors: int) -> str:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"  {name:<34} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  p99 {p99:6.2f} ms  errors {errors}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="a built home with an online snapshot (default: build one)")
    parser.add_argument("--customers", type=int, default=3000, help="synthetic customers when building a home")
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per endpoint")
    parser.add_argument("--flight-requests", type=int, default=4000, help="requests per throughput run")
    args = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    home = args.home.resolve() if args.home else build_home(args.customers)
    from customer_assets.serving import snapshot as snapshots

    online = snapshots.online_dir(home)
    _, manifest, frames = snapshots.read_snapshot(online)
    ids = frames["features"]["customer_id"].to_list()
    rng = np.random.default_rng(0)
    churn_bodies = [{"customer_id": ids[i]} for i in rng.integers(0, len(ids), 2000)]
    rec_bodies = [{"customer_id": ids[i], "k": 10} for i in rng.integers(0, len(ids), 2000)]
    print(f"snapshot {manifest['version']} as of {manifest['as_of']}: "
          + ", ".join(f"{name} {t['rows']:,}" for name, t in manifest["tables"].items()))

    work = Path(tempfile.mkdtemp(prefix="bench-service-run-"))
    (work / "trivial_service.py").write_text(TRIVIAL_SERVICE)
    port, trivial_port = launch.free_port(), launch.free_port()
    env = {"CUSTOMER_ML_HOME": str(home), "CUSTOMER_ML_API_KEY": "", "MLFLOW_TRACKING_URI": ""}
    started = time.perf_counter()
    server = launch.start(port, env, log=work / "service.log")
    try:
        url = f"http://127.0.0.1:{port}"
        ready = launch.wait_ready(url, server, timeout=300)
        trivial = launch.start(trivial_port, {}, service="trivial_service:Trivial", log=work / "trivial.log",
                               cwd=work)
        try:
            trivial_url = f"http://127.0.0.1:{trivial_port}"
            launch.wait_ready(trivial_url, trivial, timeout=120)
            print(f"\nready: /readyz answered 200 {ready:.1f} s after start (target < 10 s)")
            print(f"\nsequential, {args.requests:,} requests each (one keep-alive connection):")
            with httpx.Client(base_url=url, timeout=30.0) as client, \
                    httpx.Client(base_url=trivial_url, timeout=30.0) as floor:
                churn = sequential(client, "/predict/churn", churn_bodies, args.requests)
                recs = sequential(client, "/recommendations", rec_bodies, args.requests)
                base = sequential(floor, "/predict/churn", churn_bodies, args.requests)
            print(line("POST /predict/churn (by id)", *churn))
            print(line("POST /recommendations (k=10)", *recs))
            print(line("trivial BentoML endpoint (floor)", *base))
            print(f"\n8 requests in flight, {args.flight_requests:,} requests each:")
            results = {
                "churn": in_flight(url, "/predict/churn", churn_bodies, args.flight_requests),
                "recs": in_flight(url, "/recommendations", rec_bodies, args.flight_requests),
                "floor": in_flight(trivial_url, "/predict/churn", churn_bodies, args.flight_requests),
            }
            names = {"churn": "POST /predict/churn (by id)", "recs": "POST /recommendations (k=10)",
                     "floor": "trivial BentoML endpoint (floor)"}
            for key, (rate, errors) in results.items():
                print(f"  {names[key]:<34} {rate:7.0f} requests/s  errors {errors}")
        finally:
            launch.stop(trivial)
    finally:
        launch.stop(server)
    p95, p99 = np.percentile(churn[0], [95, 99])
    verdict = [("churn p95 < 10 ms", p95 < 10), ("churn p99 < 25 ms", p99 < 25),
               (">= 300 requests/s at 8 in flight, no errors", results["churn"][0] >= 300 and results["churn"][1] == 0),
               ("ready within 10 s", ready < 10)]
    print("\ntargets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in verdict))
    print(f"(whole run {time.perf_counter() - started:.0f} s; logs in {work})")


if __name__ == "__main__":
    main()
