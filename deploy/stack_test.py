"""`make stack-test`: drive a native stack (deploy/stack.py) the way operations would, on free loopback ports.

1. start the stack (small synthetic data, automation stopped, the data home on a tmpfs, the service from a built
   bento; Prometheus scrapes every second and a test override of rules.yml shortens every `for:` to 2 s);
2. before anything is built the service has no snapshot: predictions answer 503 and HighApiErrorRate fires;
   `load_source`, then `build_marts` for the as-of day, launched through Dagster's GraphQL API, succeed
   (PostgreSQL is the warehouse, MLflow the server) and the service serves that day's snapshot and champions;
3. `build_marts` for the same day again under continuous load: the new snapshot is picked up with zero failed
   requests, the day's marts have no duplicate customer; the targets are up, HighApiErrorRate clears;
4. DatabaseDown fires (the warehouse database refuses connections: deploy/pg_probe.py's pg_up drops) and clears;
5. faults, each with nothing lost: MLflow killed during training; kill -9 of the code server mid-run (run
   monitoring fails the run); the run's warehouse connections terminated (the safe variant of a PostgreSQL restart);
   the data home full;
6. StaleSnapshot fires (a snapshot dated three days back is published);
7. the daemon, down over the daily schedule's tick, catches it up once restarted (a daily_refresh run), is
   SIGKILLed again during that run and restarted: the run succeeds, StaleSnapshot clears, no duplicates;
8. the service is killed (SIGKILL of it and its worker): ScoringServiceDown fires;
9. stop: every recorded process is gone, the tmpfs unmounted, the stack's databases dropped.
Exit 0 when all of it held; each step prints its time and what it observed. docs/deploying.md has the table.
"""

from __future__ import annotations

import datetime as dt
import errno
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
RUN_LOGS = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    __typename
    ... on EventConnection { events {
      __typename
      ... on MessageEvent { message stepKey }
      ... on ExecutionStepFailureEvent { error { message causes { message } } }
      ... on RunFailureEvent { error { message } }
      ... on EngineEvent { error { message } }
    } }
  }
}"""
RELOAD = """mutation Reload($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
  __typename ... on WorkspaceLocationEntry { loadStatus } } }"""
RUN_SECONDS = 900
DATA_TMPFS = "1g"  # the data home of the test stack: small, so the full-disk fault can fill it
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


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


def submit(stack: S.Stack, job: str, tags: dict | None = None) -> str:
    """Launch a run through GraphQL (queued: the daemon dequeues it onto the code server); its id."""
    params = {
        "selector": {"repositoryLocationName": S.LOCATION, "repositoryName": "__repository__", "jobName": job},
        "runConfigData": {},
        "executionMetadata": {
            "tags": [{"key": k, "value": v} for k, v in {"customer-ml/stack-test": "1", **(tags or {})}.items()]
        },
    }
    launched = S.graphql(stack, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def run_status(stack: S.Stack, run_id: str) -> str:
    return S.graphql(stack, RUN_STATUS, {"runId": run_id}, timeout=10)["runOrError"]["status"]


def wait_run(stack: S.Stack, run_id: str, seconds: float = RUN_SECONDS) -> str:
    def finished():
        status = run_status(stack, run_id)
        return status if status in FINISHED else None

    return wait_for(finished, seconds, f"run {run_id} to finish")


def launch(stack: S.Stack, job: str, tags: dict | None = None) -> str:
    run_id = submit(stack, job, tags)
    status = wait_run(stack, run_id)
    assert status == "SUCCESS", f"{job} run {run_id} ended {status}: see {stack.home / 'logs'}"
    return run_id


def wait_started(stack: S.Stack, run_id: str, steps: int = 1) -> None:
    """Until the run is STARTED and `steps` steps have started (so a fault lands inside a run, not before)."""

    def started():
        status = run_status(stack, run_id)
        if status in FINISHED:
            return status
        events = run_events(stack, run_id)
        return sum(e["__typename"] == "ExecutionStepStartEvent" for e in events) >= steps

    status = wait_for(started, 300, f"run {run_id} to start {steps} steps")
    if status in FINISHED:
        raise AssertionError(f"run {run_id} ended {status} before the fault: {failure_text(stack, run_id)[-2000:]}")


def run_events(stack: S.Stack, run_id: str) -> list[dict]:
    return S.graphql(stack, RUN_LOGS, {"runId": run_id}, timeout=30)["logsForRun"]["events"]


def failure_text(stack: S.Stack, run_id: str) -> str:
    """Every error message of the run's failure events (step failures, the run failure, engine errors)."""
    texts = []
    for event in run_events(stack, run_id):
        error = event.get("error")
        if event["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent") or error:
            texts.append(event.get("message") or "")
            if error:
                texts += [error["message"], *(c["message"] for c in error.get("causes") or [])]
    return "\n".join(t for t in texts if t)


