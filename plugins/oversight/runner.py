"""``oversight run``: drive the scheduler's DAGs over a range of business dates.

Each date runs the real DAGs in order with ``dag.test()`` (the same task code
the scheduler runs, in-process, recorded in the Airflow metadata database):
ingest, then the stages later issues add. Progress is printed per date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

INGEST_DAG = "oversight_ingest"
# The daily chain after ingestion, in order. On the scheduler each is triggered by
# the Assets the previous one emits; ``oversight run`` runs them in sequence with
# the same code. A stage whose DAG file is absent is skipped.
DOWNSTREAM_DAGS = ("oversight_warehouse", "oversight_alerts")


class RunError(RuntimeError):
    """The run itself could not complete (not: a delivery was rejected)."""


def dates(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    if end < start:
        raise RunError(f"--end {end} is before --start {start}")
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def prepare_runtime(verbose: bool = False) -> None:
    """Environment, warehouse migrations and Airflow metadata, all idempotent."""
    import os

    from oversight.airflow_runtime import configure_process, ensure_metadata_db
    from oversight.migrate import migrate

    if not verbose:
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
    configure_process()
    migrate()
    ensure_metadata_db()
    from oversight.dbt_build import prepare

    prepare()  # generated seeds current, dbt manifest compiled (the warehouse DAG is rendered from it)


def load_dags() -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    from oversight.settings import paths

    bag = DagBag(dag_folder=str(paths().dags))
    if bag.import_errors:
        raise RunError(f"DAG import errors: {bag.import_errors}")
    return dict(bag.dags)


def load_dag(dag_id: str) -> Any:
    from oversight.settings import paths

    dag = load_dags().get(dag_id)
    if dag is None:
        raise RunError(f"DAG {dag_id} not found in {paths().dags}")
    return dag


def forget_previous_run(dag_id: str, logical_date: Any) -> None:
    """A re-run of a date starts afresh: an earlier (perhaps interrupted) run of the
    same logical date would otherwise be resumed as it was left. The warehouse side
    is idempotent, so nothing is counted twice."""
    from airflow import settings
    from airflow.models.dagrun import DagRun

    assert settings.Session is not None
    with settings.Session() as session:
        session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date).delete()
        session.commit()


def run_dag(dag: Any, business_date: dt.date, conf: dict[str, Any]) -> None:
    import pendulum

    # A daily data interval [D, D+1) in Asia/Shanghai is the business date D; a
    # manual run covers the last interval complete at its logical date, so D+1.
    day_after = business_date + dt.timedelta(days=1)
    logical = pendulum.datetime(day_after.year, day_after.month, day_after.day, tz="Asia/Shanghai")
    forget_previous_run(dag.dag_id, logical)
    dr = dag.test(logical_date=logical, run_conf=conf)
    state = str(getattr(dr, "state", "unknown"))
    if state != "success":
        raise RunError(f"DAG {dag.dag_id} run for {business_date} ended {state}")


def delivery_counts(business_date: dt.date) -> tuple[dict[str, int], int, int]:
    """Deliveries of a business date by status, and the rows its live deliveries published and quarantined."""
    from oversight.warehouse import connect

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


def run_range(
    landing: Path, start: dt.date, end: dt.date, echo: Callable[[str], None] = print, verbose: bool = False
) -> int:
    if not landing.is_dir():
        raise RunError(f"landing directory {landing} does not exist")
    days = list(dates(start, end))
    prepare_runtime(verbose)
    bag = load_dags()
    if INGEST_DAG not in bag:
        raise RunError(f"DAG {INGEST_DAG} not found")
    ingest = bag[INGEST_DAG]
    downstream = [bag[d] for d in DOWNSTREAM_DAGS if d in bag]
    for i, day in enumerate(days, 1):
        echo(f"[{i}/{len(days)}] {day}: ingesting deliveries from {landing}")
        run_dag(ingest, day, {"landing": str(landing.resolve()), "wait": False})
        counts, published, quarantined = delivery_counts(day)
        if not counts:
            echo(f"[{i}/{len(days)}] {day}: nothing was delivered")
        else:
            total = sum(counts.values())
            detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            echo(
                f"[{i}/{len(days)}] {day}: {total} deliveries ({detail}); "
                f"{published} rows published, {quarantined} quarantined"
            )
        for dag in downstream:
            run_dag(dag, day, {})
            echo(f"[{i}/{len(days)}] {day}: {dag.dag_id} done")
    if "oversight_warehouse" in bag:
        from oversight.supervision_report import render_all

        echo("")
        echo(render_all(as_of=end))
    return 0
