"""The test session's runtime: where its state lives and how it runs the CLI.

Imported by conftest before any oversight module resolves paths: tests get their
own embedded server (opted in), Airflow home and payload store, apart from the demo's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# OVERSIGHT_TEST_LOCAL_DIR lets two test sessions run side by side on one checkout.
TEST_LOCAL = Path(os.environ.get("OVERSIGHT_TEST_LOCAL_DIR", ROOT / ".local" / "test")).resolve()

os.environ["OVERSIGHT_LOCAL_DIR"] = str(TEST_LOCAL)
os.environ.pop("AIRFLOW_HOME", None)
os.environ.pop("WAREHOUSE_URL", None)  # tests always use their own embedded server (opted in)
os.environ["OVERSIGHT_EMBEDDED_WAREHOUSE"] = "1"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

SHAANXI_START = "2026-11-02"
SHAANXI_END = "2026-11-08"


def admin_url(url: str) -> str:
    from oversight.db.connection import sibling_database_url

    return sibling_database_url(url, "postgres")


def fresh_database(template: str, name: str) -> str:
    """A new database ``name`` copied from the migrated, empty template."""
    import psycopg

    from oversight.db.connection import sibling_database_url

    with psycopg.connect(admin_url(template), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}" template oversight_template')
    return sibling_database_url(template, name)


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
