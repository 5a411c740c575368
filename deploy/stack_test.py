"""`make stack-test`: drive a native stack (deploy/stack.py) the way operations would, on free loopback ports.

1. start the stack (small synthetic data, automation stopped so only the launched runs work; Prometheus scrapes
   every second and a test override of rules.yml shortens every `for:` to 2 s);
2. before anything is built the service has no snapshot: predictions answer 503 and HighApiErrorRate fires
   (it clears once the answers are 200s again); launch `load_source`, then `build_marts` for the as-of day,
   through Dagster's GraphQL API (PostgreSQL is the warehouse, MLflow the server), and wait for both to succeed;
3. the scoring service picks up the published snapshot and the champions (/readyz 200, /models shows the day)
   and answers a customer of the snapshot; `build_marts` for the same day again, under continuous load: the
   new snapshot is picked up with zero failed requests, and marts.churn_scores has no duplicate customer;
4. Prometheus' API shows the service target up; the service is killed (SIGKILL of it and its worker) and
   ScoringServiceDown fires in /api/v1/alerts;
5. stop: every recorded process is gone, the stack's databases are dropped.
Exit 0 when all of it held; each step prints its time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import stack as S

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
  }
}"""
RUN_STATUS = "query Status($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }"
RUN_SECONDS = 900


def step(what: str, started: list) -> None:
    now = time.monotonic()
    print(f"[stack-test] {what} ({now - started[0]:.0f} s)", flush=True)
    started[0] = now


def wait_for(check, seconds: float, what: str):
    deadline, last = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - not yet
            last = error
        time.sleep(1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what} (last error: {last})")


