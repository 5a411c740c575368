"""Security defaults of the deployable stack: nothing published on all interfaces, no password with a working
default (compose, the init script, Kubernetes), and the secrets scan of `make lint` finding nothing new."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|CREDENTIAL", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `${VAR:?error}` with `env` (default: empty)."""
    env = env or {}

    def one(match):
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        value = env.get(name)
        if operator and operator.endswith("?") and not value:
            raise ValueError(f"{name} is required: {argument}")
        if operator in (":-",) and not value:
            return argument
        if operator == "-" and value is None:
            return argument
        return value or ""

    return INTERPOLATION.sub(one, text)


def published_host_ips(service: dict) -> list[str]:
    """The host address each published port binds to ("" = all interfaces), with the file's defaults."""
    addresses = []
    for port in service.get("ports", []):
        if isinstance(port, dict):  # long syntax
            addresses.append(port.get("host_ip", ""))
            continue
        parts = interpolate(str(port)).split(":")
        addresses.append(parts[0] if len(parts) == 3 else "")
    return addresses


def password_defaults(text: str) -> list[str]:
    """Every interpolation of a secret-named variable that falls back to a value instead of failing."""
    return [
        m.group(0)
        for m in INTERPOLATION.finditer(text)
        if SECRET_NAME.search(m.group(1)) and m.group(2) in ("-", ":-") and m.group(3)
    ]


def literal_secrets(mapping: dict) -> list[str]:
    """Keys of an environment mapping that look like secrets and hold a literal (not an interpolation)."""
    return [
        key
        for key, value in (mapping or {}).items()
        if SECRET_NAME.search(key) and value not in (None, "") and not INTERPOLATION.fullmatch(str(value))
    ]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_no_published_port_binds_all_interfaces(compose):
    published = {
        name: published_host_ips(service) for name, service in compose["services"].items() if service.get("ports")
    }
    assert {"bentoml", "grafana", "postgres", "mlflow", "dagster-webserver", "prometheus", "app"} <= set(published)
    for name, addresses in published.items():
        assert addresses and all(a == "127.0.0.1" for a in addresses), (name, addresses)
    # Configurable: CUSTOMER_ML_BIND moves them all (to expose the stack on purpose).
    port = compose["services"]["bentoml"]["ports"][0]
    assert interpolate(port, {"CUSTOMER_ML_BIND": "0.0.0.0"}).startswith("0.0.0.0:")


def test_the_checks_catch_what_they_are_for():
    assert published_host_ips({"ports": ["3001:3001", "${X_PORT:-80}:80", "0.0.0.0:9:9"]}) == ["", "", "0.0.0.0"]
    assert password_defaults("a: ${POSTGRES_PASSWORD:-customer_ml} b: ${PORT:-1} c: ${GRAFANA_PG_PASSWORD:?x}") == [
        "${POSTGRES_PASSWORD:-customer_ml}"
    ]
    sample = {
        "GF_SECURITY_ADMIN_PASSWORD": "admin",  # pragma: allowlist secret
        "API_KEY": "${API_KEY:?set}",
        "PORT": "1",
    }
    assert literal_secrets(sample) == ["GF_SECURITY_ADMIN_PASSWORD"]
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        interpolate("${POSTGRES_PASSWORD:?set it}")


def test_no_password_has_a_working_default(compose):
    text = yaml.safe_dump(compose, width=10**6)  # the values compose interpolates (not the comments)
    assert password_defaults(text) == []
    for name, service in compose["services"].items():
        environment = service.get("environment")
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        assert literal_secrets(environment) == [], name
    # Each password compose needs is required: the file does not interpolate without them.
    for variable in ("POSTGRES_PASSWORD", "GRAFANA_PG_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert re.search(r"\$\{" + variable + r":\?", text), variable
        others = {
            v: "x" for v in ("POSTGRES_PASSWORD", "GRAFANA_PG_PASSWORD", "GRAFANA_ADMIN_PASSWORD") if v != variable
        }
        with pytest.raises(ValueError, match=variable):
            interpolate(text, others)
    interpolate(text, {v: "x" for v in ("POSTGRES_PASSWORD", "GRAFANA_PG_PASSWORD", "GRAFANA_ADMIN_PASSWORD")})
    example = (ROOT / "deploy" / "env.example").read_text()
    for line in example.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            assert not (SECRET_NAME.search(key) and value), f"deploy/env.example gives {key} a value"
    init = (ROOT / "deploy" / "postgres" / "init-databases.sh").read_text()
    assert password_defaults(init) == []


def test_kubernetes_manifests_take_secrets_from_secrets():
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            for env in _env_lists(document):
                for entry in env:
                    if SECRET_NAME.search(entry.get("name", "")):
                        assert "value" not in entry and "secretKeyRef" in entry.get("valueFrom", {}), (path, entry)
            assert password_defaults(path.read_text()) == [], path
    values = yaml.safe_load((ROOT / "deploy" / "k8s" / "values.yaml").read_text())
    assert values["generatePostgresqlPasswordSecret"] is False and "postgresqlPassword" not in values["postgresql"]


def _env_lists(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("env", "envVars") and isinstance(value, list):
                yield value
            else:
                yield from _env_lists(value)
    elif isinstance(node, list):
        for item in node:
            yield from _env_lists(item)


def test_the_deploy_docs_say_the_api_key_is_required_when_exposed():
    # The deploy section of README.md, or docs/deploying.md where the README links to it.
    docs = ROOT / "docs" / "deploying.md"
    readme = (ROOT / "README.md").read_text()
    section = docs.read_text() if docs.exists() else readme[readme.index("## Deploying") :]
    assert "CUSTOMER_ML_API_KEY" in section and "CUSTOMER_ML_BIND" in section
    assert re.search(r"CUSTOMER_ML_API_KEY`? is required", section), "say that the key is required when exposed"


def test_secrets_scan_finds_nothing_new():
    done = subprocess.run(
        ["nice", "-n", "10", sys.executable, str(ROOT / "deploy" / "check_secrets.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_secrets_scan_fails_on_a_new_secret(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import check_secrets
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    leak = tmp_path / "leak.py"
    leak.write_text('aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"\n')  # pragma: allowlist secret
    # A notebook figure (base64 PNG) is high-entropy text, not a secret: excluded.
    png = (
        "iVBORw0KGgoAAAANSUhEUgAAAgAAAAG4CAYAAAAzCV9/"  # pragma: allowlist secret
        "AAAAOnRFWHRTb2Z0d2FyZQBNYXRwbG90bGliIHZlcnNpb24zLjExLjIs"  # pragma: allowlist secret
    )
    (tmp_path / "figure.ipynb").write_text('{"data": {\n  "image/png": "' + png + '"\n}}\n')
    monkeypatch.setattr(check_secrets, "ROOT", tmp_path)
    monkeypatch.setattr(check_secrets, "repository_files", lambda: ["leak.py", "figure.ipynb"])
    problems = check_secrets.check()
    assert len(problems) >= 1 and all(p.startswith("leak.py:1:") for p in problems), problems
    # Without the exclusion the figure would be a finding: the exclusion is what keeps it out.
    monkeypatch.setattr(check_secrets, "EXCLUDE_LINES", r"^no line matches this$")
    assert any(p.startswith("figure.ipynb:2:") for p in check_secrets.check())
