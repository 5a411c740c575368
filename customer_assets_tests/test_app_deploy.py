"""The app's service entries: docker-compose and Kubernetes run the same command as `make app`, on port 8501, over
the shared home mounted read-only, with the API key passed through and the health endpoint probed."""

import os
import shutil
import subprocess

import pytest
import yaml

from customer_assets.config import REPO_ROOT

APP_SCRIPT = "customer_assets/app/main.py"


def test_compose_app_service():
    service = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]["app"]
    assert service["command"][:4] == ["python", "-m", "streamlit", "run"] and APP_SCRIPT in service["command"]
    assert service["command"][service["command"].index("--server.port") + 1] == "8501"
    assert any(p.endswith(":8501") for p in service["ports"])
    assert "customer-ml-home:/var/lib/customer-ml:ro" in service["volumes"]
    assert "CUSTOMER_ML_API_KEY" in service["environment"]
    assert "/_stcore/health" in " ".join(service["healthcheck"]["test"])
    assert APP_SCRIPT in (REPO_ROOT / "Makefile").read_text()


def test_k8s_app_manifest():
    docs = {d["kind"]: d for d in yaml.safe_load_all((REPO_ROOT / "deploy" / "k8s" / "app.yaml").read_text())}
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]["app"]
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:-8] == compose["command"][:-8] and APP_SCRIPT in container["command"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/_stcore/health"
    assert container["volumeMounts"][0]["readOnly"] is True
    assert docs["Service"]["spec"]["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert docs["Service"]["spec"]["ports"][0]["port"] == 8501


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed (apt-get install "
                                                                "docker-compose; .ci/run does it as root)")
def test_docker_compose_accepts_the_app_service():
    # Compose refuses to start without the passwords (no working default): give it throwaway ones to parse.
    env = {**os.environ, **{name: "config-check-only" for name in ("POSTGRES_PASSWORD", "GRAFANA_PG_PASSWORD",
                                                                   "GRAFANA_ADMIN_PASSWORD")}}
    result = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config", "--services"], cwd=REPO_ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "app" in result.stdout.split()
