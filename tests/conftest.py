"""Test fixtures: a real PostgreSQL (the embedded one, in its own .local/test),
never a mock. Each test session starts from an empty, migrated warehouse.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from oversight.config import apply_telemetry_off
from tests.support.dbt_gates import DbtDocs, docs_generate
from tests.support.runtime import SHAANXI_END, SHAANXI_START, TEST_LOCAL, admin_url, fresh_database, run_cli

apply_telemetry_off()

from oversight.warehouse.dbt import prepare as _prepare_dbt  # noqa: E402

# generated seeds current and the dbt manifest compiled (idempotent): the warehouse DAG
# file is rendered from the manifest by Cosmos, so it must exist before DAGs are parsed
_prepare_dbt()


@pytest.fixture(scope="session")
def warehouse_url() -> Iterator[str]:
    """URL of a fresh, migrated warehouse database for this test session."""
    import psycopg

    from oversight.db.connection import sibling_database_url
    from oversight.db.connection import warehouse_url as url_of
    from oversight.db.migrate import migrate

    url = url_of()
    with psycopg.connect(sibling_database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute("drop database if exists oversight with (force)")
        conn.execute("create database oversight")
    migrate()
    yield url


@pytest.fixture(scope="session")
def template_url(warehouse_url: str) -> str:
    """A migrated, empty warehouse database to copy per module (CREATE DATABASE ... TEMPLATE)."""
    import psycopg

    from oversight.db.connection import sibling_database_url

    url = sibling_database_url(warehouse_url, "oversight_template")
    with psycopg.connect(admin_url(warehouse_url), autocommit=True) as conn:
        conn.execute("drop database if exists oversight_template with (force)")
        conn.execute("create database oversight_template")
    previous = os.environ.get("WAREHOUSE_URL")
    os.environ["WAREHOUSE_URL"] = url
    try:
        from oversight.db.migrate import migrate

        migrate()
    finally:
        if previous is None:
            os.environ.pop("WAREHOUSE_URL")
        else:
            os.environ["WAREHOUSE_URL"] = previous
    return url


@pytest.fixture
def fresh_warehouse(template_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh migrated warehouse for one test; WAREHOUSE_URL points at it meanwhile."""
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:50]
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    url = fresh_database(template_url, name)
    previous = os.environ.get("WAREHOUSE_URL")
    os.environ["WAREHOUSE_URL"] = url
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("WAREHOUSE_URL", None)
        else:
            os.environ["WAREHOUSE_URL"] = previous


@pytest.fixture(scope="session")
def airflow_ready(warehouse_url: str) -> dict[str, str]:
    """The Airflow runtime (metadata DB migrated), as environment variables."""
    from oversight.devkit.airflow_runtime import airflow_env, ensure_metadata_db

    ensure_metadata_db()
    return airflow_env()


@pytest.fixture(scope="session")
def shaanxi_week(template_url: str, airflow_ready: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The simulator's Shaanxi week, run through the real DAGs by the real CLI
    into its own warehouse database. Returns the manifest, landing and URL."""
    import json

    landing = tmp_path_factory.mktemp("shaanxi") / "landing"
    sim = run_cli("simulate", "--out", str(landing), "--start", SHAANXI_START, "--end", SHAANXI_END)
    assert sim.returncode == 0, sim.stderr[-3000:]
    url = fresh_database(template_url, "oversight_shaanxi")
    run = run_cli(
        "run",
        "--landing",
        str(landing),
        "--start",
        SHAANXI_START,
        "--end",
        SHAANXI_END,
        env={"WAREHOUSE_URL": url},
        timeout=2400,  # seven dates through the real scheduler: about 11 minutes on two idle cores
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    manifest = json.loads((landing / "_simulation" / "manifest.json").read_text(encoding="utf-8"))
    from tests.support.mart_checksums import mart_checksums

    return {
        "manifest": manifest,
        "landing": landing,
        "url": url,
        "run_stdout": run.stdout,
        "local": TEST_LOCAL,
        # as the week left them: later tests acknowledge alerts and re-run dates in this database
        "mart_checksums": mart_checksums(url),
    }


@pytest.fixture(scope="session")
def dbt_docs(shaanxi_week: dict, tmp_path_factory: pytest.TempPathFactory) -> DbtDocs:
    """`dbt docs generate` on the Shaanxi week's warehouse, once: the artifacts the quality gates read."""
    return docs_generate(shaanxi_week["url"], tmp_path_factory.mktemp("dbt-docs") / "target")
