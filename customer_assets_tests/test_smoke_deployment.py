"""End-to-end smoke test of a running deployment on this machine.

Starts the code location as a gRPC code server, dagster-webserver and dagster-daemon on free 127.0.0.1 ports
against a temporary DAGSTER_HOME (SQLite storage, queued runs: the daemon dequeues them) and a temporary
CUSTOMER_ML_HOME with 300 synthetic customers; launches the `load_source` job through the GraphQL API; waits
for it to succeed; then stops every process by its id with SIGINT (started with SIGINT restored to its default,
see field notes) and checks that none is left.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCATION = "customer_assets"
STARTUP_SECONDS = 100
RUN_SECONDS = 120

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on InvalidOutputError { stepKey }
  }
}"""
RUN_STATUS = """
query Status($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }"""
LOCATIONS = """
query { workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def restore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def graphql(port: int, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


def wait_for(predicate, seconds: float, what: str, processes):
    started = time.monotonic()
    try:
        return _wait_for(predicate, seconds, what, processes)
    finally:
        print(f"[smoke] {what}: {time.monotonic() - started:.1f} s")


def _wait_for(predicate, seconds: float, what: str, processes):
    deadline = time.monotonic() + seconds
    last_error = None
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode} while waiting for {what}")
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # not up yet
            last_error = error
        time.sleep(1)
    pytest.fail(f"timed out after {seconds} s waiting for {what} (last error: {last_error})")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes: it holds no port and runs no code.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (the webserver and daemon may start helpers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def stop(processes: dict, seconds: float = 30) -> dict:
    """SIGINT each process by id, wait, and report what did not exit (then kill that, so nothing leaks)."""
    tree = {name: {p.pid, *descendants(p.pid)} for name, p in processes.items()}
    for process in processes.values():
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)
    deadline = time.monotonic() + seconds
    for process in processes.values():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pass
    time.sleep(1)
    leftovers = {name: sorted(pid for pid in pids if pid_alive(pid)) for name, pids in tree.items()}
    for pids in leftovers.values():
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for process in processes.values():
        if process.poll() is None:
            process.wait(timeout=10)
    return {name: pids for name, pids in leftovers.items() if pids}


@pytest.fixture
def deployment(tmp_path):
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
        "  config:\n    max_concurrent_runs: 1\n"
    )
    grpc_port, web_port = free_port(), free_port()
    (tmp_path / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {grpc_port}\n"
        f"      location_name: {LOCATION}\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "CUSTOMER_ML_HOME": str(tmp_path / "home"),
        "CUSTOMER_ML_SYNTHETIC_CUSTOMERS": "300",
        # Nothing but the launched run should start work: no schedules or sensors on their own.
        "CUSTOMER_ML_AUTOMATION_DEFAULT_STATUS": "stopped",
        "DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("CUSTOMER_ML_AS_OF", None)
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = {}

    def start(name, args):
        log = open(logs / f"{name}.log", "wb")
        processes[name] = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, preexec_fn=restore_sigint)
        log.close()

    try:
        start("code_server", [str(BIN / "dagster"), "api", "grpc", "-h", "127.0.0.1", "-p", str(grpc_port),
                              "-m", "customer_assets.definitions", "-a", "defs", "--location-name", LOCATION])
        wait_for(lambda: subprocess.run([str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(grpc_port)],
                                        env=env, capture_output=True, timeout=30).returncode == 0,
                 STARTUP_SECONDS, "the code server", processes)
        workspace = str(tmp_path / "workspace.yaml")
        start("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-w", workspace])
        start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace])
        yield web_port, processes, logs
    finally:
        started = time.monotonic()
        leftovers = stop(processes)
        print(f"[smoke] stop: {time.monotonic() - started:.1f} s")
        if leftovers:
            pytest.fail(f"processes still running after SIGINT (killed now): {leftovers}")


def test_launch_a_job_through_graphql_and_wait_for_success(deployment):
    port, processes, logs = deployment

    def location_loaded():
        entries = graphql(port, LOCATIONS, timeout=10)["workspaceOrError"]["locationEntries"]
        entry = next(e for e in entries if e["name"] == LOCATION)
        assert entry["locationOrLoadError"]["__typename"] != "PythonError", entry["locationOrLoadError"]
        return entry["loadStatus"] == "LOADED" and entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"

    wait_for(location_loaded, STARTUP_SECONDS, "the webserver to load the code location", processes)
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                           "jobName": "load_source"},
              "runConfigData": {}, "executionMetadata": {"tags": [{"key": "customer-ml/test", "value": "smoke"}]}}
    launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished():
        status = graphql(port, RUN_STATUS, {"runId": run_id}, timeout=10)["runOrError"]["status"]
        return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

    status = wait_for(finished, RUN_SECONDS, f"run {run_id} to finish", processes)
    if status != "SUCCESS":
        tail = "\n".join((logs / f"{n}.log").read_text(errors="replace")[-3000:] for n in ("code_server", "daemon"))
        pytest.fail(f"run {run_id} ended {status}:\n{tail}")
    # The run really wrote the warehouse of the temporary home.
    home = Path(logs.parent / "home")
    assert (home / "warehouse.duckdb").exists() and (home / "landing").is_dir()
