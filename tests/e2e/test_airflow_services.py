"""`make airflow`: the four Airflow components start on loopback and report healthy."""

from __future__ import annotations

import pytest

from oversight.devkit.embedded_pg import free_port
from tests.support.runtime import run_cli


@pytest.mark.slow
def test_airflow_up_until_healthy(airflow_ready: dict[str, str]) -> None:
    port = str(free_port())
    result = run_cli("airflow-up", "--until-healthy", "--timeout", "240", env={"OVERSIGHT_API_PORT": port}, timeout=400)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"Airflow UI: http://127.0.0.1:{port}" in result.stdout
    assert "healthy: dag_processor=healthy, metadatabase=healthy, scheduler=healthy, triggerer=healthy" in result.stdout
