"""Test fixtures: a real PostgreSQL (the embedded one, in its own .local/test),
never a mock. Each test session starts from an empty, migrated warehouse.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_LOCAL = ROOT / ".local" / "test"

# Before any oversight module resolves paths: tests get their own server,
# Airflow home and payload store, apart from the demo's.
os.environ["OVERSIGHT_LOCAL_DIR"] = str(TEST_LOCAL)
os.environ.pop("AIRFLOW_HOME", None)
os.environ.pop("WAREHOUSE_URL", None)  # tests always use their own embedded server
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from oversight.settings import apply_telemetry_off  # noqa: E402

apply_telemetry_off()


@pytest.fixture(scope="session")
def warehouse_url() -> Iterator[str]:
    """URL of a fresh, migrated warehouse database for this test session."""
    import psycopg

    from oversight.migrate import migrate
    from oversight.warehouse import sibling_database_url
    from oversight.warehouse import warehouse_url as url_of

    url = url_of()
    with psycopg.connect(sibling_database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute("drop database if exists oversight with (force)")
        conn.execute("create database oversight")
    migrate()
    yield url


@pytest.fixture(scope="session")
def airflow_ready(warehouse_url: str) -> dict[str, str]:
    """The Airflow runtime (metadata DB migrated), as environment variables."""
    from oversight.airflow_runtime import airflow_env, ensure_metadata_db

    ensure_metadata_db()
    return airflow_env()


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the installed ``oversight`` console script as a user would."""
    exe = Path(sys.executable).with_name("oversight")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
