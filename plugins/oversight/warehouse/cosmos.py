"""The warehouse DAG's Cosmos task groups, rendered from the compiled dbt manifest.

``dbt_task_group()`` builds one ``DbtTaskGroup`` in watcher execution mode: one
``dbt build`` of the group's selection (models, seeds, snapshots, data and unit
tests) runs in the producer task, and a task per node reports that node's result.
Incremental facts rebuild only the business dates in var ``build_dates``.

Imported by DAG files at parse time: nothing here does I/O at import, and building a
group reads only the compiled manifest and the project files Cosmos fingerprints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from oversight.dag_support import OWNER, default_args
from oversight.warehouse import dbt

# Node selections of the warehouse DAG's two task groups (one `dbt build` each).
ALERTS_SELECT = ["path:models/intermediate/alerts", "path:models/marts/alerts", "path:seeds/alert_rules.csv"]
WAREHOUSE_SELECT = ["path:seeds", "path:models", "path:snapshots"]


def _operator_args(build_dates: str) -> dict[str, Any]:
    return {
        "vars": {"build_dates": build_dates},
        "install_deps": False,
        "on_execute_callback": dbt.apply_dbt_env,  # connection and key from configuration, at run time
        "owner": OWNER,
        "retries": 2,
        "deferrable": False,
        "poke_interval": 2,
    }


def dbt_task_group(
    group_id: str, select: Sequence[str], exclude: Sequence[str] = (), *, build_dates: str
) -> DbtTaskGroup:
    """A watcher task group building ``select`` minus ``exclude`` for the dates ``build_dates``
    (a template rendered at run time, e.g. the plan task's XCom)."""
    project = dbt.project_dir()
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(dbt_project_path=project, manifest_path=dbt.manifest_path()),
        profile_config=ProfileConfig(
            profile_name="oversight", target_name="warehouse", profiles_yml_filepath=project / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER, invocation_mode=InvocationMode.DBT_RUNNER
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=list(select),
            exclude=list(exclude),
            test_behavior=TestBehavior.NONE,  # the producer's `dbt build` runs the tests
            emit_datasets=False,
        ),
        operator_args=_operator_args(build_dates),
        default_args=default_args(),
    )
    producer_first(group)
    return group


def producer_first(group: Any) -> None:
    """Put a Cosmos watcher group's producer (its one ``dbt build``) upstream of every
    per-node watcher task. Cosmos lets the watchers start alongside the producer and
    wait for its events; run serially (``dag.test()``, as ``oversight run`` does) a
    watcher scheduled first would wait for a producer that never starts. With the
    producer first, each watcher finds its node's result at its first poke."""
    producer = next((t for tid, t in group.children.items() if tid.endswith("dbt_producer_watcher")), None)
    if producer is None:
        raise dbt.DbtError(f"task group {group.group_id} has no dbt producer task (not a watcher group?)")
    for tid, task in group.children.items():
        if task is not producer and not tid.endswith("dbt_producer_watcher_done"):
            producer >> task
