"""
### Ingest city extracts

For one business date *D* (Asia/Shanghai) pull every city's four extracts, keep
every delivered byte, and load each conformant row into `raw.*` exactly once.

*D* is the run's `business_date` param (what `oversight_daily` and
`oversight run` pass); a manual run without it covers the day before its
logical date.

1. `plan`: one work item per city (its four kinds inside): every configured
   source (`OVERSIGHT_SOURCES`, default Shaanxi's 11 units) plus any valid city
   directory found under the landing root. One task per city keeps a national
   day (340 units) well under Airflow's `max_map_length`.
2. `ingest_city` / `pull_city` (dynamic task mapping, one task per city):
   sensors in *reschedule* mode, so a city whose extracts are not all there yet
   (no `.ok` marker, HTTP 404) frees its worker and is asked again later, until
   the city's deadline. Each delivery is stored by SHA-256, validated, and
   published with its quarantined rows in one transaction, and gets one log
   line. The task's label in the grid says what the city's deliveries came to
   (`✗` marks a rejection, `?` a missing extract). One city's outage or bad
   file never blocks another's. Pools bound concurrent HTTP pulls
   (`city_http`) and database loads (`warehouse_load`).
3. `sweep`: late, out-of-order or corrected file deliveries of the 14 days
   before *D*, and HTTP extracts of those days that were never delivered.
4. `summarize` emits the `raw.*` Assets with the business dates that changed
   (*D* and any late day) in their extra: they schedule the warehouse build.
5. `report_quality`: GX checkpoint results per delivery, a rejection report
   (CSV + Markdown) per city that had rejections on *D*, and GX Data Docs.

Run conf: `business_date`, `landing` (root directory), `wait` (false for
backfills over a static folder: what is not there is missing).
Logic: `oversight.ingest.tasks` (the GX audit: `oversight.quality.audit`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import BaseHook, Param, PokeReturnValue, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from oversight.assets import RAW_ASSETS
from oversight.config import TIMEZONE
from oversight.dag_support import START_DATE, default_args, on_dag_failure
from oversight.dates import NoBusinessDate, extra_for, run_business_date
from oversight.ingest import plan as planning
from oversight.ingest import tasks as ingest
from oversight.ingest.http_source import CredentialsRefused
from oversight.quality import audit as quality_audit

# a city whose extracts are not all there yet frees the worker and is asked again in 10 minutes
SENSOR: dict[str, Any] = {
    "poke_interval": 600,
    "timeout": 36 * 3600,
    "mode": "reschedule",
    "execution_timeout": timedelta(minutes=30),  # one poke: a city's four deliveries
    "map_index_template": "{{ city_label | default(task.op_kwargs['item']['city_code']) }}",
}


def _planned(planned: dict[str, Any] | None) -> dict[str, Any]:
    """The plan, for the tasks that run whatever happened upstream (``all_done``). Without one (plan
    failed) there is nothing to summarise or audit: they fail at once, without retries, so that the
    run ends failed (a skipped last task would let it end "success")."""
    if planned is None:
        raise AirflowFailException("no plan: the plan task failed (see its log)")
    return planned


def _label(item: dict[str, Any], done: bool) -> None:
    """The mapped task's label in the grid: what the city's deliveries came to."""
    if done:
        get_current_context()["city_label"] = ingest.city_label(ingest.city_outcome(item))  # type: ignore[literal-required]


@dag(
    dag_id="oversight_ingest",
    description="Pull, validate and load every city's four daily extracts for one business date",
    schedule=None,  # one run per business date, triggered by oversight_daily (or oversight run)
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    tags=["oversight", "ingest"],
    doc_md=__doc__,
    default_args=default_args(retries=3),
    on_failure_callback=on_dag_failure,
    params={
        "business_date": Param(
            None, type=["null", "string"], description="YYYY-MM-DD (default: day before the logical date)"
        ),
        "landing": Param(None, type=["null", "string"], description="landing root directory"),
        "wait": Param(True, type="boolean", description="wait for missing deliveries until the deadline"),
    },
)
def oversight_ingest() -> None:
    @task
    def plan(params: dict[str, Any], logical_date: Any = None) -> dict[str, Any]:
        try:
            day = run_business_date(params.get("business_date"), logical_date=logical_date)
        except NoBusinessDate as exc:
            raise AirflowFailException(str(exc)) from exc  # retrying cannot give a run a date
        planning.record_unrecognised(params.get("landing"))  # nothing under the root goes unnoticed
        items = planning.plan(params.get("landing"), day)
        planning.record_expected(items)  # extract_late sees kinds that never arrive
        return {"business_date": day.isoformat(), "landing": params.get("landing"), "items": items}

    @task
    def file_items(planned: dict[str, Any]) -> list[dict[str, Any]]:
        return [i for i in planned["items"] if i["channel"] == "file"]

    @task
    def http_items(planned: dict[str, Any]) -> list[dict[str, Any]]:
        return [i for i in planned["items"] if i["channel"] == "http"]

    @task.sensor(pool="warehouse_load", **SENSOR)
    def ingest_city(item: dict[str, Any], params: dict[str, Any]) -> PokeReturnValue:
        results = ingest.poke_city(item, wait=bool(params.get("wait", True)), now=pendulum.now(TIMEZONE))
        _label(item, results is not None)
        return PokeReturnValue(is_done=results is not None, xcom_value=results)

    @task.sensor(pool="city_http", **SENSOR)
    def pull_city(item: dict[str, Any], params: dict[str, Any]) -> PokeReturnValue:
        token = BaseHook.get_connection(item["conn_id"]).password or ""
        try:
            results = ingest.poke_city(
                item, wait=bool(params.get("wait", True)), now=pendulum.now(TIMEZONE), token=token
            )
        except CredentialsRefused as exc:
            raise AirflowFailException(str(exc)) from exc  # retrying cannot fix a refused token
        _label(item, results is not None)
        return PokeReturnValue(is_done=results is not None, xcom_value=results)

    @task(pool="warehouse_load")
    def sweep(planned: dict[str, Any]) -> list[dict[str, Any]]:
        day = planning.planned_date(planned)
        late = ingest.sweep(planned["landing"], day)
        token_for = lambda conn_id: BaseHook.get_connection(conn_id).password or ""  # noqa: E731
        return late + ingest.sweep_http(planned["items"], day, token_for)

    @task(trigger_rule="all_done", outlets=list(RAW_ASSETS.values()))
    def summarize(
        planned: dict[str, Any] | None,
        files: list[list[dict[str, Any]]] | None,
        pulls: list[list[dict[str, Any]]] | None,
        late: list[dict[str, Any]] | None,
        outlet_events: Any = None,
    ) -> dict[str, Any]:
        # index by length: iterating a lazy XCom sequence past its end logs a spurious 404
        mapped = [group[i] for group in (files, pulls) if group for i in range(len(group))]
        results = [r for city in mapped if city for r in city] + list(late or [])
        summary = ingest.summarize(planning.planned_date(_planned(planned)), results)
        extra = extra_for(summary["business_dates"])
        for asset in RAW_ASSETS.values():
            outlet_events[asset].extra = extra  # the warehouse builds these dates
        return summary

    @task(trigger_rule="all_done")
    def report_quality(planned: dict[str, Any] | None) -> dict[str, Any]:
        return quality_audit.report_quality(planning.planned_date(_planned(planned)))

    planned = plan()
    files = ingest_city.expand(item=file_items(planned))
    pulls = pull_city.expand(item=http_items(planned))
    summarize(planned, files, pulls, sweep(planned)) >> report_quality(planned)


oversight_ingest()
