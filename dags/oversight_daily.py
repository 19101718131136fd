"""
### Daily clock: open business date *D*

Every day at 00:05 Asia/Shanghai this DAG's run covers the data interval
[D, D+1) of the day that just ended, and triggers one `oversight_ingest` run
for *D* (conf `business_date`, run id `daily__D`). The ingest run waits for the
cities' deliveries until their deadlines; the warehouse and alerts DAGs follow
through Assets.

The clock lives apart from the ingest DAG so that an operator (or `oversight
run`) can ingest any date on demand without unpausing a cron schedule, and so
that a backfill of this DAG re-ingests a range of dates in order
(`max_active_runs=1`, each run waits for its ingest run, deferred: no worker
slot is held while it waits).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from oversight.config import TIMEZONE
from oversight.dag_support import START_DATE, default_args, on_dag_failure
from oversight.dates import run_business_date


@dag(
    dag_id="oversight_daily",
    description="Daily clock: trigger the ingest run of the business day that just ended",
    schedule=CronDataIntervalTimetable("5 0 * * *", timezone=TIMEZONE),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["oversight", "ingest", "schedule"],
    doc_md=__doc__,
    default_args=default_args(),
    on_failure_callback=on_dag_failure,
)
def oversight_daily() -> None:
    @task
    def business_date(data_interval_start: Any = None, data_interval_end: Any = None) -> str:
        return run_business_date(
            data_interval_start=data_interval_start, data_interval_end=data_interval_end
        ).isoformat()

    day = business_date()
    day >> TriggerDagRunOperator(
        task_id="trigger_ingest",
        trigger_dag_id="oversight_ingest",
        trigger_run_id="daily__{{ ti.xcom_pull(task_ids='business_date') }}",
        conf={"business_date": "{{ ti.xcom_pull(task_ids='business_date') }}"},
        logical_date=None,
        skip_when_already_exists=True,
        wait_for_completion=True,
        deferrable=True,
        poke_interval=300,
        execution_timeout=timedelta(hours=48),
    )


oversight_daily()
