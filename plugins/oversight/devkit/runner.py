"""``oversight run``: the business dates of a range, through the real scheduler.

The command starts Airflow's api-server, scheduler, dag-processor and triggerer
(LocalExecutor) on loopback, unpauses the chain's DAGs for the duration, and
for each business date, in order, triggers one ``oversight_ingest`` run (conf
``business_date``, ``landing``, ``wait=false``). The warehouse and alerts runs
that follow are started by the scheduler because the ingest run's Assets
trigger them, exactly as in production. The next date is triggered once the
chain for the previous one has finished (``alerting.evaluations`` has the date
and no run of the chain is queued or running), so loads happen in date order.
Progress is printed per date and stage with elapsed time. The clock DAG
(``oversight_daily``) and the chain watch stay as they were (paused by
default): a run of past dates must not start today's ingestion.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INGEST_DAG = "oversight_ingest"
WAREHOUSE_DAG = "oversight_warehouse"
ALERTS_DAG = "oversight_alerts"
CHAIN = (INGEST_DAG, WAREHOUSE_DAG, ALERTS_DAG)
DOWNSTREAM = (WAREHOUSE_DAG, ALERTS_DAG)
ACTIVE = ("queued", "running")


class RunError(RuntimeError):
    """The run itself could not complete (not: a delivery was rejected)."""


def dates(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    if end < start:
        raise RunError(f"--end {end} is before --start {start}")
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def prepare_runtime() -> None:
    """Environment, warehouse migrations, Airflow metadata and the dbt manifest, all idempotent."""
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")  # this process; the services log INFO
    from oversight.db.migrate import migrate
    from oversight.devkit.airflow_runtime import configure_process, ensure_metadata_db

    configure_process()
    migrate()
    ensure_metadata_db()
    from oversight.warehouse.dbt import prepare

    prepare()  # generated seeds current, dbt manifest compiled (the warehouse DAG is rendered from it)


# -- the metadata database, as the scheduler sees it ------------------------------------------


def _session() -> Any:
    from airflow import settings

    if settings.Session is None:  # pragma: no cover - configured by importing airflow
        settings.configure_orm()
    assert settings.Session is not None
    return settings.Session()


def wait_until_parsed(dag_ids: tuple[str, ...], check: Callable[[], None], timeout: float = 300) -> None:
    """Until the dag-processor has serialized every DAG of ``dag_ids`` (raises with its import errors)."""
    from airflow.models.dag import DagModel
    from airflow.models.errors import ParseImportError
    from airflow.models.serialized_dag import SerializedDagModel

    deadline = time.monotonic() + timeout
    while True:
        check()
        with _session() as session:
            found = {
                d
                for (d,) in session.query(SerializedDagModel.dag_id)
                .join(DagModel, DagModel.dag_id == SerializedDagModel.dag_id)
                .filter(SerializedDagModel.dag_id.in_(dag_ids), DagModel.is_stale.is_(False))
                .distinct()
            }
            errors = [f"{e.filename}: {e.stacktrace.strip().splitlines()[-1]}" for e in session.query(ParseImportError)]
        if found == set(dag_ids):
            return
        if errors and time.monotonic() > deadline - timeout / 2:
            raise RunError(f"DAG import errors: {'; '.join(errors)}")
        if time.monotonic() > deadline:
            raise RunError(f"DAGs not parsed after {timeout:.0f}s: missing {sorted(set(dag_ids) - found)}")
        time.sleep(1)


def set_paused(dag_ids: tuple[str, ...], paused: bool | dict[str, bool]) -> dict[str, bool]:
    """Pause or unpause DAGs (one value for all, or per DAG); returns their previous states."""
    from airflow.models.dag import DagModel

    with _session() as session:
        models = session.query(DagModel).filter(DagModel.dag_id.in_(dag_ids)).all()
        previous = {m.dag_id: bool(m.is_paused) for m in models}
        for m in models:
            m.is_paused = paused[m.dag_id] if isinstance(paused, dict) else paused
        session.commit()
    return previous


def fail_unfinished_runs(dag_ids: tuple[str, ...]) -> list[str]:
    """Mark runs of ``dag_ids`` left queued or running (an interrupted ``oversight run``) failed, so the
    scheduler does not resume them alongside the new run. Their work is idempotent: a new run of the
    same date redoes it without counting anything twice."""
    from airflow.api.common.mark_tasks import set_dag_run_state_to_failed
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel

    with _session() as session:
        left = [
            (dr.dag_id, dr.run_id)
            for dr in session.query(DagRun).filter(DagRun.dag_id.in_(dag_ids), DagRun.state.in_(ACTIVE))
        ]
        for dag_id, run_id in left:
            serialized = SerializedDagModel.get_dag(dag_id, session=session)
            if serialized is not None:
                set_dag_run_state_to_failed(dag=serialized, run_id=run_id, commit=True, session=session)
        session.commit()
    return [f"{dag_id}/{run_id}" for dag_id, run_id in left]


def trigger(dag_id: str, conf: dict[str, Any], run_id: str, note: str | None = None) -> str:
    """A manual run of ``dag_id`` (no logical date: what it is about travels in ``conf``)."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    trigger_dag(
        dag_id,
        triggered_by=DagRunTriggeredByType.CLI,
        triggering_user_name=getpass.getuser(),
        run_id=run_id,
        conf=conf,
        logical_date=None,
        note=note,
    )
    return run_id


