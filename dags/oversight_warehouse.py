"""
### Build the regulatory warehouse (dbt)

Scheduled on the `raw.*` Assets the ingest DAG emits. An Asset-triggered run
has no data interval: the business dates travel in the events' extra.

1. `plan`: the dates to (re)build, each once: the business dates of every Asset
   event that triggered the run (or the `business_date` param of a manual run),
   plus every date of `audit.rebuild_dates` not yet built (a late or corrected
   delivery of D-3 rebuilds D-3 and nothing else).
2. `warehouse` and `alerts`: Cosmos task groups rendered from the compiled dbt
   manifest (`LoadMode.DBT_MANIFEST`, compiled by the bootstrap). Watcher execution:
   one `dbt build` per group (models, seeds, snapshot: Cosmos leaves the data and
   unit tests out of it under `TestBehavior.NONE`), then the per-node tasks report
   its results, so a day costs two dbt invocations, not two per model.
   Incremental facts rebuild only the planned dates (var `build_dates`).
3. `publish`: records the planned dates built and emits the mart Assets with
   the dates built in the events' extra; they schedule `oversight_alerts`.

Connection: the Airflow connection `oversight_warehouse` (Cosmos profile mapping;
dbt acts as role `oversight_transformer`); the pseudonymisation key comes from
configuration when a task runs. Task groups: `oversight.warehouse.cosmos`; dates:
`oversight.warehouse.rebuilds`; models: `dbt_project/`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, task

from oversight.assets import RAW_ASSETS, WAREHOUSE_MART_ASSETS
from oversight.dag_support import START_DATE, default_args, on_dag_failure
from oversight.dates import as_date, dates_from_extras, event_extras, extra_for
from oversight.warehouse import rebuilds
from oversight.warehouse.cosmos import ALERTS_SELECT, DBT_MACROS, WAREHOUSE_SELECT, dbt_task_group

PLAN = "{{ ti.xcom_pull(task_ids='plan')['build_dates'] }}"


@dag(
    dag_id="oversight_warehouse",
    description="Build the regulatory warehouse (dbt) for the business dates the raw Assets carry",
    schedule=list(RAW_ASSETS.values()),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["oversight", "warehouse", "dbt"],
    doc_md=__doc__,
    default_args=default_args(),
    on_failure_callback=on_dag_failure,
    user_defined_macros=DBT_MACROS,  # the dbt tasks' environment, rendered when they run
    params={"business_date": Param(None, type=["null", "string"], description="YYYY-MM-DD to (re)build")},
)
def oversight_warehouse() -> None:
    @task
    def plan(params: dict[str, Any], triggering_asset_events: Any = None) -> dict[str, Any]:
        requested = dates_from_extras(event_extras(triggering_asset_events))
        given = as_date(params.get("business_date"))
        return rebuilds.plan_build([*requested, *([given] if given else [])])

    @task(outlets=WAREHOUSE_MART_ASSETS)
    def publish(planned: dict[str, Any], outlet_events: Any = None) -> dict[str, Any]:
        built = rebuilds.publish_build(planned)
        extra = extra_for(built)
        for asset in WAREHOUSE_MART_ASSETS:
            outlet_events[asset].extra = extra  # the alerts DAG evaluates these dates
        return extra

    planned = plan()
    warehouse = dbt_task_group("warehouse", WAREHOUSE_SELECT, exclude=ALERTS_SELECT, build_dates=PLAN)
    alerts = dbt_task_group("alerts", ALERTS_SELECT, build_dates=PLAN)
    planned >> warehouse >> alerts >> publish(planned)


oversight_warehouse()
