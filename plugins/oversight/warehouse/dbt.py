"""The dbt warehouse build: environment, manifest, runs and the rebuild bookkeeping.

One place that knows how dbt is run here:

- ``dbt_env()``: the environment a dbt process needs. Connection values are derived
  from ``oversight.db.connection.warehouse_url()`` (host ``127.0.0.1`` for the embedded
  server: Cosmos cannot use a unix socket); dbt acts as ``oversight_transformer``
  (the profile's ``role``). The pseudonymisation key is configuration
  (``OVERSIGHT_PSEUDONYM_KEY``, else the local secret ``pseudonym_key``) and reaches
  the database only as the session setting ``oversight.pseudonym_key`` (``PGOPTIONS``),
  never in SQL text. Telemetry is off.
- ``ensure_manifest()``: ``dbt parse`` when ``target/manifest.json`` is missing or
  older than any project file (the warehouse DAG is rendered from it by Cosmos).
- ``run_dbt()``: dbt programmatically (``dbtRunner``), raising ``DbtError`` on failure.
- ``pending_dates()`` / ``mark_built()``: which business dates a build covers
  (``audit.rebuild_dates`` rows not yet built) and recording them built.
- ``write_seeds()``: the generated seeds (city reference, working-day calendar).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from oversight.config import TELEMETRY_OFF_ENV, paths

PSEUDONYM_KEY_ENV = "OVERSIGHT_PSEUDONYM_KEY"
CALENDAR_FIRST = dt.date(2021, 1, 1)
CALENDAR_LAST = dt.date(2026, 12, 31)


class DbtError(RuntimeError):
    """A dbt command failed; the message names the command and the failing nodes."""


def project_dir() -> Path:
    return paths().dbt_project


def manifest_path() -> Path:
    """The compiled manifest the warehouse DAG is rendered from (Cosmos LoadMode.DBT_MANIFEST)."""
    return project_dir() / "target" / "manifest.json"


def pseudonym_key() -> str:
    key = os.environ.get(PSEUDONYM_KEY_ENV)
    if not key:
        from oversight.secrets_store import local_secret

        key = local_secret("pseudonym_key")
    if not key.strip():
        raise DbtError(f"the pseudonymisation key is empty: set {PSEUDONYM_KEY_ENV}")
    return key


def _pgoptions_value(value: str) -> str:
    # libpq PGOPTIONS: spaces and backslashes are escaped with a backslash
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def dbt_env(url: str | None = None) -> dict[str, str]:
    """Environment variables for a dbt process (profile values, key, telemetry off)."""
    from oversight.db.connection import warehouse_url

    parts = urlsplit(url or warehouse_url())
    host = parts.hostname or "127.0.0.1"
    if host.startswith("/") or host == "localhost":
        host = "127.0.0.1"
    env = {
        "OVERSIGHT_DBT_HOST": host,
        "OVERSIGHT_DBT_PORT": str(parts.port or 5432),
        "OVERSIGHT_DBT_USER": unquote(parts.username or "postgres"),
        "OVERSIGHT_DBT_PASSWORD": unquote(parts.password or ""),
        "OVERSIGHT_DBT_DBNAME": unquote(parts.path.lstrip("/")) or "oversight",
        "PGOPTIONS": f"-c oversight.pseudonym_key={_pgoptions_value(pseudonym_key())}",
        "DBT_PROFILES_DIR": str(project_dir()),
        "DBT_PROJECT_DIR": str(project_dir()),
        **TELEMETRY_OFF_ENV,
    }
    return env


def apply_dbt_env(context: Any = None) -> None:
    """Put the dbt environment into this process (Cosmos tasks' ``on_execute_callback``)."""
    os.environ.update(dbt_env())


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
    import json

    args = list(args)
    if build_dates is not None:
        dates = ",".join(sorted({d.isoformat() for d in build_dates}))
        args += ["--vars", json.dumps({"build_dates": dates})]
    env = dbt_env(url)
    # this process's own target and log folders (the project's target/ holds the shared manifest)
    local = paths().local / "dbt"
    env |= {"DBT_TARGET_PATH": str(local / "target"), "DBT_LOG_PATH": str(local / "logs")}
    return _invoke(args, env)


def pending_dates() -> tuple[list[dt.date], dt.datetime | None]:
    """Business dates published but not yet built, and the time they were read (the cutoff)."""
    from oversight.db.connection import connect

    with connect("transformer") as conn:
        row = conn.execute("select now()").fetchone()
        assert row is not None
        cutoff: dt.datetime = row[0]
        dates = [
            d
            for (d,) in conn.execute(
                "select distinct business_date from audit.rebuild_dates"
                " where built_at is null and recorded_at <= %s order by 1",
                (cutoff,),
            )
        ]
    return dates, cutoff


def mark_built(dates: Iterable[dt.date], cutoff: dt.datetime) -> int:
    """Record the pending rows of ``dates`` recorded up to ``cutoff`` as built."""
    from oversight.db.connection import connect

    wanted = sorted(set(dates))
    if not wanted:
        return 0
    with connect("transformer") as conn:
        cur = conn.execute(
            "update audit.rebuild_dates set built_at = now()"
            " where built_at is null and business_date = any(%s) and recorded_at <= %s",
            (wanted, cutoff),
        )
        conn.commit()
        return cur.rowcount


def build(select: Sequence[str] = (), *, dates: Iterable[dt.date] | None = None) -> list[dt.date]:
    """``dbt build`` of the pending dates (or ``dates``), then mark them built. Returns the dates."""
    pending, cutoff = pending_dates()
    wanted = sorted(set(dates)) if dates is not None else pending
    args = ["build", *([a for s in select for a in ("--select", s)])]
    run_dbt(args, build_dates=wanted if wanted else [CALENDAR_FIRST - dt.timedelta(days=1)])
    if cutoff is not None:
        mark_built(wanted, cutoff)
    return wanted


# -- generated seeds -------------------------------------------------------------


def _write_csv(path: Path, header: list[str], rows: Iterable[Sequence[Any]]) -> None:
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    text = buf.getvalue()
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def calendar_rows(first: dt.date = CALENDAR_FIRST, last: dt.date = CALENDAR_LAST) -> list[list[Any]]:
    """One row per day from ``chinesecalendar`` (the State Council's yearly notices)."""
    import importlib.metadata

    import chinese_calendar

    version = importlib.metadata.version("chinesecalendar")
    source = f"chinesecalendar {version} (State Council holiday notices)"
    rows: list[list[Any]] = []
    day = first
    while day <= last:
        is_workday = chinese_calendar.is_workday(day)
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        is_weekend = day.weekday() >= 5
        rows.append(
            [
                day.isoformat(),
                str(is_workday).lower(),
                str(bool(on_holiday and name)).lower(),
                name or "",
                str(is_workday and is_weekend).lower(),
                source,
                dt.date(day.year, 1, 1).isoformat(),
            ]
        )
        day += dt.timedelta(days=1)
    return rows


def write_seeds() -> list[Path]:
    """Regenerate the seeds derived from package data (idempotent: unchanged files are not touched)."""
    from oversight.contract.cities import load_cities

    seeds = project_dir() / "seeds"
    cities_csv = seeds / "cities.csv"
    _write_csv(
        cities_csv,
        [
            "city_code",
            "city_name",
            "province_code",
            "province_name",
            "unit_type",
            "parent_city_code",
            "source",
            "effective_date",
        ],
        (
            [
                c.city_code,
                c.city_name,
                c.province_code,
                c.province_name,
                c.unit_type,
                c.parent_city_code or "",
                c.source,
                "2024-01-01",
            ]
            for c in sorted(load_cities().values(), key=lambda c: c.city_code)
        ),
    )
    calendar_csv = seeds / "working_calendar.csv"
    _write_csv(
        calendar_csv,
        [
            "calendar_date",
            "is_working_day",
            "is_holiday",
            "holiday_name",
            "is_swapped_working_day",
            "source",
            "effective_date",
        ],
        calendar_rows(),
    )
    return [cities_csv, calendar_csv]


def prepare() -> Path:
    """Bootstrap step (idempotent): generated seeds up to date, manifest compiled."""
    write_seeds()
    return ensure_manifest()


# -- the warehouse DAG's logic ---------------------------------------------------------

# Node selections of the DAG's two Cosmos task groups (one `dbt build` each).
ALERTS_SELECT = ["path:models/intermediate/alerts", "path:models/marts/alerts", "path:seeds/alert_rules.csv"]
WAREHOUSE_SELECT = ["path:seeds", "path:models", "path:snapshots"]
MARTS = (
    "supervision_report",
    "prepaid_supervision",
    "refunds_daily",
    "complaints_daily",
    "compliance_daily",
    "institution_risk",
    "risk_alerts",
)


def _mart_assets() -> list[Any]:
    from oversight.assets import mart_asset

    return [mart_asset(name) for name in MARTS]


WAREHOUSE_MART_ASSETS = _mart_assets()


def plan_build(requested: Iterable[dt.date]) -> dict[str, Any]:
    """The dates a warehouse run builds: the dates it was asked for (the business dates in the
    extras of the Asset events that triggered it, or its param), and every pending rebuild date
    (a late or corrected delivery of D-3 rebuilds D-3 too), each once."""
    pending, cutoff = pending_dates()
    wanted = sorted({*pending, *requested})
    return {
        "build_dates": ",".join(d.isoformat() for d in wanted),
        "cutoff": cutoff.isoformat() if cutoff else None,
    }


def publish_build(planned: dict[str, Any]) -> list[dt.date]:
    """Record the planned dates built; returns them (the mart Asset events carry them)."""
    dates = [dt.date.fromisoformat(d) for d in planned["build_dates"].split(",") if d]
    if planned.get("cutoff"):
        mark_built(dates, dt.datetime.fromisoformat(planned["cutoff"]))
    return dates


def producer_first(group: Any) -> None:
    """Put a Cosmos watcher group's producer (its one ``dbt build``) upstream of every
    per-node watcher task. Cosmos lets the watchers start alongside the producer and
    wait for its events; run serially (``dag.test()``, as ``oversight run`` does) a
    watcher scheduled first would wait for a producer that never starts. With the
    producer first, each watcher finds its node's result at its first poke."""
    producer = next((t for tid, t in group.children.items() if tid.endswith("dbt_producer_watcher")), None)
    if producer is None:
        raise DbtError(f"task group {group.group_id} has no dbt producer task (not a watcher group?)")
    for tid, task in group.children.items():
        if task is not producer and not tid.endswith("dbt_producer_watcher_done"):
            producer >> task


def docs(port: int = 8081, serve: bool = True) -> Path:
    """``dbt docs generate`` (catalog from the warehouse), then serve it on 127.0.0.1."""
    run_dbt(["docs", "generate"])
    target = paths().local / "dbt" / "target"
    if serve:
        import contextlib
        import functools
        import http.server

        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(target))
        with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
            print(f"dbt docs on http://127.0.0.1:{port}/ (Ctrl-C stops)")
            with contextlib.suppress(KeyboardInterrupt):
                server.serve_forever()
    return target / "index.html"
