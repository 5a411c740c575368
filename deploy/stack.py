"""The docker-compose topology run natively on 127.0.0.1 against a temporary home: try the deployment without Docker.

    python deploy/stack.py start      # make stack       (prints the URLs; the processes keep running)
    python deploy/stack.py stop       # make stack-stop  (stops exactly the processes `start` recorded)
    python deploy/stack.py test       # make stack-test  (its own stack on free ports: run, serve, alert, stop)

What runs, as in docker-compose.yml: the local PostgreSQL (trust auth at 127.0.0.1:5432) with the databases
and the read-only Grafana role of deploy/postgres/init-databases.sh (names prefixed with this stack's tag, so a
stack never touches other databases); the Dagster code server (`dagster code-server start`, gRPC),
dagster-webserver and dagster-daemon on the repo's dagster.yaml (PostgreSQL storage, queued run coordinator and
its limits, run monitoring); an MLflow server on its PostgreSQL database with the artifact folder in the home; the
scoring service from a built bento (`bentoml build -f bentos/bentofile.yaml .` offline into <home>/bentoml, then
`bentoml serve <tag>`: the bento's copy of the code, not the source tree); the Streamlit app; Prometheus (the
Debian package) scraping the service and deploy/pg_probe.py (postgres-exporter's `pg_up` for the stack's three
databases) with deploy/prometheus/rules.yml. Not run: Grafana and postgres-exporter (not installed here).

The warehouse is PostgreSQL (WAREHOUSE_URL), MLflow is the server; the API key is generated (in stack.json).
The state (home, ports, PIDs, databases) is written to <home>/stack.json; `stop` sends SIGINT (Dagster maps
SIGTERM to nothing useful, see the field notes) or SIGTERM to each recorded process group, SIGKILL after 30 s,
then drops the stack's databases and role. Home: CUSTOMER_ML_STACK_HOME (default <tmp>/customer-ml-stack).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCATION = "customer_assets"
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}
DEFAULT_PORTS = {
    "webserver": 3000,
    "service": 3001,
    "grpc": 4000,
    "mlflow": 5000,
    "app": 8501,
    "prometheus": 9090,
    "pg_probe": 9187,
}
# Knobs of the test stack (small data and searches, as the test suite's shared home).
SMALL = {
    "CUSTOMER_ML_SYNTHETIC_CUSTOMERS": "300",
    "CUSTOMER_ML_CHURN_SEARCH_SECONDS": "0",
    "CUSTOMER_ML_REVIEW_TOPICS_K_MIN": "3",
    "CUSTOMER_ML_REVIEW_TOPICS_K_MAX": "5",
    "CUSTOMER_ML_REVIEW_TOPICS_SAMPLE": "2000",
    "CUSTOMER_ML_REVIEW_TOPICS_STABILITY_SEEDS": "1",
    "CUSTOMER_ML_SEGMENTATION_TSNE_SAMPLE_SIZE": "150",
    "CUSTOMER_ML_SEGMENTATION_STABILITY_RESAMPLES": "3",
    "CUSTOMER_ML_SEGMENTATION_STABILITY_SAMPLE_SIZE": "250",
    "CUSTOMER_ML_SEGMENTATION_SILHOUETTE_SAMPLE_SIZE": "250",
}
DAGSTER_PROCESSES = ("code_server", "webserver", "daemon")


def default_home() -> Path:
    return Path(os.environ.get("CUSTOMER_ML_STACK_HOME") or Path(tempfile.gettempdir()) / "customer-ml-stack")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _restore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def http(url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _psql(sql: str, database: str = "postgres") -> None:
    subprocess.run(
        [
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            PG["host"],
            "-p",
            PG["port"],
            "-U",
            PG["user"],
            "-d",
            database,
            "-qAt",
            "-c",
            sql,
        ],
        check=True,
        capture_output=True,
        text=True,
    )


# --- state ---------------------------------------------------------------------------------------------------


class Stack:
    def __init__(self, home: Path, state: dict):
        self.home = home
        self.state = state
        self.envs: dict[str, dict] = {}  # the full environment of each process (in memory only: restart_process)

    @property
    def file(self) -> Path:
        return self.home / "stack.json"

    def save(self) -> None:
        self.file.write_text(json.dumps(self.state, indent=2))
        self.file.chmod(0o600)

    @classmethod
    def load(cls, home: Path) -> Stack | None:
        file = home / "stack.json"
        return cls(home, json.loads(file.read_text())) if file.exists() else None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.state['ports'][name]}"

    def alive(self) -> dict[str, int]:
        return {name: pid for name, pid in self.state.get("pids", {}).items() if _ours(pid, self.state["cmd"][name])}


def _ours(pid: int, command: list[str]) -> bool:
    """`pid` runs and is still the process we started (not a reused id): its command line starts the same."""
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    return any(Path(command[0]).name in part for part in cmdline[:2]) or command[0] in cmdline


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _pid_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- start ---------------------------------------------------------------------------------------------------


def start(
    home: Path | None = None,
    ports: dict | None = None,
    extra_env: dict | None = None,
    rules_for: str | None = None,
    scrape_interval: str = "15s",
    automation: str = "running",
    quiet: bool = False,
    data_tmpfs: str | None = None,
) -> Stack:
    """Start the stack. `data_tmpfs` (a size, e.g. "300m"; a test's fault injection, needs root) mounts a tmpfs of
    that size as the data home (<home>/data: snapshots, MLflow artifacts, landing), so a disk can be filled."""
    home = (home or default_home()).resolve()
    previous = Stack.load(home) if home.exists() else None
    if previous and previous.alive():
        raise SystemExit(f"a stack is already running from {home} (pids {previous.alive()}): make stack-stop")
    if previous:
        _drop_databases(previous)
        _unmount(previous)
    shutil.rmtree(home, ignore_errors=True)
    (home / "logs").mkdir(parents=True)
    tag = "cmlstack_" + secrets.token_hex(3)
    ports = {**DEFAULT_PORTS, **(ports or {})}
    databases = {"dagster": f"{tag}_dagster", "mlflow": f"{tag}_mlflow", "warehouse": f"{tag}_warehouse"}
    stack = Stack(
        home,
        {
            "home": str(home),
            "tag": tag,
            "ports": ports,
            "databases": databases,
            "grafana_role": f"{tag}_grafana",
            "api_key": secrets.token_hex(24),
            "pids": {},
            "cmd": {},
            "mounts": [],
        },
    )
    stack.save()
    try:
        (home / "data").mkdir()
        if data_tmpfs:
            _mount_tmpfs(stack, home / "data", data_tmpfs)
        _create_databases(stack)
        _start_processes(stack, extra_env or {}, rules_for, scrape_interval, automation)
        wait_ready(stack)
        record_children(stack)
    except BaseException:
        stop(stack, quiet=True)
        raise
    if not quiet:
        print(describe(stack))
    return stack


def _create_databases(stack: Stack) -> None:
    names = stack.state["databases"]
    env = {
        **os.environ,
        "POSTGRES_USER": PG["user"],
        "PGHOST": PG["host"],
        "PGPORT": PG["port"],
        "DAGSTER_PG_DB": names["dagster"],
        "MLFLOW_PG_DB": names["mlflow"],
        "WAREHOUSE_PG_DB": names["warehouse"],
        "GRAFANA_PG_USER": stack.state["grafana_role"],
        "GRAFANA_PG_PASSWORD": secrets.token_hex(16),
    }
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "postgres" / "init-databases.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"deploy/postgres/init-databases.sh failed: {done.stderr.strip()}")


def _postgres_url(database: str) -> str:
    return f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{database}"


def _start_processes(
    stack: Stack, extra_env: dict, rules_for: str | None, scrape_interval: str, automation: str
) -> None:
    home, ports, names = stack.home, stack.state["ports"], stack.state["databases"]
    dagster_home = home / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    workspace = home / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {ports['grpc']}\n"
        f"      location_name: {LOCATION}\n"
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_HOST": PG["host"],
        "DAGSTER_PG_PORT": PG["port"],
        "DAGSTER_PG_USER": PG["user"],
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": names["dagster"],
        "CUSTOMER_ML_HOME": str(home / "data"),
        "WAREHOUSE_URL": _postgres_url(names["warehouse"]),
        "MLFLOW_TRACKING_URI": stack.url("mlflow"),
        "CUSTOMER_ML_API_KEY": stack.state["api_key"],
        "CUSTOMER_ML_AUTOMATION_DEFAULT_STATUS": automation,
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "TQDM_DISABLE": "1",
        "PYTHONWARNINGS": "ignore",
        **extra_env,
    }
    env.pop("CUSTOMER_ML_AS_OF", None)
    service_env = {**env, "BENTOML_HOME": str(home / "bentoml")}
    bento = build_bento(stack, service_env)
    prometheus_dir = home / "prometheus"
    prometheus_dir.mkdir()
    rules = (ROOT / "deploy" / "prometheus" / "rules.yml").read_text()
    if rules_for:  # a test override: every alert fires after `rules_for` instead of minutes
        rules = re.sub(r"(?m)^(\s+for:\s*)\S+", lambda m: m.group(1) + rules_for, rules)
    (prometheus_dir / "rules.yml").write_text(rules)
    (prometheus_dir / "prometheus.yml").write_text(
        f"global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: {scrape_interval}\n"
        f"  external_labels:\n    stack: customer-ml\nrule_files:\n  - rules.yml\nscrape_configs:\n"
        f"  - job_name: customer-ml-service\n    metrics_path: /metrics\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{ports['service']}']\n        labels:\n          service: scoring\n"
        f"  - job_name: postgres\n    static_configs:\n      - targets: ['127.0.0.1:{ports['pg_probe']}']\n"
        f"  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{ports['prometheus']}']\n"
    )
    commands = {
        "mlflow": [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            _postgres_url(names["mlflow"]),
            "--serve-artifacts",
            "--artifacts-destination",
            str(home / "data" / "mlartifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(ports["mlflow"]),
            "--workers",
            "1",
        ],
        "code_server": [
            str(BIN / "dagster"),
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(ports["grpc"]),
            "-m",
            "customer_assets.definitions",
            "-a",
            "defs",
            "--location-name",
            LOCATION,
        ],
        "webserver": [
            str(BIN / "dagster-webserver"),
            "-h",
            "127.0.0.1",
            "-p",
            str(ports["webserver"]),
            "-w",
            str(workspace),
        ],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
        "service": [
            str(BIN / "bentoml"),
            "serve",
            bento,
            "--host",
            "127.0.0.1",
            "--port",
            str(ports["service"]),
        ],
        "app": [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "customer_assets/app/main.py",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(ports["app"]),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        "prometheus": [
            shutil.which("prometheus") or "/usr/bin/prometheus",
            f"--config.file={prometheus_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={prometheus_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            "--web.enable-lifecycle",
        ],
        "pg_probe": [
            sys.executable,
            str(ROOT / "deploy" / "pg_probe.py"),
            "--port",
            str(ports["pg_probe"]),
            *(arg for database in names.values() for arg in ("--database", database)),
        ],
    }
    for name, command in commands.items():
        start_process(stack, name, command, service_env if name == "service" else env)
        if name == "code_server":  # the webserver and daemon load the location once: it must answer first
            _wait(
                stack,
                lambda: (
                    subprocess.run(
                        [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(ports["grpc"])],
                        env=env,
                        capture_output=True,
                        timeout=30,
                    ).returncode
                    == 0
                ),
                180,
                "the code server",
            )


def build_bento(stack: Stack, env: dict) -> str:
    """`bentoml build` of bentos/bentofile.yaml into the stack's BENTOML_HOME, offline (the lock file is not
    re-locked, see the bentofile); returns the built tag, which the service serves (not the source tree)."""
    started = time.monotonic()
    with open(stack.home / "logs" / "bentoml-build.log", "wb") as log:
        done = subprocess.run(
            [str(BIN / "bentoml"), "build", "-f", "bentos/bentofile.yaml", ".", "-o", "tag"],
            cwd=ROOT,
            env={**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"},  # the build runs `uv`
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            timeout=600,
        )
    tag = done.stdout.strip().splitlines()[-1].removeprefix("__tag__:") if done.stdout.strip() else ""
    if done.returncode != 0 or not tag:
        raise RuntimeError(f"bentoml build failed: see {stack.home / 'logs' / 'bentoml-build.log'}")
    stack.state["bento"] = {"tag": tag, "seconds": round(time.monotonic() - started, 1)}
    stack.save()
    return tag


def start_process(stack: Stack, name: str, command: list[str], env: dict) -> None:
    """Start one process in its own session (its id is its process group's), SIGINT restored; record it."""
    with open(stack.home / "logs" / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_restore_sigint,
        )
    stack.state["pids"][name] = process.pid
    stack.state["cmd"][name] = command
    stack.envs[name] = env
    stack.state.setdefault("env", {})[name] = {
        k: v for k, v in env.items() if k.startswith(("CUSTOMER_ML_", "DAGSTER_", "MLFLOW_", "WAREHOUSE_"))
    }
    stack.save()


LOCATIONS = """query { workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def graphql(stack: Stack, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    status, raw = http(f"{stack.url('webserver')}/graphql", body, {"Content-Type": "application/json"}, timeout)
    payload = json.loads(raw)
    if status != 200 or "errors" in payload:
        raise RuntimeError(f"GraphQL {status}: {payload.get('errors')}")
    return payload["data"]


def _location_loaded(stack: Stack) -> bool:
    entries = graphql(stack, LOCATIONS, timeout=10)["workspaceOrError"]["locationEntries"]
    entry = next(e for e in entries if e["name"] == LOCATION)
    return entry["loadStatus"] == "LOADED" and entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"


def wait_ready(stack: Stack, seconds: float = 240) -> None:
    checks = {
        "mlflow": lambda: http(f"{stack.url('mlflow')}/health")[0] == 200,
        "service": lambda: http(f"{stack.url('service')}/healthz")[0] == 200,
        "app": lambda: http(f"{stack.url('app')}/_stcore/health")[0] == 200,
        "prometheus": lambda: http(f"{stack.url('prometheus')}/-/ready")[0] == 200,
        "pg_probe": lambda: http(f"{stack.url('pg_probe')}/metrics")[0] == 200,
        "webserver": lambda: _location_loaded(stack),
    }
    deadline = time.monotonic() + seconds
    pending = dict(checks)
    while pending:
        for name, pid in stack.state["pids"].items():
            if not _pid_alive(pid):
                raise RuntimeError(f"{name} exited during start: see {stack.home / 'logs' / (name + '.log')}")
        for name, check in list(pending.items()):
            try:
                if check():
                    pending.pop(name)
            except RuntimeError:
                raise
            except Exception:  # noqa: BLE001 - not up yet
                pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready within {seconds} s: {sorted(pending)} (logs in {stack.home / 'logs'})")
        time.sleep(1)


def _wait(stack: Stack, check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, pid in stack.state["pids"].items():
            if not _pid_alive(pid):
                raise RuntimeError(f"{name} exited: see {stack.home / 'logs' / (name + '.log')}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(1)
    raise TimeoutError(f"{what} not ready within {seconds} s (logs in {stack.home / 'logs'})")


def describe(stack: Stack) -> str:
    s = stack.state
    return "\n".join(
        [
            f"customer-ml stack on 127.0.0.1, home {stack.home} (state and PIDs in stack.json, logs in logs/)",
            f"  Dagster UI / GraphQL  {stack.url('webserver')}   (code server gRPC 127.0.0.1:{s['ports']['grpc']})",
            f"  scoring API           {stack.url('service')}   (X-API-Key: see api_key in stack.json)",
            f"  MLflow                {stack.url('mlflow')}",
            f"  app                   {stack.url('app')}",
            f"  Prometheus            {stack.url('prometheus')}   (PostgreSQL probe {stack.url('pg_probe')}/metrics)",
            f"  bento                 {s.get('bento', {}).get('tag')} (BENTOML_HOME {stack.home / 'bentoml'})",
            f"  PostgreSQL databases  {', '.join(s['databases'].values())} at 127.0.0.1:5432",
            "Materialize from the UI (load_source, then build_marts for a day) or wait for the schedule; "
            "`make stack-stop` stops it.",
        ]
    )


# --- stop ----------------------------------------------------------------------------------------------------


def record_children(stack: Stack) -> None:
    """Record what each process started. BentoML's worker runs in its own session and outlives a SIGKILL of
    `bentoml serve` (still answering on the port): stop and the fault injection must know it by PID."""
    stack.state["children"] = {name: sorted(_descendants(pid)) for name, pid in stack.state["pids"].items()}
    stack.save()


def _tree(stack: Stack, name: str) -> set[int]:
    """The recorded process, the children recorded at start and its current descendants, those still alive."""
    pid = stack.state["pids"].get(name)
    pids = set(stack.state.get("children", {}).get(name, []))
    if pid is not None and _ours(pid, stack.state["cmd"][name]):
        pids |= {pid, *_descendants(pid)}
    return {p for p in pids if _pid_alive(p)}


def stop(stack: Stack | None = None, quiet: bool = False, seconds: float = 30) -> dict[str, list[int]]:
    """Stop the recorded processes (and what they started); drop the stack's databases. Returns what had to be
    SIGKILLed."""
    stack = stack or Stack.load(default_home())
    if stack is None:
        if not quiet:
            print(f"no stack at {default_home()}")
        return {}
    alive = stack.alive()
    trees = {name: _tree(stack, name) for name in stack.state.get("pids", {})}
    trees = {name: pids for name, pids in trees.items() if pids}
    for name, pids in trees.items():
        sig = signal.SIGINT if name in DAGSTER_PROCESSES else signal.SIGTERM
        for pid in sorted(pids):
            try:
                if pid == stack.state["pids"][name]:
                    os.killpg(pid, sig)
                elif name not in alive:  # orphans of a process that already died
                    os.kill(pid, sig)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_pid_alive(p) for pids in trees.values() for p in pids):
        time.sleep(0.5)
    killed = {}
    for name, pids in trees.items():
        left = sorted(p for p in pids if _pid_alive(p))
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if left:
            killed[name] = left
    stack.state["stopped"] = {"pids": stack.state["pids"], "children": stack.state.get("children", {})}
    stack.state["pids"], stack.state["children"] = {}, {}
    stack.save()
    waited = time.monotonic()
    _drop_databases(stack)
    _unmount(stack)
    stack.state["stop_seconds"] = {
        "processes": round(waited - deadline + seconds, 1),
        "databases": round(time.monotonic() - waited, 1),
    }
    stack.save()
    if not quiet:
        print(
            f"stopped {', '.join(alive) or 'nothing (no process was running)'}"
            + (f"; had to SIGKILL {killed}" if killed else "")
        )
    return killed


def _drop_databases(stack: Stack) -> None:
    for database in stack.state.get("databases", {}).values():
        try:
            _psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")
            _psql(f'DROP DATABASE IF EXISTS "{database}"')
        except subprocess.CalledProcessError as error:
            print(f"could not drop {database}: {error.stderr.strip()}", file=sys.stderr)
    role = stack.state.get("grafana_role")
    if role:
        try:
            _psql(f'DROP ROLE IF EXISTS "{role}"')
        except subprocess.CalledProcessError as error:
            print(f"could not drop role {role}: {error.stderr.strip()}", file=sys.stderr)


def _mount_tmpfs(stack: Stack, path: Path, size: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)
    stack.state["mounts"].append(str(path))
    stack.save()


def _unmount(stack: Stack) -> None:
    for path in reversed(stack.state.get("mounts", [])):
        if os.path.ismount(path):
            done = subprocess.run(["umount", path], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"could not unmount {path}: {done.stderr.strip()}", file=sys.stderr)
                continue
        stack.state["mounts"].remove(path)
    stack.save()


def restart_process(stack: Stack, name: str) -> None:
    """Start a recorded process again with its command and environment (what compose's restart policy or a
    supervisor does after a crash). Only within the process that started the stack (the environment is not
    written to stack.json)."""
    assert not _tree(stack, name), f"{name} still runs"
    start_process(stack, name, stack.state["cmd"][name], stack.envs[name])


def kill_process(stack: Stack, name: str, sig: int = signal.SIGKILL) -> None:
    """Fault injection: signal one recorded process and everything it started (BentoML's worker included)."""
    for pid in _tree(stack, name):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


# --- test ----------------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "start"
    if command == "start":
        start()
    elif command == "stop":
        stop()
    elif command == "test":
        sys.path.insert(0, str(ROOT / "deploy"))
        from stack_test import run_stack_test

        return run_stack_test()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
