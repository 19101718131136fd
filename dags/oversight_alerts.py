"""
### Risk alerts: evaluate and deliver

Scheduled on the `marts.risk_alerts` Asset, which the warehouse DAG emits after
each build, and hourly (at :30) so that a delivery that failed (mail server or
robot down) is retried within the hour rather than at the next day's build.

1. `evaluate`: for each business date the run is about, oldest first (the
   `business_date` param; else the dates in the extras of the Asset events that
   triggered it, as the warehouse built them; else, on the hourly retry run, the
   latest date the warehouse evaluated), read `marts.risk_alerts` and record in
   `alerting.notifications` what each recipient is owed: new alerts (`opened`)
   and alerts that got worse since last notified (`escalated`), routed by city
   and severity (`plugins/oversight/reference/alert_routing.yml`).
2. `deliver`: send everything due: critical alerts one message each at once,
   the rest as one digest per city and business date, by e-mail (SMTP,
   connection `oversight_smtp`) and DingTalk group robots (signed webhooks).
   Every attempt is logged in `alerting.delivery_attempts`; what was sent is
   never sent again, what failed stays due for the next run. Then records the
   dates in `alerting.evaluations` (the chain-late watch reads it).

No personal data in any message. Logic: `oversight.alerts`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from oversight.alerts import daily, notify
from oversight.assets import RISK_ALERTS_ASSET
from oversight.config import TIMEZONE
from oversight.dag_support import START_DATE, default_args, on_dag_failure
from oversight.dates import event_extras


@dag(
    dag_id="oversight_alerts",
    description="Evaluate risk alerts and deliver them by e-mail and group robots",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("30 * * * *", timezone=TIMEZONE), assets=[RISK_ALERTS_ASSET]
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["oversight", "alerts"],
    doc_md=__doc__,
    default_args=default_args(),
    on_failure_callback=on_dag_failure,
    params={
        "business_date": Param(None, type=["null", "string"], description="YYYY-MM-DD (default: derived)"),
    },
)
def oversight_alerts() -> None:
    @task
    def evaluate(params: dict[str, Any], triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        try:
            days = daily.business_dates(params.get("business_date"), event_extras(triggering_asset_events))
            return [daily.evaluate(day) for day in days]
        except (daily.NoBusinessDate, notify.AlertsNotBuilt) as exc:
            raise AirflowSkipException(str(exc)) from exc  # nothing to alert on yet: skipped, not failed

    @task
    def deliver(evaluations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return daily.deliver_all(evaluations)

    deliver(evaluate())


oversight_alerts()
