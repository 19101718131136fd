"""How dbt is run here: project, environment, manifest, runs.

- ``warehouse_target()``: how dbt reaches the warehouse, derived from
  ``oversight.db.connection.warehouse_url()`` (host ``127.0.0.1`` for the embedded
  server: Cosmos cannot use a unix socket). Two consumers: ``dbt_env()``, the
  environment ``dbt_project/profiles.yml`` reads when dbt runs outside Airflow, and
  ``airflow_connection()``, the Airflow connection ``oversight_warehouse`` the Cosmos
  task groups map their profile from (``oversight.warehouse.cosmos``). Either way dbt
  acts as ``oversight_transformer`` (the profile's ``role``).
- ``pgoptions()``: the pseudonymisation key is configuration (``config.pseudonym_key()``:
  ``OVERSIGHT_PSEUDONYM_KEY``, or the development kit's local secret) and reaches
  the database only as the session setting ``oversight.pseudonym_key`` (``PGOPTIONS``),
  never in SQL text. Telemetry is off.
- ``ensure_manifest()``: ``dbt parse`` when ``target/manifest.json`` is missing or
  older than any project file (the warehouse DAG is rendered from it by Cosmos).
- ``run_dbt()``: dbt programmatically (``dbtRunner``), raising ``DbtError`` on failure.
- ``build()``: ``dbt build`` of the pending rebuild dates, recorded built
  (bookkeeping: ``oversight.warehouse.rebuilds``).
- ``prepare()``: the bootstrap step, generated seeds (``oversight.warehouse.seeds``)
  and the manifest.

The warehouse DAG's task groups: ``oversight.warehouse.cosmos``; dbt docs:
``oversight.warehouse.docs``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from oversight.config import TELEMETRY_OFF_ENV, paths, pseudonym_key

# The Airflow connection the Cosmos task groups' dbt profile is mapped from (``airflow_connection()``).
WAREHOUSE_CONN_ID = "oversight_warehouse"
WAREHOUSE_CONN_ENV = f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"


class DbtError(RuntimeError):
    """A dbt command failed; the message names the command and the failing nodes."""


def project_dir() -> Path:
    return paths().dbt_project


def manifest_path() -> Path:
    """The compiled manifest the warehouse DAG is rendered from (Cosmos LoadMode.DBT_MANIFEST)."""
    return project_dir() / "target" / "manifest.json"


def _pgoptions_value(value: str) -> str:
    # libpq PGOPTIONS: spaces and backslashes are escaped with a backslash
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def pgoptions(key: str | None = None) -> str:
    """``PGOPTIONS`` carrying the pseudonymisation key as the session setting ``oversight.pseudonym_key``."""
    return f"-c oversight.pseudonym_key={_pgoptions_value(key if key is not None else pseudonym_key())}"


def warehouse_target(url: str | None = None) -> dict[str, str]:
    """How dbt reaches the warehouse at ``url`` (default ``warehouse_url()``): host, port, user,
    password, dbname, and sslmode when the URL sets one. A unix-socket or ``localhost`` host
    becomes ``127.0.0.1``: Cosmos cannot use a unix socket."""
    from oversight.db.connection import warehouse_url

    parts = urlsplit(url or warehouse_url())
    host = parts.hostname or "127.0.0.1"
    if host.startswith("/") or host == "localhost":
        host = "127.0.0.1"
    target = {
        "host": host,
        "port": str(parts.port or 5432),
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "dbname": unquote(parts.path.lstrip("/")) or "oversight",
    }
    sslmode = parse_qs(parts.query).get("sslmode")
    if sslmode:
        target["sslmode"] = sslmode[-1]
    return target


def airflow_connection(url: str | None = None) -> str:
    """The Airflow connection ``WAREHOUSE_CONN_ID`` for the warehouse at ``url`` (JSON, the value of
    ``AIRFLOW_CONN_OVERSIGHT_WAREHOUSE``): the Cosmos task groups map their dbt profile from it."""
    t = warehouse_target(url)
    conn: dict[str, Any] = {
        "conn_type": "postgres",
        "host": t["host"],
        "port": int(t["port"]),
        "login": t["user"],
        "password": t["password"],
        "schema": t["dbname"],  # an Airflow postgres connection's "schema" is the database
    }
    if "sslmode" in t:
        conn["extra"] = {"sslmode": t["sslmode"]}
    return json.dumps(conn)


def dbt_env(url: str | None = None) -> dict[str, str]:
    """Environment variables for a dbt process run outside Airflow (``run_dbt()``, tests, docs):
    the values ``dbt_project/profiles.yml`` reads, the key, telemetry off."""
    t = warehouse_target(url)
    env = {
        "OVERSIGHT_DBT_HOST": t["host"],
        "OVERSIGHT_DBT_PORT": t["port"],
        "OVERSIGHT_DBT_USER": t["user"],
        "OVERSIGHT_DBT_PASSWORD": t["password"],
        "OVERSIGHT_DBT_DBNAME": t["dbname"],
        **({"OVERSIGHT_DBT_SSLMODE": t["sslmode"]} if "sslmode" in t else {}),
        "PGOPTIONS": pgoptions(),
        "DBT_PROFILES_DIR": str(project_dir()),
        "DBT_PROJECT_DIR": str(project_dir()),
        **TELEMETRY_OFF_ENV,
    }
    return env


def _newest_source_mtime() -> float:
    root = project_dir()
    newest = 0.0
    for folder in ("models", "macros", "seeds", "snapshots", "tests"):
        base = root / folder
        if base.is_dir():
            for p in base.rglob("*"):
                if p.is_file():
                    newest = max(newest, p.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        p = root / name
        if p.is_file():
            newest = max(newest, p.stat().st_mtime)
    return newest


def manifest_is_stale() -> bool:
    m = manifest_path()
    return not m.is_file() or m.stat().st_mtime < _newest_source_mtime()


def ensure_manifest() -> Path:
    """Compile the manifest (``dbt parse``, no database needed) when missing or stale.

    Parsed into a private target folder, then moved into place atomically: several
    processes (tests, the scheduler, colleagues) may read or compile it at once."""
    import tempfile

    if manifest_is_stale():
        manifest_path().parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=manifest_path().parent, prefix=".parse-") as tmp:
            # dbt parse reads the profile but does not connect: placeholder values do
            env = {
                "OVERSIGHT_DBT_USER": "parse-only",
                **TELEMETRY_OFF_ENV,
                "DBT_PROFILES_DIR": str(project_dir()),
                "DBT_TARGET_PATH": tmp,
                "DBT_LOG_PATH": tmp,
            }
            _invoke(["parse"], env)
            os.replace(Path(tmp) / "manifest.json", manifest_path())
    return manifest_path()


def _invoke(args: Sequence[str], env: dict[str, str]) -> Any:
    from dbt.cli.main import dbtRunner

    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        result = dbtRunner().invoke(
            [*args, "--project-dir", str(project_dir()), "--profiles-dir", str(project_dir()), "--quiet"]
        )
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if not result.success:
        failed: list[str] = []
        for r in getattr(result.result, "results", None) or []:
            status = str(getattr(r, "status", ""))
            if status in ("error", "fail", "runtime error"):
                failed.append(f"{r.node.unique_id}: {(getattr(r, 'message', '') or '').strip()[:300]}")
        detail = "; ".join(failed) or str(result.exception)
        raise DbtError(f"dbt {' '.join(args)} failed: {detail}")
    return result.result


def run_dbt(args: Sequence[str], *, build_dates: Iterable[dt.date] | None = None, url: str | None = None) -> Any:
    """Run one dbt command against the warehouse; ``build_dates`` sets var build_dates."""
    args = list(args)
    if build_dates is not None:
        dates = ",".join(sorted({d.isoformat() for d in build_dates}))
        args += ["--vars", json.dumps({"build_dates": dates})]
    env = dbt_env(url)
    # this process's own target and log folders (the project's target/ holds the shared manifest)
    local = paths().local / "dbt"
    env |= {"DBT_TARGET_PATH": str(local / "target"), "DBT_LOG_PATH": str(local / "logs")}
    return _invoke(args, env)


def build(select: Sequence[str] = (), *, dates: Iterable[dt.date] | None = None) -> list[dt.date]:
    """``dbt build`` of the pending dates (or ``dates``), then mark them built. Returns the dates."""
    from oversight.warehouse.rebuilds import mark_built, pending_dates
    from oversight.warehouse.seeds import CALENDAR_FIRST

    pending, cutoff = pending_dates()
    wanted = sorted(set(dates)) if dates is not None else pending
    args = ["build", *([a for s in select for a in ("--select", s)])]
    run_dbt(args, build_dates=wanted if wanted else [CALENDAR_FIRST - dt.timedelta(days=1)])
    if cutoff is not None:
        mark_built(wanted, cutoff)
    return wanted


def prepare() -> Path:
    """Bootstrap step (idempotent): generated seeds up to date, manifest compiled."""
    from oversight.warehouse.seeds import write_seeds

    write_seeds()
    return ensure_manifest()
