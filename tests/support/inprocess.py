"""In-process DAG runs (``dag.test()``) for tests of one DAG's task code.

Not the production path: chain tests go through the real scheduler
(``oversight run``). This exercises a single DAG's tasks quickly, with no Asset
triggers, pools, retries or executor.
"""

from __future__ import annotations

from typing import Any


def load_dag(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    from oversight.config import paths

    bag = DagBag(dag_folder=str(paths().dags))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


def forget_previous_run(dag_id: str, logical_date: Any) -> None:
    """An earlier run of the same logical date would otherwise be resumed as it was left."""
    from airflow import settings
    from airflow.models.dagrun import DagRun

    assert settings.Session is not None
    with settings.Session() as session:
        session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date).delete()
        session.commit()
