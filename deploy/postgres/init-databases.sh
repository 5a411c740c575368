#!/bin/bash
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# One server, three databases: Dagster's instance, MLflow's tracking/registry store, and the warehouse
# (dbt + scored marts). Grafana reads the warehouse marts through a read-only role.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE DATABASE ${DAGSTER_PG_DB:-dagster};
CREATE DATABASE ${MLFLOW_PG_DB:-mlflow};
CREATE DATABASE ${WAREHOUSE_PG_DB:-warehouse};
CREATE ROLE ${GRAFANA_PG_USER:-grafana_reader} LOGIN PASSWORD '${GRAFANA_PG_PASSWORD:?set GRAFANA_PG_PASSWORD}';
SQL

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${WAREHOUSE_PG_DB:-warehouse}" <<SQL
CREATE SCHEMA IF NOT EXISTS marts AUTHORIZATION "$POSTGRES_USER";
GRANT CONNECT ON DATABASE ${WAREHOUSE_PG_DB:-warehouse} TO ${GRAFANA_PG_USER:-grafana_reader};
GRANT USAGE ON SCHEMA marts TO ${GRAFANA_PG_USER:-grafana_reader};
GRANT SELECT ON ALL TABLES IN SCHEMA marts TO ${GRAFANA_PG_USER:-grafana_reader};
ALTER DEFAULT PRIVILEGES FOR ROLE "$POSTGRES_USER" IN SCHEMA marts
  GRANT SELECT ON TABLES TO ${GRAFANA_PG_USER:-grafana_reader};
SQL
