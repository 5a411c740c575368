"""The deployable stack's configuration: compose file, image, Prometheus, Grafana, Helm values, k8s manifests.

Always: parse every file and check the structure that matters (services named in the issue, scrape targets
that are compose services and ports, alert rules on metrics the scoring service exports, dashboard queries on
those metrics or on the warehouse marts, Helm values with the K8sRunLauncher and PostgreSQL storage).
When the tools exist: `docker-compose config -q` (Debian's v1.29, else `docker compose`), `promtool check
rules` / `check config` / `test rules`; when PostgreSQL runs at 127.0.0.1:5432: the instance in dagster.yaml
and deploy/postgres/init-databases.sh for real. Otherwise those tests skip and say why.
"""

import json
import os
import re
import shutil
import subprocess
import tomllib
import uuid
from pathlib import Path

import pytest
import yaml

from customer_assets.defs.model_specs import DEFAULT_MODEL_SPECS

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = ROOT / "docker-compose.yml"
GRAFANA = DEPLOY / "grafana"

# What the BentoML service exports (issue 7's contract) and what exporters/Prometheus add.
SERVICE_METRICS = {"customer_ml_requests_total", "customer_ml_request_latency_seconds",
                   "customer_ml_predictions_total", "customer_ml_churn_probability",
                   "customer_ml_snapshot_churn_rate", "customer_ml_model_metric", "customer_ml_snapshot_age_seconds"}
OTHER_METRICS = {"up", "pg_up", "customer_ml:model_metric_floor"}
ISSUE_SERVICES = {"postgres", "user_code", "dagster-webserver", "dagster-daemon", "mlflow", "bentoml",
                  "prometheus", "grafana", "postgres-exporter"}
PROMQL_WORDS = {"sum", "max", "min", "avg", "rate", "increase", "by", "on", "le", "histogram_quantile", "or", "and",
                "vector", "label_replace", "humanize", "group_left", "without", "count", "status", "endpoint",
                "model", "metric", "job", "instance", "bool", "unless"}


