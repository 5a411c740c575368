"""Start and stop a real `bentoml serve` process on 127.0.0.1 (used by the tests and the benchmark)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
BENTOML = Path(sys.executable).with_name("bentoml")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(
    port: int,
    env: dict[str, str],
    service: str = "bentos.service:CustomerML",
    log: Path | None = None,
    cwd: Path = REPO_ROOT,
) -> subprocess.Popen:
    """`bentoml serve` in its own process group, so `stop` ends its workers with it."""
    full_env = {**os.environ, "DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", **env}
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [str(BENTOML), "serve", service, "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if log:  # the server holds its own copy of the descriptor; ours would leak (a ResourceWarning)
            out.close()  # type: ignore[union-attr]


def wait_ready(base_url: str, process: subprocess.Popen, timeout: float = 120.0, path: str = "/readyz") -> float:
    """Seconds until `path` answered 200; raises if the process died or the time ran out."""
    started = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited with {process.returncode} before {path} answered 200")
            try:
                if client.get(path).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"{base_url}{path} not 200 within {timeout}s")


def stop(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM to the server's process group (its id is the server's pid), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
    except ProcessLookupError:
        pass
