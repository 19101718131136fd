"""The project's own Airflow: configuration by environment, metadata DB, DAG runs.

``airflow_env()`` is the single source of the Airflow configuration for the
embedded default; explicit environment variables (a deployment's) win over
every default here, except telemetry, which is always off, and the Airflow
connection ``oversight_warehouse`` (dbt's, in the warehouse DAG), which always
follows the warehouse URL (``WAREHOUSE_URL`` or the embedded server).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from oversight.config import TIMEZONE, apply_telemetry_off, paths
from oversight.db.connection import ensure_database, sibling_database_url, warehouse_url
from oversight.devkit.secrets import local_secret
from oversight.warehouse.dbt import WAREHOUSE_CONN_ENV, airflow_connection

API_PORT_DEFAULT = "8080"
# pools bounding concurrency: HTTP pulls from city platforms, loads into the warehouse
POOLS = {
    "city_http": (4, "concurrent HTTP pulls from city platforms"),
    "warehouse_load": (2, "concurrent delivery loads into the warehouse"),
}
ADMIN_USER = "admin"


def metadata_url() -> str:
    """SQLAlchemy URL of Airflow's metadata database."""
    configured = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if configured:
        return configured
    url = sibling_database_url(warehouse_url(), "airflow")
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def passwords_file() -> Path:
    """Simple auth manager password file, with a generated admin password."""
    target = paths().secrets / "airflow_passwords.json"
    wanted = {ADMIN_USER: local_secret("airflow_admin_password")}
    if not target.exists() or json.loads(target.read_text() or "{}") != wanted:
        target.write_text(json.dumps(wanted))
        target.chmod(0o600)
    return target


def airflow_env() -> dict[str, str]:
    """Environment for every Airflow process of the embedded runtime."""
    p = paths()
    api_port = os.environ.get("OVERSIGHT_API_PORT", API_PORT_DEFAULT)
    defaults = {
        "AIRFLOW_HOME": str(p.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(p.dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(p.plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # a developer's machine is often busy (tests, builds): parsing may take longer than the 30 s default
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",  # parsing and the DAGs' failure callbacks
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": TIMEZONE,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__FERNET_KEY": local_secret("fernet_key"),
        "AIRFLOW__API_AUTH__JWT_SECRET": local_secret("jwt_secret"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": api_port,
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file()),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(p.airflow_home / "logs"),
        "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(),
        "OVERSIGHT_HOME": str(p.root),
        "XDG_RUNTIME_DIR": str(p.local / "run"),
    }
    defaults["WAREHOUSE_URL"] = warehouse_url()  # the services' tasks connect to exactly this server
    env = {**defaults, **{k: v for k, v in os.environ.items() if k in defaults}}
    # The warehouse connection (the Cosmos task groups' dbt profile) always follows the warehouse
    # URL, the deployment's setting: a value inherited from an earlier configure_process() of
    # another WAREHOUSE_URL would point dbt at another database.
    env[WAREHOUSE_CONN_ENV] = airflow_connection(warehouse_url())
    (p.local / "run").mkdir(parents=True, exist_ok=True)
    return apply_telemetry_off(env)


def configure_process() -> dict[str, str]:
    """Apply the Airflow environment to this process (before importing airflow)."""
    env = airflow_env()
    os.environ.update(env)
    return env


def airflow_cmd(args: list[str], *, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the ``airflow`` CLI of this virtualenv with the runtime environment."""
    env = {**os.environ, **airflow_env()}
    exe = Path(sys.executable).with_name("airflow")
    return subprocess.run(
        [str(exe), *args],
        env=env,
        check=check,
        text=True,
        capture_output=quiet,
    )


def ensure_metadata_db() -> None:
    """Create and migrate Airflow's metadata database once per (URL, Airflow version)."""
    from importlib.metadata import version

    url = metadata_url()
    ensure_database(url.replace("+psycopg2", "", 1))
    marker = paths().airflow_home / ".metadata-migrated"
    stamp = hashlib.sha256(f"{url}|{version('apache-airflow-core')}|{sorted(POOLS.items())}".encode()).hexdigest()
    if marker.exists() and marker.read_text().strip() == stamp:
        return
    result = airflow_cmd(["db", "migrate"], check=False, quiet=True)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stderr[-3000:]}")
    marker.parent.mkdir(parents=True, exist_ok=True)
    pools_file = marker.parent / "pools.json"
    pools_file.write_text(
        json.dumps({name: {"slots": slots, "description": text} for name, (slots, text) in POOLS.items()})
    )
    result = airflow_cmd(["pools", "import", str(pools_file)], check=False, quiet=True)
    if result.returncode != 0:
        raise RuntimeError(f"airflow pools import failed:\n{result.stderr[-3000:]}")
    marker.write_text(stamp)
