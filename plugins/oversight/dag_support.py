"""What every DAG file shares: owner, retries, start date, time zone, the failure notice.

DAG files import these at parse time, so nothing here does I/O at import.
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

import pendulum

from oversight.config import TIMEZONE

# apache-airflow-providers-standard's python sensor (behind ``@task.sensor``) imports a helper from
# its deprecated Airflow 2 location; the UserWarning opened every ingest task's log. Silenced by its
# exact text only, so any other warning still shows. (Logged as a UserWarning, raised as a FutureWarning.)
warnings.filterwarnings(
    "ignore",
    message=r"The `airflow\.utils\.operator_helpers\.determine_kwargs` attribute is deprecated",
    category=FutureWarning,  # airflow.utils.deprecation_tools.DeprecatedImportWarning
)

START_DATE = pendulum.datetime(2026, 1, 1, tz=TIMEZONE)
OWNER = "data-platform"


def default_args(**overrides: Any) -> dict[str, Any]:
    """Default task arguments: owner, retries with backoff, and a bound on every task's run time."""
    args: dict[str, Any] = {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=2),
    }
    args.update(overrides)
    return args


def on_dag_failure(context: dict[str, Any]) -> None:
    """DAG-level ``on_failure_callback``: tell the data engineers once per failed run."""
    from oversight.alerts.run_failures import notify_failed_run

    notify_failed_run(context)