def load(path: Path):
    return yaml.safe_load(path.read_text())


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords or label names."""
    stripped = re.sub(r'"[^"]*"', '""', expr)  # label values
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)  # range selectors
    stripped = re.sub(r"\{[^}]*\}", "", stripped)  # label matchers
    stripped = re.sub(r"\$__\w+", "", stripped)  # Grafana variables
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped)) - PROMQL_WORDS
    return {re.sub(r"_(bucket|sum|count)$", "", n) if n.startswith("customer_ml_") else n for n in names}


def assert_known_metrics(expr: str, where: str) -> None:
    names = metric_names(expr)
    assert names, f"{where}: no metric in {expr!r}"
    unknown = names - SERVICE_METRICS - OTHER_METRICS
    assert not unknown, f"{where}: {sorted(unknown)} are not exported by the service or exporters ({expr!r})"


@pytest.fixture(scope="module")
def compose():
    return load(COMPOSE)


# --- docker-compose.yml -------------------------------------------------------------------------------------

def test_compose_has_every_service_of_the_issue_and_no_v2_only_keys(compose):
    assert compose["version"] == "3.8"
    assert "name" not in compose  # Compose-v2-only top-level key, rejected by docker-compose 1.29
    assert ISSUE_SERVICES <= set(compose["services"])
    for name in ("user_code", "dagster-webserver", "dagster-daemon", "mlflow", "bentoml"):
        build = compose["services"][name]["build"]
        assert build["dockerfile"] == "deploy/Dockerfile" and (ROOT / build["context"] / build["dockerfile"]).exists()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


def test_compose_wires_postgres_mlflow_and_the_code_location(compose):
    services = compose["services"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    location = pyproject["tool"]["dagster"]["code_location_name"]
    code = services["user_code"]["command"]
    assert code[:3] == ["dagster", "code-server", "start"]
    assert code[code.index("-m") + 1] == "customer_assets.definitions" and code[code.index("--location-name") + 1] == location
    (entry,) = load(DEPLOY / "workspace.yaml")["load_from"]
    assert entry["grpc_server"] == {"host": "user_code", "port": int(code[code.index("-p") + 1]),
                                    "location_name": location}
    (root_entry,) = load(ROOT / "workspace.yaml")["load_from"]
    assert root_entry["python_module"]["location_name"] == location
    for name in ("dagster-webserver", "dagster-daemon"):
        assert "/opt/customer-ml/deploy/workspace.yaml" in services[name]["command"]
    env = services["user_code"]["environment"]
    assert env["DAGSTER_PG_HOST"] == "postgres" and "MLFLOW_TRACKING_URI" in env
    assert re.match(r"postgresql\+psycopg2://.+@postgres:5432/", env["WAREHOUSE_URL"])
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    mlflow = services["mlflow"]["command"]
    assert mlflow[:2] == ["mlflow", "server"]
    assert mlflow[mlflow.index("--backend-store-uri") + 1].startswith("postgresql+psycopg2://")
    assert "mlflow:5000" in mlflow[mlflow.index("--allowed-hosts") + 1].split(",")
    # The runs (user_code), MLflow and the service share the home at one path: file artifacts and snapshots.
    for name in ("user_code", "mlflow", "bentoml"):
        assert "customer-ml-home:/var/lib/customer-ml" in services[name]["volumes"]
    assert services["bentoml"]["command"][-1] == "3001"
    # The same service object the bentofile builds (and `make serve` starts).
    bentofile = load(ROOT / "bentos" / "bentofile.yaml")
    assert services["bentoml"]["command"][:3] == ["bentoml", "serve", bentofile["service"]]
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "bentoml-service.yaml").read_text()))
    (container,) = docs[0]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == services["bentoml"]["command"]
    assert any(p.endswith(":3001") for p in services["bentoml"]["ports"])


def test_the_instance_in_dagster_yaml_uses_postgres_and_queued_runs():
    instance = load(ROOT / "dagster.yaml")
    assert instance["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    coordinator = instance["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator" and coordinator["config"]["max_concurrent_runs"] >= 1
    assert {"key": "customer-ml/job", "value": "training", "limit": 1} in coordinator["config"]["tag_concurrency_limits"]


def test_dockerfile_installs_the_lock_and_the_package():
    text = (DEPLOY / "Dockerfile").read_text()
    assert "requirements/lock.txt" in text and "-e ." in text and "dbt parse" in text
    assert "dagster.yaml" in text and "WITH_K8S" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".customer_ml" in ignored


# --- Prometheus ---------------------------------------------------------------------------------------------

def test_prometheus_scrapes_compose_services_on_their_ports(compose):
    config = load(DEPLOY / "prometheus" / "prometheus.yml")
    targets = {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
               for job in config["scrape_configs"]}
    assert targets["customer-ml-service"] == ["bentoml:3001"]
    assert targets["postgres"] == ["postgres-exporter:9187"]
    for job, hosts in targets.items():
        for target in hosts:
            host = target.split(":")[0]
            assert host == "localhost" or host in compose["services"], f"{job}: {host} is not a compose service"
    mounts = compose["services"]["prometheus"]["volumes"]
    for rule_file in config["rule_files"]:
        assert any(m.endswith(f":{rule_file}:ro") for m in mounts), f"{rule_file} is not mounted"


REQUIRED_ALERTS = {"HighChurnRate": "customer_ml_snapshot_churn_rate", "ModelMetricDrop": "customer_ml_model_metric",
                   "HighApiLatency": "customer_ml_request_latency_seconds", "ScoringServiceDown": "up",
                   "DatabaseDown": "pg_up"}


def test_alert_rules_of_the_issue_exist_on_exported_metrics():
    groups = load(DEPLOY / "prometheus" / "rules.yml")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    for name, metric in REQUIRED_ALERTS.items():
        assert name in alerts, f"alert {name} missing"
        assert metric in metric_names(alerts[name]["expr"]), (name, alerts[name]["expr"])
        assert alerts[name]["labels"]["severity"] in ("warning", "critical") and alerts[name]["annotations"]["summary"]
    for name, rule in alerts.items():
        assert_known_metrics(rule["expr"], name)
    assert re.search(r">\s*0\.25\b", alerts["HighChurnRate"]["expr"])
    assert re.search(r">\s*1\b", alerts["HighApiLatency"]["expr"]) and "0.95" in alerts["HighApiLatency"]["expr"]
    # Floors: one per registered model, the churn floor equal to the one the Dagster checks use.
    floors = {(r["labels"]["model"], r["labels"]["metric"]): float(re.search(r"vector\(([\d.]+)\)", r["expr"])[1])
              for r in rules if r.get("record") == "customer_ml:model_metric_floor"}
    assert {m for m, _ in floors} == {s.registry_name for s in DEFAULT_MODEL_SPECS}
    churn = next(s for s in DEFAULT_MODEL_SPECS if s.name == "churn")
    assert floors[(churn.registry_name, churn.performance.metric)] == churn.performance.floor


def promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (apt-get install prometheus provides it)")
    return path


def test_promtool_checks_rules_and_config(tmp_path):
    tool = promtool()
    checked = subprocess.run([tool, "check", "rules", str(DEPLOY / "prometheus" / "rules.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr
    assert "lint" not in (checked.stdout + checked.stderr).lower(), checked.stdout + checked.stderr
    # check config resolves rule_files: point it at the repository's rules file, as the container mount does.
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text().replace(
        "/etc/prometheus/rules.yml", str(DEPLOY / "prometheus" / "rules.yml"))
    (tmp_path / "prometheus.yml").write_text(config)
    checked = subprocess.run([tool, "check", "config", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_unit_tests_fire_each_alert_on_planted_series():
    tool = promtool()
    tested = subprocess.run([tool, "test", "rules", "rules_test.yml"], cwd=DEPLOY / "prometheus",
                            capture_output=True, text=True, timeout=120)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
    # The unit tests cover every alert of the issue, firing and (second case) quiet.
    tests = load(DEPLOY / "prometheus" / "rules_test.yml")["tests"]
    firing = {t["alertname"] for t in tests[0]["alert_rule_test"] if t["exp_alerts"]}
    assert set(REQUIRED_ALERTS) <= firing


def test_promtool_rejects_a_broken_rule(tmp_path):
    tool = promtool()  # the check above can fail: a rule with a PromQL syntax error is refused
    (tmp_path / "bad.yml").write_text("groups:\n- name: g\n  rules:\n  - alert: X\n    expr: sum(rate(x[5m]) > 1\n")
    assert subprocess.run([tool, "check", "rules", str(tmp_path / "bad.yml")], capture_output=True,
                          timeout=60).returncode != 0


# --- Grafana ------------------------------------------------------------------------------------------------

def datasource_uids() -> dict[str, str]:
    sources = load(GRAFANA / "provisioning" / "datasources" / "datasources.yaml")["datasources"]
    return {s["uid"]: s["type"] for s in sources}


def test_grafana_datasources_point_at_compose_services(compose):
    sources = {s["uid"]: s for s in load(GRAFANA / "provisioning" / "datasources" / "datasources.yaml")["datasources"]}
    assert sources["prometheus"]["url"] == "http://prometheus:9090"
    assert sources["warehouse"]["url"] == "postgres:5432"
    assert sources["warehouse"]["type"] == "grafana-postgresql-datasource"
    env = compose["services"]["grafana"]["environment"]
    for variable in re.findall(r"\$\{(\w+)\}", yaml.safe_dump(sources["warehouse"])):
        assert variable in env, f"the datasource uses ${variable}, which the grafana service does not set"
    provider = load(GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml")["providers"][0]
    assert any(v.endswith(":" + provider["options"]["path"] + ":ro") for v in compose["services"]["grafana"]["volumes"])


def test_dashboard_panels_query_exported_metrics_and_the_marts():
    dashboard = json.loads((GRAFANA / "dashboards" / "customer-ml.json").read_text())
    uids = datasource_uids()
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    sql_tables = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            uid = target["datasource"]["uid"]
            assert uid in uids, f"{panel['title']}: unknown datasource {uid}"
            if uids[uid] == "prometheus":
                assert_known_metrics(target["expr"], panel["title"])
            else:
                sql_tables |= set(re.findall(r"FROM (marts\.\w+)", target["rawSql"]))
    assert sql_tables == {"marts.churn_scores", "marts.customer_segments"}
    titles = " | ".join(p["title"].lower() for p in panels)
    for needed in ("churn probability distribution", "segment sizes over time", "latency", "error rate"):
        assert needed in titles, needed
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_grafana_alert_rules_cover_the_issue():
    (group,) = load(GRAFANA / "provisioning" / "alerting" / "customer-ml-alerts.yaml")["groups"]
    uids = datasource_uids()
    by_title = {r["title"]: r for r in group["rules"]}
    for title in ("High churn rate", "Model metric below floor", "API latency p95 above 1 s", "Database down"):
        assert title in by_title, title
    for rule in group["rules"]:
        refs = {d["refId"]: d for d in rule["data"]}
        assert rule["condition"] in refs
        query = refs["A"]
        assert query["datasourceUid"] in uids
        assert_known_metrics(query["model"]["expr"], rule["title"])
        threshold = refs[rule["condition"]]["model"]
        assert threshold["type"] == "threshold" and threshold["expression"] == "A"
    evaluator = by_title["High churn rate"]["data"][1]["model"]["conditions"][0]["evaluator"]
    assert evaluator == {"type": "gt", "params": [0.25]}


# --- Kubernetes ---------------------------------------------------------------------------------------------

def test_helm_values_use_the_k8s_run_launcher_and_postgres_storage():
    values = load(DEPLOY / "k8s" / "values.yaml")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert {"name": "customer-ml-env"} in launcher["envSecrets"]
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["global"]["postgresqlSecretName"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    args = deployment["codeServerArgs"]
    assert args[args.index("--module-name") + 1] == "customer_assets.definitions"
    assert args[args.index("--location-name") + 1] == "customer_assets"
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    mount = {m["name"]: m["mountPath"] for m in deployment["volumeMounts"]}
    assert mount == {v["name"]: v["mountPath"] for v in launcher["volumeMounts"]}  # run pods see the same home
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    assert {"key": "customer-ml/job", "value": "training", "limit": 1} in limits


def test_scoring_service_manifests_scale_horizontally_with_probes():
    docs = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "k8s" / "bentoml-service.yaml").read_text())}
    deployment, hpa, service = docs["Deployment"], docs["HorizontalPodAutoscaler"], docs["Service"]
    assert deployment["spec"]["replicas"] > 1
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"]  # the HPA's CPU utilization needs a request
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    pvc = load(DEPLOY / "k8s" / "customer-ml-home-pvc.yaml")
    claims = {v["persistentVolumeClaim"]["claimName"] for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert claims == {pvc["metadata"]["name"]} and pvc["spec"]["accessModes"] == ["ReadWriteMany"]


# --- the real validators ------------------------------------------------------------------------------------

def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                 timeout=30).returncode == 0:
        return ["docker", "compose"]
    pytest.skip("neither docker-compose nor `docker compose` is available (apt-get install docker-compose)")


def run_compose(command, path: Path, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME")}
    # The passwords have no default (compose refuses to start without them): test values.
    env.update({name: "config-check-only" for name in ("POSTGRES_PASSWORD", "GRAFANA_PG_PASSWORD",
                                                       "GRAFANA_ADMIN_PASSWORD")})
    return subprocess.run([*command, "-f", str(path), "--project-directory", str(ROOT), "config", "-q"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def test_docker_compose_config_accepts_the_file_and_rejects_a_v2_only_key(tmp_path):
    command = compose_command()
    result = run_compose(command, COMPOSE, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    if command == ["docker-compose"]:  # v1 refuses Compose-v2-only keys: the check above can fail
        bad = tmp_path / "docker-compose.yml"
        bad.write_text("name: customer-ml\n" + COMPOSE.read_text())
        assert run_compose(command, bad, tmp_path).returncode != 0


# --- against the local PostgreSQL ---------------------------------------------------------------------------

def postgres_or_skip():
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3)
    except Exception as error:  # noqa: BLE001 - any failure means "no server here"
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 ({error})")
    connection.autocommit = True
    return connection


def test_init_script_creates_the_databases_and_a_read_only_grafana_role(tmp_path):
    admin = postgres_or_skip()
    if not shutil.which("psql"):
        pytest.skip("psql is not installed")
    suffix = uuid.uuid4().hex[:8]
    names = {"DAGSTER_PG_DB": f"dagster_{suffix}", "MLFLOW_PG_DB": f"mlflow_{suffix}",
             "WAREHOUSE_PG_DB": f"warehouse_{suffix}", "GRAFANA_PG_USER": f"grafana_{suffix}"}
    env = {**os.environ, **names, "POSTGRES_USER": "postgres", "PGHOST": "127.0.0.1", "PGPORT": "5432",
           "GRAFANA_PG_PASSWORD": "secret"}
    try:
        result = subprocess.run(["bash", str(DEPLOY / "postgres" / "init-databases.sh")], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        with admin.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [f"%_{suffix}"])
            assert {r[0] for r in cursor.fetchall()} == {names["DAGSTER_PG_DB"], names["MLFLOW_PG_DB"],
                                                         names["WAREHOUSE_PG_DB"]}
        import psycopg2

        owner = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=names["WAREHOUSE_PG_DB"])
        owner.autocommit = True
        with owner.cursor() as cursor:  # a mart created later, as the pipeline does
            cursor.execute("CREATE TABLE marts.churn_scores (customer_id text, churn_probability float)")
            cursor.execute("INSERT INTO marts.churn_scores VALUES ('c1', 0.4)")
        owner.close()
        reader = psycopg2.connect(host="127.0.0.1", user=names["GRAFANA_PG_USER"], password="secret",
                                  dbname=names["WAREHOUSE_PG_DB"])
        reader.autocommit = True
        with reader.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM marts.churn_scores")
            assert cursor.fetchone()[0] == 1
            with pytest.raises(psycopg2.Error, match="permission denied"):
                cursor.execute("DELETE FROM marts.churn_scores")
        reader.close()
    finally:
        with admin.cursor() as cursor:
            for key in ("DAGSTER_PG_DB", "MLFLOW_PG_DB", "WAREHOUSE_PG_DB"):
                cursor.execute(f'DROP DATABASE IF EXISTS "{names[key]}" WITH (FORCE)')
            cursor.execute(f'DROP ROLE IF EXISTS "{names["GRAFANA_PG_USER"]}"')
        admin.close()


def test_dagster_yaml_makes_a_postgres_instance_with_queued_runs(tmp_path, monkeypatch):
    admin = postgres_or_skip()
    database = f"dagster_deploy_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    for key, value in {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "postgres",
                       "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": database}.items():
        monkeypatch.setenv(key, value)
    import dagster as dg
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresRunStorage

    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert isinstance(instance.run_coordinator, QueuedRunCoordinator)

            @dg.asset
            def tiny():
                return 1

            result = dg.materialize([tiny], instance=instance)
            assert result.success
            assert instance.get_latest_materialization_event(dg.AssetKey("tiny")) is not None
            assert instance.get_run_by_id(result.run_id).is_success
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