@dataclass(frozen=True)
class RunState:
    dag_id: str
    run_id: str
    run_type: str
    state: str
    queued_at: dt.datetime | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    dates: tuple[str, ...]

    @property
    def seconds(self) -> float:
        if self.start_date and self.end_date:
            return (self.end_date - self.start_date).total_seconds()
        return 0.0


def _run_dates(dr: Any) -> tuple[str, ...]:
    from oversight.dates import dates_from_extras

    conf_date = (dr.conf or {}).get("business_date")
    if conf_date:
        return (str(conf_date),)
    extras = [dict(e.extra or {}) for e in (dr.consumed_asset_events or [])]
    return tuple(d.isoformat() for d in dates_from_extras(extras))


def runs_since(dag_ids: tuple[str, ...], since: dt.datetime) -> list[RunState]:
    """The runs of ``dag_ids`` queued at or after ``since``, oldest first."""
    from airflow.models.dagrun import DagRun

    with _session() as session:
        found = (
            session.query(DagRun)
            .filter(DagRun.dag_id.in_(dag_ids), DagRun.queued_at >= since)
            .order_by(DagRun.queued_at)
            .all()
        )
        return [
            RunState(
                dr.dag_id,
                dr.run_id,
                str(dr.run_type),
                str(dr.state),
                dr.queued_at,
                dr.start_date,
                dr.end_date,
                _run_dates(dr),
            )
            for dr in found
        ]


def failed_tasks(dag_id: str, run_id: str) -> list[str]:
    """The failed task instances of a run, as ``task_id[map_index]``, with their log files."""
    from airflow.models.taskinstance import TaskInstance

    with _session() as session:
        tis = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.state == "failed")
            .all()
        )
        return [t.task_id + (f"[{t.map_index}]" if t.map_index >= 0 else "") for t in tis]


def queued_asset_events(dag_ids: tuple[str, ...]) -> int:
    """Asset events waiting to start a run of ``dag_ids`` (the scheduler's queue)."""
    from airflow.models.asset import AssetDagRunQueue

    with _session() as session:
        return int(session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id.in_(dag_ids)).count())


def evaluated(day: dt.date) -> bool:
    """Whether the alerts DAG has recorded the chain for ``day`` as finished."""
    from oversight.db.connection import connect

    with connect("loader") as conn:
        row = conn.execute("select exists (select 1 from alerting.evaluations where business_date = %s)", (day,))
        found = row.fetchone()
    return bool(found and found[0])


def delivery_counts(business_date: dt.date) -> tuple[dict[str, int], int, int]:
    """Deliveries of a business date by status, and the rows its live deliveries published and quarantined."""
    from oversight.db.connection import connect

    with connect("loader") as conn:
        rows = conn.execute(
            "select status, count(*) from landing.deliveries where business_date = %s group by status",
            (business_date,),
        ).fetchall()
        loaded = conn.execute(
            "select coalesce(sum(rows_published), 0), coalesce(sum(rows_quarantined), 0)"
            " from audit.loads join landing.deliveries using (delivery_id)"
            " where business_date = %s and status = 'published'",
            (business_date,),
        ).fetchone()
    assert loaded is not None
    return {status: n for status, n in rows}, int(loaded[0]), int(loaded[1])


# -- one date through the chain -------------------------------------------------------------


