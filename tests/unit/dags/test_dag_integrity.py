"""Every DAG file imports cleanly, is documented and owned, retries, and does
no I/O at import time (the scheduler parses these files constantly)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.runtime import ROOT

DAG_FILES = sorted((ROOT / "dags").glob("*.py"))


def test_there_are_dags() -> None:
    assert [p.name for p in DAG_FILES if not p.name.startswith("_")], "dags/ holds no DAG file"


@pytest.fixture(scope="module")
def probe() -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "support" / "import_probe.py"), *map(str, DAG_FILES)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, f"a DAG file failed to import:\n{out.stderr[-4000:]}"
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# The one exception: Cosmos renders the warehouse DAG from the compiled dbt project at
# parse time (LoadMode.DBT_MANIFEST): it reads the manifest (compiled by the bootstrap),
# dbt_project.yml and the seed files (to fingerprint seed nodes). Exactly those files of
# dbt_project/ (and /dev/null, which a library opens), nothing else: no database, network,
# subprocess or directory scan.
DBT_PROJECT = ROOT / "dbt_project"
COSMOS_PARSE_READS = {
    f"open {DBT_PROJECT / 'target' / 'manifest.json'}",
    f"open {DBT_PROJECT / 'dbt_project.yml'}",
    "open /dev/null",
}


def _allowed(event: str) -> bool:
    if event in COSMOS_PARSE_READS:
        return True
    seeds = f"open {DBT_PROJECT / 'seeds'}/"
    return event.startswith(seeds) and event.endswith(".csv") and "/" not in event[len(seeds) :]


def test_no_io_at_import_time(probe: dict[str, object]) -> None:
    events = probe["events"]
    assert isinstance(events, list)
    assert [e for e in events if not _allowed(e)] == []


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_contract(probe: dict[str, dict[str, list[dict[str, object]]]], path: Path) -> None:
    dags = probe["dags"][str(path)]
    assert dags, f"{path.name} defines no DAG"
    for dag in dags:
        assert dag["tags"], f"{dag['dag_id']} has no tags"
        assert dag["doc_md"], f"{dag['dag_id']} has no doc_md"
        assert 10 <= len(str(dag["description"])) <= 120, f"{dag['dag_id']} has no short description for the DAG list"
        # a failed run tells the data engineers (once per run: a DAG-level callback)
        assert dag["on_failure_callback"] == ["oversight.dag_support.on_dag_failure"], dag["dag_id"]
        for t in dag["tasks"]:  # type: ignore[attr-defined]
            assert t["owner"] not in (None, "", "airflow"), f"{dag['dag_id']}.{t['task_id']} has no owner"
            assert t["retries"] >= 1, f"{dag['dag_id']}.{t['task_id']} does not retry"
            assert t["execution_timeout"], f"{dag['dag_id']}.{t['task_id']} has no execution_timeout"


def test_dagbag_loads_without_errors(airflow_ready: dict[str, str]) -> None:
    code = (
        "from airflow.dag_processing.dagbag import DagBag; import json, sys;"
        f"b = DagBag(dag_folder={str(ROOT / 'dags')!r});"
        "print(json.dumps({'errors': {k: str(v) for k, v in b.import_errors.items()}, 'ids': sorted(b.dag_ids)}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **airflow_ready}, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert "oversight_ingest" in result["ids"]


def test_a_scheduled_run_covers_the_previous_local_day(airflow_ready: dict[str, str]) -> None:
    """The daily clock's run for business date D is the interval [D 00:05, D+1 00:05) in Asia/Shanghai,
    and the business date it hands the ingest DAG is D: scheduled runs and backfills of the clock land
    each day's extracts on the right date."""
    code = """
import json, sys
import pendulum
from airflow.timetables.base import TimeRestriction
from oversight.dates import run_business_date
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).get_dag("oversight_daily")
start = pendulum.datetime(2026, 11, 2, tz="Asia/Shanghai")
info = dag.timetable.next_dagrun_info(last_automated_data_interval=None,
                                      restriction=TimeRestriction(earliest=start, latest=None, catchup=True))
day = run_business_date(data_interval_start=info.data_interval.start, data_interval_end=info.data_interval.end)
print(json.dumps({"start": info.data_interval.start.isoformat(), "end": info.data_interval.end.isoformat(),
                  "business_date": day.isoformat()}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "dags")],
        capture_output=True,
        text=True,
        env={**os.environ, **airflow_ready},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert dt.datetime.fromisoformat(info["start"]) == dt.datetime(2026, 11, 2, 0, 5, tzinfo=shanghai)
    assert dt.datetime.fromisoformat(info["end"]) == dt.datetime(2026, 11, 3, 0, 5, tzinfo=shanghai)
    assert info["business_date"] == "2026-11-02"


WAREHOUSE_DAG_PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import BaseHook
from airflow.sdk.execution_time.task_runner import _serialize_rendered_fields
from airflow.serialization.serialized_objects import DagSerialization
from oversight.config import pseudonym_key
from oversight.warehouse import dbt

dag = DagBag(dag_folder=sys.argv[1]).get_dag("oversight_warehouse")
key = pseudonym_key()
serialised = json.dumps(DagSerialization.to_dict(dag), default=str)


class TI:  # what the templates pull: the plan task's dates
    def xcom_pull(self, task_ids=None, key=None):
        return {"build_dates": "2026-11-02"}


producer = dag.get_task("warehouse.dbt_producer_watcher")
producer.render_template_fields({"ti": TI()})
rendered = json.dumps(_serialize_rendered_fields(producer))  # what the UI shows (rendered_task_instance_fields)
mapping = producer.profile_config.profile_mapping
conn = BaseHook.get_connection(mapping.conn_id)
print(json.dumps({
    "key_in_serialisation": key in serialised,
    "key_in_rendered_fields": key in rendered,
    "pgoptions_rendered": producer.env["PGOPTIONS"] == dbt.pgoptions(),
    "build_dates": producer.vars["build_dates"],
    "profile": mapping.profile,
    "password_env": sorted(mapping.env_vars),
    "conn": [conn.conn_type, conn.host, conn.port, conn.schema],
    "dbt_tasks": sorted({
        (t.profile_config.profile_mapping.conn_id, repr(t.on_execute_callback))
        for t in dag.tasks if hasattr(t, "profile_config")
    }),
    "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
    "trigger_rules": {t.task_id: str(t.trigger_rule.value) for t in dag.tasks},
}))
"""


