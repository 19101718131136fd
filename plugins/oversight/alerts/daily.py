"""The alerts DAG's work for its business dates: evaluate (plan events), deliver, record.

Business dates: the run's ``business_date`` param when given; else the dates in
the extras of the Asset events that triggered the run (the warehouse DAG
attaches the dates it built); else (the hourly retry run) the latest business
date the warehouse has evaluated (``intermediate.int_alert_evaluation_dates``,
falling back to the latest date the ingest DAG planned). An Asset-triggered run
has no data interval of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from oversight.alerts import notify
from oversight.alerts.routing import Routing, load_routing
from oversight.dates import NoBusinessDate, dates_from_extras
from oversight.dates import as_date as _as_date
from oversight.db.connection import connect


def evaluated_date() -> dt.date | None:
    """The latest business date the warehouse has evaluated alerts for."""
    with connect("transformer") as conn:
        if conn.execute("select to_regclass('intermediate.int_alert_evaluation_dates')").fetchone() != (None,):
            row = conn.execute("select max(business_date) from intermediate.int_alert_evaluation_dates").fetchone()
            if row and row[0]:
                return _as_date(row[0])
        row = conn.execute("select max(business_date) from landing.expected_deliveries").fetchone()
    return _as_date(row[0]) if row else None


def business_dates(param: Any = None, triggering_extras: Iterable[dict[str, Any]] = ()) -> list[dt.date]:
    """The business dates a run of the alerts DAG is for, oldest first (see the module doc)."""
    given = _as_date(param)
    if given:
        return [given]
    dates = dates_from_extras(triggering_extras)
    if dates:
        return dates
    found = evaluated_date()
    if found is None:
        raise NoBusinessDate("no business date given and the warehouse has evaluated none yet")
    return [found]


def evaluate(day: dt.date, routing: Routing | None = None) -> dict[str, Any]:
    """Plan the events owed for the alerts as of ``day``."""
    cfg = routing or load_routing()
    alerts = notify.read_alerts()
    planned = notify.plan(alerts, cfg, day)
    by_status: dict[str, int] = {}
    for a in alerts:
        by_status[a.status] = by_status.get(a.status, 0) + 1
    return {"business_date": day.isoformat(), "alerts": by_status, "planned": planned}


def deliver_all(evaluations: Iterable[dict[str, Any]], routing: Routing | None = None) -> list[dict[str, Any]]:
    """``deliver`` for each evaluated date, oldest first."""
    cfg = routing or load_routing()
    return [
        deliver(dt.date.fromisoformat(e["business_date"]), int(e["planned"]), cfg)
        for e in sorted(evaluations, key=lambda e: str(e["business_date"]))
    ]


def deliver(day: dt.date, planned: int = 0, routing: Routing | None = None) -> dict[str, Any]:
    """Send everything due, then record that the chain finished for ``day``."""
    cfg = routing or load_routing()
    report = notify.deliver(cfg)
    open_alerts = sum(1 for a in notify.read_alerts() if a.status == "open")
    notify.record_evaluation(day, open_alerts, planned)
    return {"business_date": day.isoformat(), **report.as_dict()}
