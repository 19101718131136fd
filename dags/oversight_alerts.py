"""
### Risk alerts: evaluate and deliver

Scheduled on the `marts.risk_alerts` Asset, which the warehouse DAG emits after
each build, and hourly (at :30) so that a delivery that failed (mail server or
robot down) is retried within the hour rather than at the next day's build.

1. `evaluate`: for the business date (the `business_date` param; else the
   triggering Asset event's `business_date` extra; else the latest date the
   warehouse evaluated), read `marts.risk_alerts` and record in
   `alerting.notifications` what each recipient is owed: new alerts (`opened`)
   and alerts that got worse since last notified (`escalated`), routed by city
   and severity (`plugins/oversight/reference/alert_routing.yml`).
2. `deliver`: send everything due: critical alerts one message each at once,
   the rest as one digest per city and business date, by e-mail (SMTP,
   connection `oversight_smtp`) and DingTalk group robots (signed webhooks).
   Every attempt is logged in `alerting.delivery_attempts`; what was sent is
   never sent again, what failed stays due for the next run. Then records the
   date in `alerting.evaluations` (the chain-late watch reads it).

No personal data in any message. Logic: `oversight.alerts`.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from oversight.alerts import daily, notify
from oversight.assets import RISK_ALERTS_ASSET

DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
}


@dag(
    dag_id="oversight_alerts",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("30 * * * *", timezone="Asia/Shanghai"), assets=[RISK_ALERTS_ASSET]
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["oversight", "alerts"],
    doc_md=__doc__,
    default_args=DEFAULT_ARGS,
    params={
        "business_date": Param(None, type=["null", "string"], description="YYYY-MM-DD (default: derived)"),
    },
)
def oversight_alerts() -> None:
    @task
    def evaluate(params: dict[str, Any], triggering_asset_events: Any = None) -> dict[str, Any]:
        extras: list[dict[str, Any]] = []
        if triggering_asset_events:
            for events in triggering_asset_events.values():
                extras += [dict(e.extra or {}) for e in events]
        try:
            day = daily.business_date(params.get("business_date"), extras)
            return daily.evaluate(day)
        except (daily.NoBusinessDate, notify.AlertsNotBuilt) as exc:
            raise AirflowSkipException(str(exc)) from exc  # nothing to alert on yet: skipped, not failed

    @task
    def deliver(evaluation: dict[str, Any]) -> dict[str, Any]:
        return daily.deliver(dt.date.fromisoformat(evaluation["business_date"]), int(evaluation["planned"]))

    deliver(evaluate())


oversight_alerts()
