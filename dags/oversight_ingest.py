"""
### Ingest city extracts

For one business date *D* (the data interval's start, Asia/Shanghai) pull every
city's four extracts, keep every delivered byte, and load each conformant row
into `raw.*` exactly once.

1. `plan`: one work item per (city, kind): every configured source
   (`OVERSIGHT_SOURCES`, default Shaanxi's 11 units) plus any valid city
   directory found under the landing root.
2. `ingest_file` / `pull_http` (dynamic task mapping, one task per city and
   kind): sensors in *reschedule* mode, so a delivery that is not there yet
   (no `.ok` marker, HTTP 404) frees the worker and is asked for again later,
   until the city's deadline. Each delivery is stored by SHA-256, validated,
   and published with its quarantined rows in one transaction. One city's
   outage or bad file never blocks another's. Pools bound concurrent HTTP
   pulls (`city_http`) and database loads (`warehouse_load`).
3. `sweep`: late, out-of-order or corrected file deliveries of the 14 days
   before *D*, and HTTP extracts of those days that were never delivered
   (asked for once more).
4. `summarize` emits the `raw.*` Assets that schedule the warehouse build.
5. `report_quality`: a rejection report (CSV + Markdown) per city that had
   rejections on *D*, for the city's data team, and GX Data Docs of the day's
   validation runs.

Run conf: `landing` (root directory), `wait` (false for backfills over a
static folder: what is not there is missing). Logic: `oversight.pipeline`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import BaseHook, Param, PokeReturnValue, dag, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.interval import CronDataIntervalTimetable

from oversight import pipeline
from oversight.assets import RAW_ASSETS
from oversight.http_source import CredentialsRefused

DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}

# a delivery that is not there yet frees the worker and is asked for again in 10 minutes
SENSOR: dict[str, Any] = {
    "poke_interval": 600,
    "timeout": 36 * 3600,
    "mode": "reschedule",
    "map_index_template": "{{ task.op_kwargs['item']['city_code'] }}/{{ task.op_kwargs['item']['kind'] }}",
}


@dag(
    dag_id="oversight_ingest",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=4,
    tags=["oversight", "ingest"],
    doc_md=__doc__,
    default_args=DEFAULT_ARGS,
    params={
        "landing": Param(None, type=["null", "string"], description="landing root directory"),
        "wait": Param(True, type="boolean", description="wait for missing deliveries until the deadline"),
    },
)
def oversight_ingest() -> None:
    @task
    def plan(params: dict[str, Any], data_interval_start: Any = None) -> list[dict[str, Any]]:
        pipeline.record_unrecognised(params.get("landing"))  # nothing under the root goes unnoticed
        items = pipeline.plan(params.get("landing"), pipeline.business_date_of(data_interval_start))
        pipeline.record_expected(items)  # extract_late sees kinds that never arrive
        return items

    @task
    def file_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i["channel"] == "file"]

    @task
    def http_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i["channel"] == "http"]

    @task.sensor(pool="warehouse_load", **SENSOR)
    def ingest_file(item: dict[str, Any], params: dict[str, Any]) -> PokeReturnValue:
        result = pipeline.poke_file(item, wait=bool(params.get("wait", True)), now=pendulum.now("Asia/Shanghai"))
        return PokeReturnValue(is_done=result is not None, xcom_value=result)

    @task.sensor(pool="city_http", **SENSOR)
    def pull_http(item: dict[str, Any], params: dict[str, Any]) -> PokeReturnValue:
        token = BaseHook.get_connection(item["conn_id"]).password or ""
        try:
            result = pipeline.poke_http(
                item, token, wait=bool(params.get("wait", True)), now=pendulum.now("Asia/Shanghai")
            )
        except CredentialsRefused as exc:
            raise AirflowFailException(str(exc)) from exc  # retrying cannot fix a refused token
        return PokeReturnValue(is_done=result is not None, xcom_value=result)

    @task(pool="warehouse_load")
    def sweep(
        items: list[dict[str, Any]], params: dict[str, Any], data_interval_start: Any = None
    ) -> list[dict[str, Any]]:
        day = pipeline.business_date_of(data_interval_start)
        late = pipeline.sweep(params.get("landing"), day)
        return late + pipeline.sweep_http(items, day, lambda conn_id: BaseHook.get_connection(conn_id).password or "")

    @task(trigger_rule="all_done", outlets=list(RAW_ASSETS.values()))
    def summarize(
        files: list[dict[str, Any]] | None,
        pulls: list[dict[str, Any]] | None,
        late: list[dict[str, Any]] | None,
        data_interval_start: Any = None,
    ) -> dict[str, Any]:
        # index by length: iterating a lazy XCom sequence past its end logs a spurious 404
        mapped = [group[i] for group in (files, pulls) if group for i in range(len(group))]
        results = [r for r in mapped if r] + list(late or [])
        return pipeline.summarize(pipeline.business_date_of(data_interval_start), results)

    items = plan()
    files = ingest_file.expand(item=file_items(items))
    pulls = pull_http.expand(item=http_items(items))

    @task(trigger_rule="all_done")
    def report_quality(data_interval_start: Any = None) -> dict[str, Any]:
        return pipeline.report_quality(pipeline.business_date_of(data_interval_start))

    summarize(files, pulls, sweep(items)) >> report_quality()


oversight_ingest()
