"""
### Chain-late watch

Every hour, for business date *D* = the day before the run's logical date
(Asia/Shanghai): once `chain.deadline` on D+1 has passed
(`plugins/oversight/reference/alert_routing.yml`), if the daily chain
(`oversight_ingest` → `oversight_warehouse` → `oversight_alerts`) has not
finished for D (no `alerting.evaluations` row), the data engineers
(`chain.recipients`) are told by e-mail and DingTalk robot, once per date and
recipient (`alerting.chain_notices`; a failed notice is retried next hour).
Logic: `oversight.alerts.chain_watch`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task
from airflow.timetables.trigger import CronTriggerTimetable

from oversight.alerts import chain_watch
from oversight.config import TIMEZONE
from oversight.dag_support import START_DATE, default_args, on_dag_failure


@dag(
    dag_id="oversight_chain_watch",
    description="Hourly: tell the data engineers when the daily chain has not finished by its deadline",
    schedule=CronTriggerTimetable("15 * * * *", timezone=TIMEZONE),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["oversight", "alerts", "monitoring"],
    doc_md=__doc__,
    default_args=default_args(retry_delay=timedelta(minutes=5), execution_timeout=timedelta(minutes=15)),
    on_failure_callback=on_dag_failure,
)
def oversight_chain_watch() -> None:
    @task
    def check_chain(logical_date: Any = None) -> dict[str, Any]:
        now = pendulum.instance(logical_date).in_timezone(TIMEZONE)
        return chain_watch.check(now.date() - timedelta(days=1), now)

    check_chain()


oversight_chain_watch()