def launch(stack: S.Stack, job: str, tags: dict | None = None) -> str:
    params = {
        "selector": {"repositoryLocationName": S.LOCATION, "repositoryName": "__repository__", "jobName": job},
        "runConfigData": {},
        "executionMetadata": {
            "tags": [{"key": k, "value": v} for k, v in {"customer-ml/stack-test": "1", **(tags or {})}.items()]
        },
    }
    launched = S.graphql(stack, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished():
        status = S.graphql(stack, RUN_STATUS, {"runId": run_id}, timeout=10)["runOrError"]["status"]
        return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

    status = wait_for(finished, RUN_SECONDS, f"{job} run {run_id}")
    assert status == "SUCCESS", f"{job} run {run_id} ended {status}: see {stack.home / 'logs'}"
    return run_id


def as_of_day(stack: S.Stack) -> str:
    env = stack.state["env"]["code_server"]
    code = (
        "from customer_assets.cli import as_of_partition; from customer_assets.config import load_settings; "
        "print(as_of_partition(load_settings()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=S.ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip().splitlines()[-1]


def _psql(stack: S.Stack, database: str, sql: str) -> str:
    name = stack.state["databases"][database]
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", name, "-qAt", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _listening(stack: S.Stack) -> bool:
    try:
        S.http(f"{stack.url('service')}/healthz", timeout=2)
        return True
    except OSError:
        return False


def prometheus(stack: S.Stack, path: str) -> dict:
    status, raw = S.http(f"{stack.url('prometheus')}{path}")
    assert status == 200, raw
    return json.loads(raw)["data"]


def firing(stack: S.Stack) -> set[str]:
    return {a["labels"]["alertname"] for a in prometheus(stack, "/api/v1/alerts")["alerts"] if a["state"] == "firing"}


def run_stack_test(home: Path | None = None) -> int:
    home = home or Path(tempfile.mkdtemp(prefix="customer-ml-stack-test-"))
    ports = {name: S.free_port() for name in S.DEFAULT_PORTS}
    clock = [time.monotonic()]
    stack = S.start(
        home, ports=ports, extra_env=S.SMALL, rules_for="2s", scrape_interval="1s", automation="stopped", quiet=True
    )
    step(f"stack up in {home}", clock)
    key = {"X-API-Key": stack.state["api_key"]}
    try:
        # A stopped dependency: nothing is built yet, so the service has no snapshot and answers 503.
        # HighApiErrorRate fires (and clears below, once the answers are 200s again).
        # Sent over several scrapes: a counter series first seen at its final value shows no rate.
        unavailable = []

        def errors_fire():
            unavailable.extend(
                S.http(
                    f"{stack.url('service')}/predict/churn",
                    b'{"customer_id": "C0000001"}',
                    {**key, "Content-Type": "application/json"},
                )[0]
                for _ in range(3)
            )
            return "HighApiErrorRate" in firing(stack)

        wait_for(errors_fire, 60, "HighApiErrorRate to fire on the 503s")
        assert set(unavailable) == {503}, unavailable
        step(f"no snapshot yet: {len(unavailable)} predictions answered 503, HighApiErrorRate fired", clock)
        launch(stack, "load_source")
        step("load_source succeeded (GraphQL launch, raw tables in PostgreSQL)", clock)
        day = as_of_day(stack)
        launch(stack, "build_marts", {"dagster/partition": day})
        step(f"build_marts {day} succeeded", clock)

        def served():
            status, raw = S.http(f"{stack.url('service')}/models", headers=key)
            body = json.loads(raw)
            return status == 200 and body["snapshot"] and body["snapshot"]["as_of"] == day and body["models"]

        wait_for(served, 60, f"the service to load the {day} snapshot")
        assert S.http(f"{stack.url('service')}/readyz")[0] == 200
        status, raw = S.http(f"{stack.url('service')}/retention-targets?limit=1", headers=key)
        assert status == 200, raw
        customer = json.loads(raw)["targets"][0]["customer_id"]
        status, raw = S.http(
            f"{stack.url('service')}/predict/churn",
            json.dumps({"customer_id": customer}).encode(),
            {**key, "Content-Type": "application/json"},
        )
        assert status == 200 and json.loads(raw)["customer_id"] == customer, raw
        assert S.http(f"{stack.url('service')}/models")[0] == 401  # the key is on
        step(f"the service serves the {day} snapshot and its champions", clock)

        # A re-run of the day under continuous load: a new snapshot is published and picked up, no request fails,
        # and the re-run leaves one row per customer (no duplicates).
        first_version = json.loads(S.http(f"{stack.url('service')}/models", headers=key)[1])["snapshot"]["version"]
        answered, failures, done = [0], [], threading.Event()

        def hammer():
            body = json.dumps({"customer_id": customer}).encode()
            while not done.is_set():
                try:
                    code, raw = S.http(
                        f"{stack.url('service')}/predict/churn",
                        body,
                        {**key, "Content-Type": "application/json"},
                        timeout=30,
                    )
                except OSError as error:
                    code, raw = 0, str(error).encode()
                answered[0] += 1
                if code != 200:
                    failures.append((code, raw[:200]))
                time.sleep(0.05)

        workers = [threading.Thread(target=hammer, daemon=True) for _ in range(2)]
        for worker in workers:
            worker.start()
        try:
            launch(stack, "build_marts", {"dagster/partition": day})

            def new_snapshot():
                body = json.loads(S.http(f"{stack.url('service')}/models", headers=key)[1])
                return body["snapshot"]["version"] != first_version

            wait_for(new_snapshot, 60, "the service to pick up the re-run's snapshot")
        finally:
            done.set()
            for worker in workers:
                worker.join(timeout=60)
        assert answered[0] > 50 and failures == [], (answered[0], failures[:5])
        rows = _psql(
            stack,
            "warehouse",
            f"SELECT count(*), count(DISTINCT customer_id) FROM marts.churn_scores WHERE as_of_date = '{day}'",
        )
        total, distinct = (int(x) for x in rows.split("|"))
        assert total == distinct > 0, (total, distinct)
        step(
            f"re-run of {day} under load: {answered[0]} requests, 0 failed, new snapshot served, "
            f"{total} churn scores without duplicates",
            clock,
        )

        def target_up():
            targets = prometheus(stack, "/api/v1/targets")["activeTargets"]
            return any(t["labels"]["job"] == "customer-ml-service" and t["health"] == "up" for t in targets)

        wait_for(target_up, 60, "Prometheus to see the service up")
        step("Prometheus: customer-ml-service target up", clock)
        wait_for(lambda: "HighApiErrorRate" not in firing(stack), 90, "HighApiErrorRate to clear")
        step("HighApiErrorRate cleared (the 503s are under 5% of the last 5 minutes)", clock)
        before = firing(stack)
        # Nothing fires on a healthy stack, HighApiErrorRate included (/readyz's 503s while loading are probes).
        assert not before & {"ScoringServiceDown", "HighApiErrorRate"}, before
        service = S._tree(stack, "service")
        assert len(service) >= 2, service  # bentoml serve and its worker
        S.kill_process(stack, "service")
        wait_for(lambda: not any(S._pid_alive(p) for p in service), 20, "the service's processes to exit")
        assert not _listening(stack), "the service's port still answers after the kill"
        fired = wait_for(
            lambda: "ScoringServiceDown" in firing(stack) and firing(stack), 60, "ScoringServiceDown to fire"
        )
        step(f"service killed: ScoringServiceDown fired (firing: {sorted(fired)})", clock)
    finally:
        recorded = dict(stack.state["pids"])
        trees = {
            name: {pid, *S._descendants(pid), *stack.state.get("children", {}).get(name, [])}
            for name, pid in recorded.items()
        }
        killed = S.stop(stack, quiet=True)
        step(f"stack stopped{' (SIGKILLed: ' + str(killed) + ')' if killed else ''}", clock)
    left = {name: sorted(p for p in pids if S._pid_alive(p)) for name, pids in trees.items()}
    assert not any(left.values()), f"still running after stack-stop: {left}"
    assert set(recorded) == {"mlflow", "code_server", "webserver", "daemon", "service", "app", "prometheus"}
    databases = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-qAt",
            "-c",
            f"SELECT datname FROM pg_database WHERE datname LIKE '{stack.state['tag']}%'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert databases == [], f"databases left: {databases}"
    step("no recorded process or database left", clock)
    shutil.rmtree(home, ignore_errors=True)  # kept (with logs/) when anything above failed
    print("[stack-test] passed")
    return 0


if __name__ == "__main__":
    sys.exit(run_stack_test())
