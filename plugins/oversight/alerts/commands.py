"""``oversight alerts ack`` and ``oversight alerts list``: the analyst's terminal view.

Alerts are read from ``marts.risk_alerts`` as the analyst role. Acknowledgements
are written to ``alerting.acknowledgements`` (outside dbt: they survive every
rebuild) as the loader role; ``list`` shows an acknowledgement at once, before
the next warehouse build folds it into the mart's status.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from oversight.alerts.notify import Alert, institution_names, read_alerts
from oversight.alerts.rendering import SEVERITY_ZH, STATUS_ZH, city_name, rules
from oversight.alerts.routing import SEVERITIES
from oversight.db.connection import connect
from oversight.reporting.tables import render

STATUSES = ("open", "resolved", "acknowledged")
MIN_PREFIX = 8


class UnknownAlert(LookupError):
    """No alert (or more than one) has the given id."""


@dataclass(frozen=True)
class Acknowledgement:
    alert_id: str
    acknowledged_by: str
    note: str
    acknowledged_at: dt.datetime
    changed: bool


def resolve_id(alert_id: str, alerts: list[Alert]) -> Alert:
    """The alert with this id, or with this unique prefix (at least 8 characters)."""
    wanted = alert_id.strip().lower()
    exact = [a for a in alerts if a.alert_id == wanted]
    if exact:
        return exact[0]
    matches = [a for a in alerts if len(wanted) >= MIN_PREFIX and a.alert_id.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UnknownAlert(f"alert id prefix {alert_id!r} matches {len(matches)} alerts: give more characters")
    raise UnknownAlert(f"unknown alert id {alert_id!r}: not in marts.risk_alerts (see `oversight alerts list`)")


def acknowledge(alert_id: str, by: str, note: str) -> Acknowledgement:
    """Upsert the acknowledgement; the same (by, note) again changes nothing (its time is kept)."""
    if not by.strip():
        raise ValueError("--by must name who acknowledges")
    alert = resolve_id(alert_id, read_alerts())
    with connect("loader") as conn:
        row = conn.execute(
            """
            insert into alerting.acknowledgements (alert_id, acknowledged_by, note)
            values (%s, %s, %s)
            on conflict (alert_id) do update
                set acknowledged_by = excluded.acknowledged_by, note = excluded.note, acknowledged_at = now()
                where (alerting.acknowledgements.acknowledged_by, alerting.acknowledgements.note)
                      is distinct from (excluded.acknowledged_by, excluded.note)
            returning acknowledged_at
            """,
            (alert.alert_id, by.strip(), note),
        ).fetchone()
        changed = row is not None
        if row is None:
            row = conn.execute(
                "select acknowledged_at from alerting.acknowledgements where alert_id = %s", (alert.alert_id,)
            ).fetchone()
        conn.commit()
    assert row is not None
    return Acknowledgement(alert.alert_id, by.strip(), note, row[0], changed)


def acknowledged_ids() -> set[str]:
    with connect("loader") as conn:
        return {r[0] for r in conn.execute("select alert_id from alerting.acknowledgements").fetchall()}


def listing(city: str | None = None, severity: str | None = None, status: str | None = None) -> list[list[str]]:
    """Rows for the table, most severe and most recent first."""
    if severity and severity not in SEVERITIES:
        raise ValueError(f"--severity {severity!r}: one of {', '.join(SEVERITIES)}")
    if status and status not in STATUSES:
        raise ValueError(f"--status {status!r}: one of {', '.join(STATUSES)}")
    acked = acknowledged_ids()
    shown: list[tuple[Alert, str]] = []
    for a in read_alerts():
        current = "acknowledged" if a.status == "open" and a.alert_id in acked else a.status
        if (city and a.city_code != city) or (severity and a.severity != severity) or (status and current != status):
            continue
        shown.append((a, current))
    order = {name: i for i, name in enumerate(SEVERITIES)}
    shown.sort(key=lambda p: (order.get(p[0].severity, 9), -p[0].last_detected_date.toordinal(), p[0].alert_id))
    names = institution_names({a.institution_id for a, _ in shown if a.institution_id})
    catalogue = rules()
    return [
        [
            a.alert_id[:12],
            SEVERITY_ZH.get(a.severity, a.severity),
            STATUS_ZH.get(current, current),
            catalogue[a.rule_id].title_zh if a.rule_id in catalogue else a.rule_id,
            city_name(a.city_code),
            (names.get(a.institution_id) or a.institution_id) if a.institution_id else "（全市）",
            a.first_detected_date.isoformat(),
            a.last_detected_date.isoformat(),
        ]
        for a, current in shown
    ]


HEADERS = ["预警编号", "级别", "状态", "规则", "城市", "机构", "首次发现", "最近发现"]


def format_listing(rows: list[list[str]]) -> str:
    if not rows:
        return "没有符合条件的预警。"
    return render(HEADERS, rows, max_widths=[12, 4, 6, 30, 12, 30, 10, 10]) + f"\n共 {len(rows)} 条"