@dataclass
class Chain:
    """Drives business dates through the running scheduler and reports each run as it ends."""

    check: Callable[[], None]
    echo: Callable[[str], None]
    poll: float = 1.0
    timeout: float = 3600.0

    def _fail(self, run: RunState, day: dt.date) -> RunError:
        tasks = ", ".join(failed_tasks(run.dag_id, run.run_id)) or "no task failed (run marked failed)"
        return RunError(f"{run.dag_id} run {run.run_id} for {day} ended {run.state}: failed task(s) {tasks}")

    def run_date(self, day: dt.date, landing: Path, prefix: str) -> list[RunState]:
        started = dt.datetime.now(dt.UTC)
        t0 = time.monotonic()
        run_id = f"oversight_run__{day.isoformat()}__{started:%Y%m%dT%H%M%S%f}"
        trigger(
            INGEST_DAG,
            {"business_date": day.isoformat(), "landing": str(landing), "wait": False},
            run_id,
            note=f"oversight run: business date {day}",
        )
        reported: set[str] = set()
        finished: list[RunState] = []
        quiet_since: float | None = None
        while True:
            self.check()
            runs = runs_since(CHAIN, started)
            for run in runs:
                if run.state in ACTIVE or run.run_id in reported:
                    continue
                reported.add(run.run_id)
                finished.append(run)
                if run.state != "success" and not (run.dag_id == ALERTS_DAG and run.state == "skipped"):
                    raise self._fail(run, day)
                self.echo(self._line(prefix, run, time.monotonic() - t0, day))
            active = [r for r in runs if r.state in ACTIVE]
            ingest_done = any(r.run_id == run_id and r.state not in ACTIVE for r in runs)
            if ingest_done and not active and not queued_asset_events(DOWNSTREAM):
                if evaluated(day):
                    return finished
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 60:
                    raise RunError(f"the chain for {day} stopped before its alerts were evaluated")
            else:
                quiet_since = None
            if time.monotonic() - t0 > self.timeout:
                raise RunError(f"the chain for {day} did not finish within {self.timeout:.0f}s")
            time.sleep(self.poll)

    def _line(self, prefix: str, run: RunState, elapsed: float, day: dt.date) -> str:
        stage = run.dag_id.removeprefix("oversight_")
        how = "asset-triggered" if "asset" in run.run_type.lower() else run.run_type.split(".")[-1].lower()
        text = f"{prefix} {stage:<9} {run.state} in {run.seconds:5.1f}s ({how}; dates {', '.join(run.dates) or '-'})"
        if run.dag_id == INGEST_DAG:
            counts, published, quarantined = delivery_counts(day)
            total = sum(counts.values())
            detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            if total:
                text += f": {total} deliveries ({detail}); {published} rows published, {quarantined} quarantined"
            else:
                text += ": nothing was delivered"
        return f"{text}  [{elapsed:.0f}s]"


def run_range(
    landing: Path, start: dt.date, end: dt.date, echo: Callable[[str], None] = print, verbose: bool = False
) -> int:
    from oversight.devkit.airflow_services import ServicesError, running

    if not landing.is_dir():
        raise RunError(f"landing directory {landing} does not exist")
    days = list(dates(start, end))
    if not os.environ.get("OVERSIGHT_API_PORT"):  # never collide with a `make airflow` on the default port
        from oversight.devkit.embedded_pg import free_port

        os.environ["OVERSIGHT_API_PORT"] = str(free_port())
    prepare_runtime()
    services_env = {"AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG" if verbose else "INFO"}
    t0 = time.monotonic()
    try:
        with running(services_env) as services:
            echo(f"Airflow up ({time.monotonic() - t0:.0f}s): {services.base_url}, logs {services.log_dir}")
            wait_until_parsed(CHAIN, services.check)
            for left in fail_unfinished_runs(CHAIN):
                echo(f"marked failed: {left} (left unfinished by an earlier, interrupted run)")
            previous = set_paused(CHAIN, False)
            try:
                chain = Chain(check=services.check, echo=echo)
                for i, day in enumerate(days, 1):
                    chain.run_date(day, landing.resolve(), f"[{i}/{len(days)}] {day}")
            finally:
                set_paused(CHAIN, previous)
    except ServicesError as exc:
        raise RunError(str(exc)) from exc
    echo(f"{len(days)} business date(s) in {time.monotonic() - t0:.0f}s")
    from oversight.reporting.supervision import render_all

    echo("")
    echo(render_all(as_of=end))
    return 0
