"""
### Build the regulatory warehouse (dbt)

Scheduled on the `raw.*` Assets the ingest DAG emits. For the business date *D*
(the data interval's start, Asia/Shanghai):

1. `plan`: the dates to (re)build: every date of `audit.rebuild_dates` not yet
   built (a late or corrected delivery of D-3 rebuilds D-3 and nothing else), at
   least *D*.
2. `warehouse` and `alerts`: Cosmos task groups rendered from the compiled dbt
   manifest (`LoadMode.DBT_MANIFEST`, compiled by the bootstrap). Watcher execution:
   one `dbt build` per group (models, seeds, snapshot, tests and unit tests), the
   per-model tasks watch its progress, so a day costs two dbt invocations, not two
   per model. Incremental facts rebuild only the planned dates (var `build_dates`).
3. `publish`: records the planned dates built and emits the mart Assets (with the
   business date in the event's extra), which schedule `oversight_alerts`.

Connection: `oversight.dbt_build.dbt_env()` (warehouse URL, role
`oversight_transformer`, pseudonymisation key from configuration). Logic:
`oversight.dbt_build`; models: `dbt_project/`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from oversight import dbt_build
from oversight.assets import RAW_ASSETS
from oversight.dbt_build import WAREHOUSE_MART_ASSETS

DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
}

PROJECT = dbt_build.project_dir()
PLAN = "{{ ti.xcom_pull(task_ids='plan')['build_dates'] }}"
COSMOS_ARGS: dict[str, Any] = {
    "vars": {"build_dates": PLAN},
    "install_deps": False,
    "on_execute_callback": dbt_build.apply_dbt_env,  # connection and key from configuration, at run time
    "owner": "data-platform",
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
    schedule=list(RAW_ASSETS.values()),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["oversight", "warehouse", "dbt"],
    doc_md=__doc__,
    default_args=DEFAULT_ARGS,
)
def oversight_warehouse() -> None:
    @task
    def plan(data_interval_start: Any = None) -> dict[str, Any]:
        return dbt_build.plan_build(data_interval_start)

    @task(outlets=WAREHOUSE_MART_ASSETS)
    def publish(planned: dict[str, Any], outlet_events: Any = None) -> dict[str, Any]:
        return dbt_build.publish_build(planned, outlet_events, WAREHOUSE_MART_ASSETS)

    planned = plan()
    warehouse = _group(
        "warehouse",
        select=dbt_build.WAREHOUSE_SELECT,
        exclude=dbt_build.ALERTS_SELECT,
    )
    alerts = _group("alerts", select=dbt_build.ALERTS_SELECT, exclude=[])
    planned >> warehouse >> alerts >> publish(planned)


oversight_warehouse()