@pytest.fixture(scope="module")
def warehouse_dag(airflow_ready: dict[str, str]) -> dict[str, Any]:
    """The warehouse DAG as its tasks see it: connection, rendered fields, graph."""
    out = subprocess.run(
        [sys.executable, "-c", WAREHOUSE_DAG_PROBE, str(ROOT / "dags")],
        capture_output=True,
        text=True,
        env={**os.environ, **airflow_ready},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    info: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return info


def test_the_warehouse_dags_dbt_gets_connection_role_and_key_from_configuration(
    warehouse_dag: dict[str, Any],
) -> None:
    """dbt in the warehouse DAG connects through the Airflow connection `oversight_warehouse`
    (Cosmos profile mapping) as role oversight_transformer; the pseudonymisation key is put in its
    environment when a task runs, from configuration, and is in neither the DAG's serialisation
    nor the rendered fields the UI shows. No task rewrites its process environment."""
    from urllib.parse import urlsplit

    from oversight.db.connection import warehouse_url

    info = warehouse_dag
    assert info["key_in_serialisation"] is False
    assert info["key_in_rendered_fields"] is False
    assert info["pgoptions_rendered"] is True
    assert info["build_dates"] == "2026-11-02"
    url = urlsplit(warehouse_url())
    assert info["conn"] == ["postgres", "127.0.0.1", url.port, url.path.lstrip("/")]  # never a unix socket
    profile = info["profile"]
    assert (profile["type"], profile["host"], profile["port"], profile["dbname"]) == (
        "postgres",
        "127.0.0.1",
        url.port,
        url.path.lstrip("/"),
    )
    assert (profile["role"], profile["schema"]) == ("oversight_transformer", "staging")
    assert "COSMOS_CONN_POSTGRES_PASSWORD" in profile["password"]  # a reference: the value is in the env
    assert info["password_env"] == ["COSMOS_CONN_POSTGRES_PASSWORD"]
    assert info["dbt_tasks"] == [["oversight_warehouse", "[]"]]


def test_the_warehouse_dags_producers_run_before_their_watchers(warehouse_dag: dict[str, Any]) -> None:
    """plan -> warehouse (its producer's `dbt build`, then the per-node watchers) -> alerts (the
    same) -> publish: a group's producer is its only root, every watcher of the group descends
    from it, and nothing of a group starts before the previous one is done."""
    upstream: dict[str, list[str]] = warehouse_dag["upstream"]

    def ancestors(task_id: str) -> set[str]:
        seen: set[str] = set()
        todo = list(upstream[task_id])
        while todo:
            t = todo.pop()
            if t not in seen:
                seen.add(t)
                todo.extend(upstream[t])
        return seen

    groups = {g: {t for t in upstream if t.startswith(f"{g}.")} for g in ("warehouse", "alerts")}
    for group, tasks in groups.items():
        producer = f"{group}.dbt_producer_watcher"
        assert producer in tasks
        roots = {t for t in tasks if not set(upstream[t]) & tasks}
        assert roots == {producer}, group
        assert all(producer in ancestors(t) for t in tasks - {producer}), group
        assert len(tasks) > 5, group  # the per-node watchers are there
    assert set(upstream["warehouse.dbt_producer_watcher"]) == {"plan"}
    assert groups["warehouse"] <= ancestors("alerts.dbt_producer_watcher")
    assert groups["alerts"] | groups["warehouse"] | {"plan"} == ancestors("publish")
    # the gate Cosmos puts after a group's producer stays what Cosmos made it
    assert warehouse_dag["trigger_rules"]["warehouse.dbt_producer_watcher_done"] == "none_failed"