def messages(stack: S.Stack, run_id: str) -> str:
    """Every message of the run's events and every error in them (logged warnings and degraded steps too)."""
    texts = []
    for event in run_events(stack, run_id):
        texts.append(event.get("message") or "")
        error = event.get("error")
        if error:
            texts += [error["message"], *(c["message"] for c in error.get("causes") or [])]
    return "\n".join(t for t in texts if t)


def first_line(text: str, needle: str) -> str:
    return next((line.strip() for line in text.splitlines() if needle.lower() in line.lower()), "")[:200]


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


class Load:
    """Clients posting a churn prediction in a loop (a context manager): how many answered, which failed."""

    def __init__(self, stack: S.Stack, key: dict, customer: str, clients: int = 2):
        self.url, self.headers = f"{stack.url('service')}/predict/churn", {**key, "Content-Type": "application/json"}
        self.body = json.dumps({"customer_id": customer}).encode()
        self.answered, self.done = 0, threading.Event()
        self.failures: list[tuple[int, bytes]] = []
        self.workers = [threading.Thread(target=self._hammer, daemon=True) for _ in range(clients)]

    def _hammer(self) -> None:
        while not self.done.is_set():
            try:
                code, raw = S.http(self.url, self.body, self.headers, timeout=30)
            except OSError as error:
                code, raw = 0, str(error).encode()
            self.answered += 1
            if code != 200:
                self.failures.append((code, raw[:200]))
            time.sleep(0.05)

    def __enter__(self) -> Load:
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.done.set()
        for worker in self.workers:
            worker.join(timeout=60)

    def check(self, least: int = 20) -> str:
        assert self.answered >= least and self.failures == [], (self.answered, self.failures[:5])
        return f"{self.answered} requests, 0 failed"


def current(stack: S.Stack) -> str:
    """The snapshot version the home's `current` link points to (what the last successful publish wrote)."""
    return os.readlink(stack.home / "data" / "online" / "current")


def settled(stack: S.Stack, key: dict) -> str:
    """Until the service serves the current snapshot (it polls): that version."""
    return wait_for(
        lambda: served_version(stack, key) == current(stack) and current(stack), 60, "the service to settle"
    )


def failed_steps(stack: S.Stack, run_id: str) -> list[str]:
    return sorted({e["stepKey"] for e in run_events(stack, run_id) if e["__typename"] == "ExecutionStepFailureEvent"})


def served_version(stack: S.Stack, key: dict) -> str:
    return json.loads(S.http(f"{stack.url('service')}/models", headers=key)[1])["snapshot"]["version"]


def no_duplicates(stack: S.Stack, day: str) -> str:
    """Every scored mart of the day has one row per customer; returns the counts."""
    counts = []
    for table in ("churn_scores", "customer_segments", "customer_value"):
        rows = _psql(
            stack,
            "warehouse",
            f"SELECT count(*), count(DISTINCT customer_id) FROM marts.{table} WHERE as_of_date = '{day}'",
        )
        total, distinct = (int(x) for x in rows.split("|"))
        assert total == distinct > 0, (table, total, distinct)
        counts.append(f"{table} {total}")
    return ", ".join(counts)


