"""
### Ingest city extracts

For one business date (the data interval's start, Asia/Shanghai), find every
city's complete deliveries under the landing root (file drops with an `.ok`
marker; any 6-digit city directory counts), store each payload immutably by
SHA-256 and record it in `landing.deliveries`.

* one mapped task per delivery: one city's bad file never blocks another's;
* re-running a date is safe: an identical re-delivery is recognised by its hash.

Param `landing`: the landing root (default `$OVERSIGHT_LANDING_ROOT`, else
`.local/landing`). Logic lives in `oversight.pipeline`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from oversight import pipeline


@dag(
    dag_id="oversight_ingest",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=4,
    tags=["oversight", "ingest"],
    doc_md=__doc__,
    default_args={
        "owner": "data-platform",
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
    },
    params={"landing": Param(None, type=["null", "string"], description="landing root directory")},
)
def oversight_ingest() -> None:
    @task
    def discover(params: dict[str, Any], data_interval_start: Any = None) -> list[dict[str, Any]]:
        return pipeline.discover(params.get("landing"), pipeline.business_date_of(data_interval_start))

    @task(map_index_template="{{ task.op_kwargs['delivery']['original_name'] }}")
    def ingest(delivery: dict[str, Any]) -> dict[str, Any]:
        return pipeline.ingest_file(delivery)

    @task(trigger_rule="all_done")
    def summarize(results: list[dict[str, Any]], data_interval_start: Any = None) -> dict[str, Any]:
        return pipeline.summarize(pipeline.business_date_of(data_interval_start), list(results or []))

    summarize(ingest.expand(delivery=discover()))


oversight_ingest()
