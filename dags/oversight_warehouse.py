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
   one `dbt build` per group (models, seeds, snapshot, tests and unit tests), the
   per-model tasks watch its progress, so a day costs two dbt invocations, not two
   per model. Incremental facts rebuild only the planned dates (var `build_dates`).
3. `publish`: records the planned dates built and emits the mart Assets with
   the dates built in the events' extra; they schedule `oversight_alerts`.

Connection: `oversight.warehouse.dbt.dbt_env()` (warehouse URL, role
`oversight_transformer`, pseudonymisation key from configuration). Logic:
`oversight.warehouse.dbt`; models: `dbt_project/`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from oversight.assets import RAW_ASSETS
from oversight.dag_support import OWNER, START_DATE, default_args, on_dag_failure
from oversight.dates import as_date, dates_from_extras, event_extras, extra_for
from oversight.warehouse import dbt as dbt_build
from oversight.warehouse.dbt import WAREHOUSE_MART_ASSETS

DEFAULT_ARGS = default_args()

PROJECT = dbt_build.project_dir()
PLAN = "{{ ti.xcom_pull(task_ids='plan')['build_dates'] }}"
COSMOS_ARGS: dict[str, Any] = {
    "vars": {"build_dates": PLAN},
    "install_deps": False,
    "on_execute_callback": dbt_build.apply_dbt_env,  # connection and key from configuration, at run time
    "owner": OWNER,
    "retries": 2,
    "deferrable": False,
    "poke_interval": 2,
}


def _group(group_id: str, select: list[str], exclude: list[str]) -> DbtTaskGroup:
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(dbt_project_path=PROJECT, manifest_path=dbt_build.manifest_path()),
        profile_config=ProfileConfig(
            profile_name="oversight", target_name="warehouse", profiles_yml_filepath=PROJECT / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER, invocation_mode=InvocationMode.DBT_RUNNER
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=select,
            exclude=exclude,
            test_behavior=TestBehavior.NONE,  # the producer's `dbt build` runs the tests
            emit_datasets=False,
        ),
        operator_args=COSMOS_ARGS,
        default_args=DEFAULT_ARGS,
    )
    dbt_build.producer_first(group)
    return group


@dag(
    dag_id="oversight_warehouse",
    description="Build the regulatory warehouse (dbt) for the business dates the raw Assets carry",
    schedule=list(RAW_ASSETS.values()),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["oversight", "warehouse", "dbt"],
    doc_md=__doc__,
    default_args=DEFAULT_ARGS,
    on_failure_callback=on_dag_failure,
    params={"business_date": Param(None, type=["null", "string"], description="YYYY-MM-DD to (re)build")},
)
def oversight_warehouse() -> None:
    @task
    def plan(params: dict[str, Any], triggering_asset_events: Any = None) -> dict[str, Any]:
        requested = dates_from_extras(event_extras(triggering_asset_events))
        given = as_date(params.get("business_date"))
        return dbt_build.plan_build([*requested, *([given] if given else [])])

    @task(outlets=WAREHOUSE_MART_ASSETS)
    def publish(planned: dict[str, Any], outlet_events: Any = None) -> dict[str, Any]:
        built = dbt_build.publish_build(planned)
        extra = extra_for(built)
        for asset in WAREHOUSE_MART_ASSETS:
            outlet_events[asset].extra = extra  # the alerts DAG evaluates these dates
        return extra

    planned = plan()
    warehouse = _group(
        "warehouse",
        select=dbt_build.WAREHOUSE_SELECT,
        exclude=dbt_build.ALERTS_SELECT,
    )
    alerts = _group("alerts", select=dbt_build.ALERTS_SELECT, exclude=[])
    planned >> warehouse >> alerts >> publish(planned)


oversight_warehouse()
