"""The warehouse DAG's Cosmos task groups, rendered from the compiled dbt manifest.

``dbt_task_group()`` builds one ``DbtTaskGroup`` in watcher execution mode: one
``dbt build`` of the group's selection runs in the producer task, then a watcher task
per node reports that node's result (``_producer_before_watchers()``). Incremental
facts rebuild only the business dates in var ``build_dates``. With
``TestBehavior.NONE`` Cosmos 1.15 restricts the producer's build to models, seeds and
snapshots (``--resource-type``): the data and unit tests are not run in the DAG
(``oversight.warehouse.dbt.build()`` runs them).

Connection: Cosmos maps the dbt profile from the Airflow connection
``oversight_warehouse`` (``PostgresUserPasswordProfileMapping``; the connection is
defined by ``oversight.devkit.airflow_runtime.airflow_env()`` for the local services,
by docker-compose.yml for the stack); dbt connects as its login and acts as
``oversight_transformer`` (profile ``role``). The password reaches dbt as an
environment variable Cosmos sets, never in the generated profiles.yml.

Key: the pseudonymisation key reaches the database as ``PGOPTIONS`` (see
``oversight.warehouse.dbt.pgoptions()``) in the tasks' environment. The value is a
template calling the DAG macro ``oversight_dbt_pgoptions`` (``DBT_MACROS``: the DAG must
pass them as ``user_defined_macros``), rendered when the task runs: the key never
appears in the DAG file's serialisation, and the macro registers it with Airflow's
secrets masker, so task logs and rendered fields show ``***``.

Imported by DAG files at parse time: nothing here does I/O at import, and building a
group reads only the compiled manifest and the project files Cosmos fingerprints (not
the connection, which is read when a task runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import PRODUCER_WATCHER_TASK_ID, ExecutionMode, InvocationMode, LoadMode, TestBehavior
from cosmos.operators.watcher import DbtProducerWatcherOperator
from cosmos.profiles import PostgresUserPasswordProfileMapping

from oversight import config
from oversight.config import TELEMETRY_OFF_ENV
from oversight.dag_support import OWNER, default_args
from oversight.db.connection import ROLE_NAMES
from oversight.warehouse import dbt

# Node selections of the warehouse DAG's two task groups (one `dbt build` each).
ALERTS_SELECT = ["path:models/intermediate/alerts", "path:models/marts/alerts", "path:seeds/alert_rules.csv"]
WAREHOUSE_SELECT = ["path:seeds", "path:models", "path:snapshots"]


def dbt_pgoptions() -> str:
    """``PGOPTIONS`` for the tasks' dbt (the macro ``oversight_dbt_pgoptions``, called when a task
    renders its fields): the key from configuration, registered with the secrets masker first."""
    from airflow.sdk.log import mask_secret

    key = config.pseudonym_key()
    value = dbt.pgoptions(key)
    mask_secret(key)
    mask_secret(value.split("=", 1)[1])  # the escaped form, should escaping have changed it
    return value


DBT_MACROS: dict[str, Any] = {"oversight_dbt_pgoptions": dbt_pgoptions}
DBT_ENV = {"PGOPTIONS": "{{ oversight_dbt_pgoptions() }}", **TELEMETRY_OFF_ENV}


def profile_config() -> ProfileConfig:
    """The dbt profile, mapped from the Airflow connection ``oversight_warehouse`` when a task runs."""
    return ProfileConfig(
        profile_name="oversight",  # dbt_project.yml's profile
        target_name="warehouse",
        profile_mapping=PostgresUserPasswordProfileMapping(
            conn_id=dbt.WAREHOUSE_CONN_ID,
            # as dbt_project/profiles.yml: the default schema, the role dbt acts as, threads, timeout
            profile_args={
                "schema": "staging",
                "role": ROLE_NAMES["transformer"],
                "threads": 2,
                "connect_timeout": 10,
            },
        ),
    )


def _operator_args(build_dates: str) -> dict[str, Any]:
    return {
        "vars": {"build_dates": build_dates},
        "install_deps": False,
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
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=dbt.project_dir(), manifest_path=dbt.manifest_path(), env_vars=DBT_ENV
        ),
        profile_config=profile_config(),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER, invocation_mode=InvocationMode.DBT_RUNNER
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=list(select),
            exclude=list(exclude),
            test_behavior=TestBehavior.NONE,  # no test tasks; Cosmos then builds no tests either
            emit_datasets=False,
        ),
        operator_args=_operator_args(build_dates),
        default_args=default_args(),
    )
    macros = group.dag.user_defined_macros or {}
    if any(macros.get(name) is not macro for name, macro in DBT_MACROS.items()):
        raise dbt.DbtError(f"task group {group_id}: its DAG needs user_defined_macros=DBT_MACROS (the dbt env)")
    _producer_before_watchers(group)
    return group


def _producer_before_watchers(group: DbtTaskGroup) -> None:
    """The group's producer (its one ``dbt build``) upstream of the watchers of the selection's
    root nodes, so of every watcher (the others follow their dbt parents).

    Cosmos wires a ``DbtTaskGroup``'s watchers to start alongside the producer and poll for its
    events (for a ``DbtDag`` it puts the producer upstream of the root nodes, with trigger rule
    "always"). Here the watchers poll synchronously (``deferrable=False``): started alongside,
    each would hold a worker slot, polling, for the whole build. Started after it, each finds
    its node's result at its first poke. The wiring uses Cosmos's post-rendering customisation
    (the converter's ``dbt_graph.filtered_nodes`` and ``tasks_map``) and the producer's key
    there, ``PRODUCER_WATCHER_TASK_ID``: a root is a node none of whose dbt parents has a task
    in the group. The watchers keep the default trigger rule: a producer whose ``dbt build``
    failed is retried by Cosmos as a skip (it never builds twice), and its watchers are then
    skipped with it."""
    producer = group.tasks_map.get(PRODUCER_WATCHER_TASK_ID)
    if not isinstance(producer, DbtProducerWatcherOperator):
        raise dbt.DbtError(f"task group {group.group_id} has no dbt producer task (not a watcher group?)")
    # the nodes with a task (sources, say, are selected nodes without one)
    rendered = group.tasks_map.keys() & group.dbt_graph.filtered_nodes.keys()
    for unique_id in sorted(rendered):
        if not set(group.dbt_graph.filtered_nodes[unique_id].depends_on) & rendered:
            producer >> group.tasks_map[unique_id]
