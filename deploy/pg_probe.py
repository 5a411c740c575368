"""A PostgreSQL reachability probe for Prometheus: what postgres-exporter's `pg_up` says, for a native stack.

    python deploy/pg_probe.py --port 9187 --database NAME [--database NAME ...]

Serves /metrics on 127.0.0.1: `pg_up{database="NAME"}` is 1 when a new connection to NAME (host, port and user
from PGHOST, PGPORT, PGUSER; default 127.0.0.1:5432, postgres) answers `SELECT 1` within the timeout, else 0;
`pg_probe_duration_seconds{database}` how long the check took. Each scrape connects afresh (a pooled connection
would hide a server that refuses new ones). deploy/prometheus/rules.yml's DatabaseDown fires on `pg_up == 0`
(or on the probe itself not being scraped: `up{job="postgres"} == 0`). docker-compose runs postgres-exporter
instead; deploy/stack.py runs this (postgres-exporter is not installed on the machine it was written on).
"""

from __future__ import annotations

import argparse
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2


def probe(database: str, timeout: int) -> tuple[int, float]:
    started = time.monotonic()
    try:
        connection = psycopg2.connect(
            host=os.environ.get("PGHOST", "127.0.0.1"),
            port=int(os.environ.get("PGPORT", "5432")),
            user=os.environ.get("PGUSER", "postgres"),
            dbname=database,
            connect_timeout=timeout,
            application_name="customer-ml-pg-probe",
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                up = int(cursor.fetchone() == (1,))
        finally:
            connection.close()
    except psycopg2.Error:
        up = 0
    return up, time.monotonic() - started


def render(databases: list[str], timeout: int) -> str:
    lines = [
        "# HELP pg_up Whether a new connection to the database answers SELECT 1 (1) or not (0).",
        "# TYPE pg_up gauge",
    ]
    durations = []
    for database in databases:
        up, seconds = probe(database, timeout)
        lines.append(f'pg_up{{database="{database}"}} {up}')
        durations.append(f'pg_probe_duration_seconds{{database="{database}"}} {seconds:.4f}')
    lines += ["# HELP pg_probe_duration_seconds How long the check took.", "# TYPE pg_probe_duration_seconds gauge"]
    return "\n".join(lines + durations) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9187)
    parser.add_argument("--database", action="append", required=True)
    parser.add_argument("--timeout", type=int, default=3, help="connect timeout (seconds)")
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = render(args.database, args.timeout).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
