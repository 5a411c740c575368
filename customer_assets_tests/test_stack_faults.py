"""The pieces `make stack-test` relies on for its alerts and faults, fast: the PostgreSQL probe behind
DatabaseDown (deploy/pg_probe.py) and run monitoring in dagster.yaml (what marks a run whose process died).
The faults themselves run in `make stack-test` (deploy/stack_test.py, see docs/deploying.md)."""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def admin_or_skip():
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    except Exception as error:  # noqa: BLE001 - any failure means "no server here"
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 ({error})")
    connection.autocommit = True
    return connection


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line and not line.startswith("#")
    }


def test_pg_probe_reports_pg_up_and_its_drop_when_the_database_refuses_connections():
    admin = admin_or_skip()
    database = f"pgprobe_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    port = free_port()
    missing = f"pgprobe_missing_{uuid.uuid4().hex[:8]}"
    probe = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy" / "pg_probe.py"), "--port", str(port), "--database", database,
         "--database", missing],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                metrics = scrape(port)
                break
            except OSError:
                assert time.monotonic() < deadline, "the probe did not answer"
                time.sleep(0.2)
        assert metrics[f'pg_up{{database="{database}"}}'] == 1
        assert metrics[f'pg_up{{database="{missing}"}}'] == 0  # a database that does not exist is down
        assert metrics[f'pg_probe_duration_seconds{{database="{database}"}}'] >= 0
        # What make stack-test does for DatabaseDown (the shared server itself is never stopped).
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        assert scrape(port)[f'pg_up{{database="{database}"}}'] == 0
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        assert scrape(port)[f'pg_up{{database="{database}"}}'] == 1
    finally:
        probe.terminate()
        probe.wait(timeout=10)
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def test_dagster_yaml_turns_run_monitoring_on_for_the_default_launcher(tmp_path, monkeypatch):
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    monitoring = config["run_monitoring"]
    # The DefaultRunLauncher can neither check a worker's health nor resume a run: a dead run is failed by time.
    assert monitoring["enabled"] is True and monitoring["max_resume_run_attempts"] == 0
    assert 0 < monitoring["start_timeout_seconds"] and 3600 <= monitoring["max_runtime_seconds"]
    admin = admin_or_skip()
    database = f"dagster_monitoring_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    for key, value in {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "postgres",
                       "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": database}.items():
        monkeypatch.setenv(key, value)
    import dagster as dg

    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert instance.run_monitoring_enabled
            assert instance.run_monitoring_max_runtime_seconds == monitoring["max_runtime_seconds"]
            assert instance.run_monitoring_max_resume_run_attempts == 0
            assert not instance.run_launcher.supports_check_run_worker_health  # why max_runtime is the backstop
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
