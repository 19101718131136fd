"""docker-compose.yml cannot run here (no Docker engine): validate it statically."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.runtime import ROOT

AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        n: s
        for n, s in compose["services"].items()
        if isinstance(s.get("command"), str) and s["command"] in AIRFLOW_COMMANDS
    }


def test_every_component_is_there(compose: dict[str, Any]) -> None:
    commands = {svc.get("command") for svc in airflow_services(compose).values()}
    assert commands == AIRFLOW_COMMANDS  # dag-processor included: Airflow 3 parses DAGs in its own process
    assert {"postgres", "redis", "mailpit", "airflow-init"} <= compose["services"].keys()
    assert compose["services"]["postgres"]["image"].startswith("postgres:16")


def test_celery_executor_with_a_broker(compose: dict[str, Any]) -> None:
    for name, svc in airflow_services(compose).items():
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:"), name


def test_shared_secrets_and_execution_api(compose: dict[str, Any]) -> None:
    services = airflow_services(compose)
    for key in (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    ):
        values = {svc["environment"].get(key) for svc in services.values()}
        assert len(values) == 1 and None not in values, f"{key} differs between Airflow services: {values}"
    jwt = services["airflow-apiserver"]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert re.fullmatch(r"\$\{[A-Z_]+\}", jwt), "the JWT secret must come from the env file, not the compose file"
    url = services["airflow-apiserver"]["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    assert url == "http://airflow-apiserver:8080/execution/"


def test_the_warehouse_dags_dbt_connection_is_the_warehouse(compose: dict[str, Any]) -> None:
    """The warehouse DAG's dbt profile is mapped from an Airflow connection (Cosmos): every Airflow
    service defines it, on the warehouse the rest of the pipeline uses, with its password from the
    env file, and the pseudonymisation key dbt needs is there too."""
    from airflow.sdk import Connection

    from oversight.config import PSEUDONYM_KEY_ENV
    from oversight.warehouse.dbt import WAREHOUSE_CONN_ENV, WAREHOUSE_CONN_ID

    for name, svc in airflow_services(compose).items():
        env = svc["environment"]
        assert WAREHOUSE_CONN_ENV in env, f"{name} has no Airflow connection {WAREHOUSE_CONN_ID}"
        uri = env[WAREHOUSE_CONN_ENV]
        assert "${POSTGRES_PASSWORD}" in uri, "the connection's password must come from the env file"
        conn = Connection.from_uri(uri, conn_id=WAREHOUSE_CONN_ID)
        warehouse = urlsplit(env["WAREHOUSE_URL"])
        assert conn.conn_type == "postgres", name  # what cosmos.profiles.PostgresUserPasswordProfileMapping maps
        assert (conn.host, conn.port, conn.login, conn.schema) == (
            warehouse.hostname,
            warehouse.port,
            warehouse.username,
            warehouse.path.lstrip("/"),
        ), name
        assert re.fullmatch(r"\$\{[A-Z_]+\}", env[PSEUDONYM_KEY_ENV]), name


def test_healthchecks_everywhere(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_images_pinned(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        image = svc.get("image")
        assert image, f"{name} has no image"
        tag = image.rsplit(":", 1)[-1] if ":" in image else ""
        assert re.match(r"v?\d+\.\d+", tag), f"{name}: image {image} is not pinned to a version"
    base = re.search(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert base and re.search(r":\d+\.\d+\.\d+", base.group(1))


def test_image_installs_from_the_lock_file() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml uv.lock" in dockerfile
    assert re.search(r"uv sync --frozen", dockerfile)


def test_image_carries_the_compiled_manifest_and_channels_are_connections() -> None:
    """The warehouse DAG parses from the manifest built into the image; every channel the routing
    names has an example Airflow connection."""
    from oversight.alerts.routing import load_routing
    from oversight.devkit.local_outbox import LocalOutbox

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.index("COPY dbt_project") < dockerfile.index("warehouse.dbt import prepare")
    example = (ROOT / ".env.example").read_text()
    routing = load_routing()
    for conn_id in [routing.email_conn_id, *LocalOutbox(ROOT, routing).webhook_conn_ids()]:
        assert f"AIRFLOW_CONN_{conn_id.upper()}=" in example, conn_id


def test_secrets_from_env_file_and_only_an_example_committed(compose: dict[str, Any]) -> None:
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z_]+)\}", (ROOT / "docker-compose.yml").read_text()))
    example = (ROOT / ".env.example").read_text()
    declared = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    assert referenced <= declared, f"not in .env.example: {referenced - declared}"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    assert not (ROOT / ".env").exists() or ".env" in (ROOT / ".gitignore").read_text()
    for svc in airflow_services(compose).values():
        assert svc["env_file"] == ".env"


def test_ports_bound_to_loopback(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