def in_stack_env(stack: S.Stack, code: str) -> str:
    """Run Python with the code server's settings (the stack's home, warehouse, MLflow)."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=S.ROOT,
        env={**os.environ, **stack.state["env"]["code_server"]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


# Republish the current snapshot's tables as a new version whose manifest says it was created three days ago
# (what a restored backup or a stuck pipeline leaves behind), through the library's own writer.
BACKDATE = """
import datetime as dt, polars as pl
from customer_assets.config import load_settings
from customer_assets.serving import snapshot as s
target = s.online_dir(load_settings().home)
current = target / s.current_version(target)
manifest = {k: v for k, v in s.read_manifest(current).items() if k not in ("format", "version")}
manifest["created_at"] = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).isoformat(timespec="seconds")
frames = {p.stem: pl.read_parquet(p) for p in current.glob("*.parquet")}
print(s.write_snapshot(frames, target, manifest).version)
"""


def champions(stack: S.Stack) -> dict[str, str]:
    """Registered model -> the version its `champion` alias points to (MLflow's REST API)."""
    status, raw = S.http(f"{stack.url('mlflow')}/api/2.0/mlflow/registered-models/search?max_results=100")
    assert status == 200, raw
    return {
        m["name"]: next((a["version"] for a in m.get("aliases", []) if a["alias"] == "champion"), None)
        for m in json.loads(raw).get("registered_models", [])
    }


def terminate_backends(stack: S.Stack, database: str) -> int:
    name = stack.state["databases"][database]
    out = subprocess.run(
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
            f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}' "
            "AND pid <> pg_backend_pid() AND application_name <> 'customer-ml-pg-probe'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return int(out or 0)


def allow_connections(stack: S.Stack, database: str, allow: bool) -> None:
    name = stack.state["databases"][database]
    subprocess.run(
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
            f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"true" if allow else "false"}',
        ],
        capture_output=True,
        text=True,
        check=True,
    )


def restart(stack: S.Stack, name: str) -> None:
    S.restart_process(stack, name)
    if name == "code_server":
        port = stack.state["ports"]["grpc"]
        wait_for(
            lambda: (
                subprocess.run(
                    [str(S.BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)],
                    capture_output=True,
                    timeout=30,
                ).returncode
                == 0
            ),
            180,
            "the restarted code server",
        )
        # The webserver keeps the old connection's state until the location is reloaded (the UI's Reload button).
        S.graphql(stack, RELOAD, {"name": S.LOCATION}, timeout=120)
        wait_for(lambda: S._location_loaded(stack), 120, "the location to load again")
    elif name == "mlflow":
        wait_for(lambda: S.http(f"{stack.url('mlflow')}/health")[0] == 200, 120, "the restarted MLflow server")


