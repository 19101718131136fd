"""The alerts DAG's work for one business date: evaluate (plan events), deliver, record.

Business date: the run's ``business_date`` param when given; else the
``business_date`` in the extra of the Asset event that triggered the run (when
the warehouse DAG attaches one); else the latest business date the warehouse
has evaluated (``intermediate.int_alert_evaluation_dates``, falling back to the
latest date the ingest DAG planned). An Asset-triggered run has no meaningful
data interval of its own, and the warehouse is rebuilt as a whole, so "what the
warehouse has just evaluated" is the date the alerts are as of.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from oversight.alerts import notify
from oversight.alerts.routing import Routing, load_routing
from oversight.warehouse import connect


class NoBusinessDate(RuntimeError):
    """Nothing has been evaluated yet, and no business date was given."""


def _as_date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def evaluated_date() -> dt.date | None:
    """The latest business date the warehouse has evaluated alerts for."""
    with connect("transformer") as conn:
        if conn.execute("select to_regclass('intermediate.int_alert_evaluation_dates')").fetchone() != (None,):
            row = conn.execute("select max(business_date) from intermediate.int_alert_evaluation_dates").fetchone()
            if row and row[0]:
                return _as_date(row[0])
        row = conn.execute("select max(business_date) from landing.expected_deliveries").fetchone()
    return _as_date(row[0]) if row else None


def business_date(param: Any = None, triggering_extras: Iterable[dict[str, Any]] = ()) -> dt.date:
    """The business date a run of the alerts DAG is for (see the module doc)."""
    given = _as_date(param)
    if given:
        return given
    dates = [d for d in (_as_date(extra.get("business_date")) for extra in triggering_extras) if d]
    if dates:
        return max(dates)
    found = evaluated_date()
    if found is None:
        raise NoBusinessDate("no business date given and the warehouse has evaluated none yet")
    return found


def evaluate(day: dt.date, routing: Routing | None = None) -> dict[str, Any]:
    """Plan the events owed for the alerts as of ``day``."""
    cfg = routing or load_routing()
    alerts = notify.read_alerts()
    planned = notify.plan(alerts, cfg, day)
    by_status: dict[str, int] = {}
    for a in alerts:
        by_status[a.status] = by_status.get(a.status, 0) + 1
    return {"business_date": day.isoformat(), "alerts": by_status, "planned": planned}


def deliver(day: dt.date, planned: int = 0, routing: Routing | None = None) -> dict[str, Any]:
    """Send everything due, then record that the chain finished for ``day``."""
    cfg = routing or load_routing()
    report = notify.deliver(cfg)
    open_alerts = sum(1 for a in notify.read_alerts() if a.status == "open")
    notify.record_evaluation(day, open_alerts, planned)
    return {"business_date": day.isoformat(), **report.as_dict()}