def fill(path: Path) -> int:
    """Write `path` until its file system is full (ENOSPC); the bytes written."""
    written, chunk = 0, 1 << 20
    with open(path, "wb", buffering=0) as out:
        while chunk >= 512:
            try:
                written += out.write(b"\0" * chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                chunk //= 2
    assert shutil.disk_usage(path.parent).free < (1 << 16), shutil.disk_usage(path.parent)
    return written


def kill(stack: S.Stack, name: str) -> list[int]:
    pids = sorted(S._tree(stack, name))
    assert pids, f"{name} is not running"
    S.kill_process(stack, name)
    wait_for(lambda: not any(S._pid_alive(p) for p in pids), 20, f"{name}'s processes to exit")
    return pids


SCHEDULE = {
    "repositoryLocationName": S.LOCATION,
    "repositoryName": "__repository__",
    "scheduleName": "daily_refresh_schedule",
}
START_SCHEDULE = """mutation Start($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) {
  __typename ... on PythonError { message } } }"""
SCHEDULED_RUNS = """query Scheduled { runsOrError(filter: {tags: [{key: "dagster/schedule_name",
  value: "daily_refresh_schedule"}]}) { __typename ... on Runs { results { runId status } } } }"""
# The stored schedule state, started `start` (a UTC timestamp): what `startSchedule` wrote, with an earlier start.
BACKDATE_SCHEDULE = """
import dagster as dg
from dagster._core.scheduler.instigation import InstigatorType, ScheduleInstigatorData
instance = dg.DagsterInstance.get()
states = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
          if s.instigator_name == "daily_refresh_schedule"]
assert len(states) == 1, states
state = states[0]
instance.update_instigator_state(
    state.with_data(ScheduleInstigatorData(state.instigator_data.cron_schedule, start_timestamp={start})))
print(state.status)
"""


def scheduled_tick() -> dt.datetime:
    """The last 02:00 UTC (the daily schedule's cron in its default time zone) before now."""
    now = dt.datetime.now(dt.timezone.utc)
    tick = now.replace(hour=2, minute=0, second=0, microsecond=0)
    return tick if tick <= now - dt.timedelta(minutes=1) else tick - dt.timedelta(days=1)


def scheduled_run(stack: S.Stack) -> str | None:
    runs = S.graphql(stack, SCHEDULED_RUNS)["runsOrError"]["results"]
    assert len(runs) <= 1, runs
    return runs[0]["runId"] if runs else None


def run_stack_test(home: Path | None = None) -> int:
    home = home or Path(tempfile.mkdtemp(prefix="customer-ml-stack-test-"))
    ports = {name: S.free_port() for name in S.DEFAULT_PORTS}
    clock = [time.monotonic()]
    # MLflow's client retries a dead server for minutes by default: the test shortens it as it shortens `for:`.
    env = {**S.SMALL, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
    stack = S.start(
        home,
        ports=ports,
        extra_env=env,
        rules_for="2s",
        scrape_interval="1s",
        automation="stopped",
        quiet=True,
        data_tmpfs=DATA_TMPFS,
    )
    step(
        f"stack up in {home} (bento {stack.state['bento']['tag']} built in {stack.state['bento']['seconds']} s, "
        f"data home a {DATA_TMPFS} tmpfs)",
        clock,
    )
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
        partition = {"dagster/partition": day}
        launch(stack, "build_marts", partition)
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
        step(f"the built bento serves the {day} snapshot and its champions", clock)

        # A re-run of the day under continuous load: a new snapshot is published and picked up, no request fails,
        # and the re-run leaves one row per customer (no duplicates).
        first_version = served_version(stack, key)
        with Load(stack, key, customer) as load:
            launch(stack, "build_marts", partition)
            wait_for(lambda: served_version(stack, key) != first_version, 60, "the re-run's snapshot")
        step(f"re-run of {day} under load: {load.check(50)}, new snapshot served, {no_duplicates(stack, day)}", clock)

        def target_up(job):
            targets = prometheus(stack, "/api/v1/targets")["activeTargets"]
            return any(t["labels"]["job"] == job and t["health"] == "up" for t in targets)

        wait_for(lambda: target_up("customer-ml-service") and target_up("postgres"), 60, "the targets up")
        step("Prometheus: customer-ml-service and postgres (probe) targets up", clock)
        wait_for(lambda: "HighApiErrorRate" not in firing(stack), 90, "HighApiErrorRate to clear")
        step("HighApiErrorRate cleared (the 503s are under 5% of the last 5 minutes)", clock)
        before = firing(stack)
        # None of the alerts below fires on a healthy stack (/readyz's 503s while loading are probes, not API errors).
        assert not before & {"ScoringServiceDown", "HighApiErrorRate", "DatabaseDown", "StaleSnapshot"}, before

        # DatabaseDown: the warehouse database refuses connections (ALTER DATABASE ... ALLOW_CONNECTIONS false and
        # its sessions terminated: the shared server itself is never stopped); the probe's pg_up drops to 0.
        allow_connections(stack, "warehouse", False)
        try:
            terminate_backends(stack, "warehouse")
            wait_for(lambda: "DatabaseDown" in firing(stack), 60, "DatabaseDown to fire")
            step("warehouse database refusing connections: pg_up 0, DatabaseDown fired", clock)
        finally:
            allow_connections(stack, "warehouse", True)
        wait_for(lambda: "DatabaseDown" not in firing(stack), 60, "DatabaseDown to clear")
        step("connections allowed again: DatabaseDown cleared", clock)

        # MLflow down during training. The model steps degrade (customer_assets/defs/degrade.py: a failed model step
        # keeps the last good tables and the run goes on) rather than fail the run: asserted is what this code does
        # (each training step says why: MlflowException ... Connection refused), no champion moves, the day's tables
        # keep one row per customer, the service serves on.
        good_tables = no_duplicates(stack, day)
        before_champions = champions(stack)
        assert before_champions and all(before_champions.values()), before_champions
        with Load(stack, key, customer) as load:
            run_id = submit(stack, "build_marts", partition)
            wait_started(stack, run_id)
            kill(stack, "mlflow")
            status = wait_run(stack, run_id)
            time.sleep(3)
        text = messages(stack, run_id)
        reason = first_line(text, "Connection refused") or first_line(text, "mlflow")
        assert status in ("FAILURE", "SUCCESS") and "Connection refused" in text, (status, text[-3000:])
        restart(stack, "mlflow")
        assert champions(stack) == before_champions, (champions(stack), before_champions)
        assert no_duplicates(stack, day) == good_tables
        degraded = sorted({e["stepKey"] for e in run_events(stack, run_id) if "degraded" in (e.get("message") or "")})
        step(
            f"MLflow killed during build_marts: run {status}, degraded steps {degraded} ({reason}); champions "
            f"unchanged {before_champions}; tables intact; service {load.check()}",
            clock,
        )

        # kill -9 of the code server (and the run worker it started) during a run: nothing marks such a run
        # failed but run monitoring's runtime limit (the DefaultRunLauncher cannot check a worker's health), which
        # this run lowers to 60 s with its tag.
        run_id = submit(stack, "build_marts", {**partition, "dagster/max_runtime_seconds": "60"})
        wait_started(stack, run_id, steps=2)
        killed = kill(stack, "code_server")
        restart(stack, "code_server")
        status = wait_run(stack, run_id, 180)
        assert status == "FAILURE", status
        text = messages(stack, run_id)
        assert "maximum runtime" in text and "forcibly marked as failed" in text, text[-2000:]
        assert no_duplicates(stack, day) == good_tables
        step(
            f"code server SIGKILLed mid-run ({len(killed)} processes): run FAILURE by run monitoring "
            f"({first_line(text, 'maximum runtime')}); tables intact",
            clock,
        )

        # PostgreSQL restarted mid-run, the safe variant: the run's connections to the warehouse are terminated
        # (pg_terminate_backend, what a restart does to every session) as they appear, every 0.2 s from its first
        # step until three were cut (or the run ended); the shared server itself is never restarted.
        run_id = submit(stack, "build_marts", partition)
        wait_started(stack, run_id)
        terminated, deadline = 0, time.monotonic() + 180
        while terminated < 3 and time.monotonic() < deadline and run_status(stack, run_id) not in FINISHED:
            terminated += terminate_backends(stack, "warehouse")
            time.sleep(0.2)
        status = wait_run(stack, run_id)
        text = messages(stack, run_id)
        assert terminated >= 1, "no warehouse connection of the run was seen to terminate"
        assert status in ("FAILURE", "SUCCESS"), status
        assert no_duplicates(stack, day) == good_tables
        cut = first_line(text, "terminat") or first_line(text, "server closed") or first_line(text, "degraded")
        failed = sorted(
            {e["stepKey"] for e in run_events(stack, run_id) if e["__typename"] == "ExecutionStepFailureEvent"}
        )
        step(
            f"{terminated} warehouse connections terminated mid-run: run {status} (failed steps {failed}: {cut}); "
            "tables intact",
            clock,
        )

        # A full disk under the home: the data home (snapshots, MLflow artifacts, landing) is a tmpfs; fill it.
        before = settled(stack, key)
        filler = home / "data" / "filler"
        fill(filler)
        try:
            with Load(stack, key, customer) as load:
                run_id = submit(stack, "build_marts", partition)
                status = wait_run(stack, run_id)
            text = messages(stack, run_id)
            assert "No space left on device" in text, (status, text[-3000:])
            # Where the full disk is met first depends on what writes to the data home first (the run's own
            # storage, the snapshot, MLflow's artifacts): the run may fail before any step does. What must hold is
            # a failed run whose error says so, and nothing lost.
            assert status == "FAILURE", status
            assert current(stack) == before and served_version(stack, key) == before  # the last good snapshot
            assert no_duplicates(stack, day) == good_tables
        finally:
            filler.unlink()
        failed = sorted(
            {e["stepKey"] for e in run_events(stack, run_id) if e["__typename"] == "ExecutionStepFailureEvent"}
        )
        degraded = first_line(text, "degraded")
        step(
            f"data home full: run {status} (failed steps {failed or 'none: the run itself failed'}: "
            f"{first_line(text, 'No space left')}; "
            f"first degraded step: {degraded or 'none'}); the served "
            f"snapshot and the tables intact, service {load.check()}",
            clock,
        )

        # StaleSnapshot: a snapshot created three days ago is published; the service serves it and reports its
        # age (customer_ml_snapshot_age_seconds > 2 days). It clears when the scheduled run publishes a fresh one.
        stale = in_stack_env(stack, BACKDATE).splitlines()[-1]
        wait_for(lambda: served_version(stack, key) == stale, 60, "the service to load the backdated snapshot")
        wait_for(lambda: "StaleSnapshot" in firing(stack), 60, "StaleSnapshot to fire")
        step(f"a 3-day-old snapshot ({stale}) served: StaleSnapshot fired", clock)

        # The schedule, ticked by the daemon, with a kill -9 of the daemon during its run. The daemon is down
        # (SIGKILL) over the last 02:00 tick of daily_refresh_schedule; the schedule is started through GraphQL and
        # its state dated from a minute before that tick (as if it had run since then); the restarted daemon
        # catches the missed tick up: one daily_refresh run (source, the day's raw partitions, marts, models) for
        # the day before. During that run the daemon is SIGKILLed again: the run lives in the code server's run
        # worker and goes on; the restarted daemon resumes its loops; the run succeeds, a fresh snapshot is served,
        # StaleSnapshot clears and the days' tables have one row per customer after all the faulted runs.
        kill(stack, "daemon")
        tick = scheduled_tick()
        started = S.graphql(stack, START_SCHEDULE, {"selector": SCHEDULE})["startSchedule"]
        assert started["__typename"] == "ScheduleStateResult", started
        in_stack_env(stack, BACKDATE_SCHEDULE.format(start=tick.timestamp() - 60))
        restart(stack, "daemon")
        run_id = wait_for(lambda: scheduled_run(stack), 180, "the daemon to launch the scheduled run")
        scheduled_day = (tick.date() - dt.timedelta(days=1)).isoformat()
        wait_started(stack, run_id)
        killed = kill(stack, "daemon")
        time.sleep(5)
        restart(stack, "daemon")
        status = wait_run(stack, run_id)
        assert status == "SUCCESS", f"the scheduled daily_refresh after the daemon's kill ended {status}"
        assert scheduled_run(stack) == run_id  # one run for the tick
        wait_for(lambda: served_version(stack, key) not in (stale, first_version), 60, "a fresh snapshot")
        wait_for(lambda: "StaleSnapshot" not in firing(stack), 60, "StaleSnapshot to clear")
        step(
            f"daemon down over the {tick:%Y-%m-%d %H:%M} UTC tick, restarted: it launched daily_refresh "
            f"{scheduled_day}; SIGKILLed again mid-run and restarted: run SUCCESS, fresh snapshot served, "
            f"StaleSnapshot cleared; {day}: {no_duplicates(stack, day)}; {scheduled_day}: "
            f"{no_duplicates(stack, scheduled_day)}",
            clock,
        )

        service = S._tree(stack, "service")
        assert len(service) >= 2, service  # bentoml serve and its worker
        kill(stack, "service")
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
    assert set(recorded) == {
        "mlflow",
        "code_server",
        "webserver",
        "daemon",
        "service",
        "app",
        "prometheus",
        "pg_probe",
    }
    assert not os.path.ismount(home / "data"), "the data tmpfs is still mounted"
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
    step("no recorded process, mount or database left", clock)
    shutil.rmtree(home, ignore_errors=True)  # kept (with logs/) when anything above failed
    print("[stack-test] passed")
    return 0


if __name__ == "__main__":
    sys.exit(run_stack_test())
