"""Decide what each recipient is owed (plan) and deliver it exactly once (deliver).

Plan: for every alert of ``marts.risk_alerts`` that is open, or resolved without
ever having been notified (a one-day breach must still be heard of), and every
(channel, recipient) its city and severity route to, one ``alerting.notifications``
row per event: ``opened`` the first time, ``escalated`` when its severity rose or
its evidence's ``magnitude`` grew to at least ``magnitude_factor`` times the last
notified one (open alerts only; an acknowledged alert is someone's job already
and is not notified again). The unique key (alert, event, event_key, channel,
recipient) makes planning idempotent.

Deliver: every row not yet sent, grouped into messages: a critical alert's event
alone and at once; the others as one digest per city and business date per
recipient. Each message is sent under a row lock (``for update skip locked``: two
runs never send the same rows), and the outcome (sent or failed, with the error)
is recorded on the rows and in ``alerting.delivery_attempts`` in the same
transaction. A failed row stays due and is retried by the next run (planning
refreshes it with the alert's current figures first); a sent row is never sent
again. (A crash between the server accepting a message and the
commit would send it again on the next run: at-least-once at that one point.)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg

from oversight.alerts import dingtalk, smtp_channel
from oversight.alerts.connections import ChannelNotConfigured, ConnectionGetter, Endpoint, airflow_connection
from oversight.alerts.rendering import AlertView, Message, render_digest, render_immediate
from oversight.alerts.routing import SEVERITY_RANK, Routing
from oversight.db.connection import connect

log = logging.getLogger(__name__)

LOOKBACK_DAYS = 14  # resolved, never-notified alerts older than this are not notified any more


class AlertsNotBuilt(RuntimeError):
    """marts.risk_alerts does not exist yet: the warehouse has not been built."""


@dataclass(frozen=True)
class Alert:
    alert_id: str
    rule_id: str
    severity: str
    city_code: str
    institution_id: str | None
    first_detected_date: dt.date
    last_detected_date: dt.date
    status: str
    evidence: dict[str, Any]

    @property
    def magnitude(self) -> Decimal | None:
        value = self.evidence.get("magnitude")
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return Decimal(str(value))
            except ArithmeticError:
                return None
        return None


@dataclass
class DeliveryReport:
    planned: int = 0
    messages_sent: int = 0
    messages_failed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "messages_sent": self.messages_sent,
            "messages_failed": self.messages_failed,
            "errors": self.errors[:20],
        }


def read_alerts() -> list[Alert]:
    """Every alert of marts.risk_alerts, read as the analyst."""
    with connect("analyst") as conn:
        if conn.execute("select to_regclass('marts.risk_alerts')").fetchone() == (None,):
            raise AlertsNotBuilt("marts.risk_alerts does not exist: build the warehouse first (dbt)")
        rows = conn.execute(
            "select alert_id, rule_id, severity, city_code, institution_id, first_detected_date,"
            " last_detected_date, status, evidence from marts.risk_alerts order by alert_id"
        ).fetchall()
    return [
        Alert(r[0], r[1], r[2], str(r[3]), r[4], r[5], r[6], r[7], r[8] if isinstance(r[8], dict) else {}) for r in rows
    ]


def is_escalation(last_severity: str, last_magnitude: Decimal | None, alert: Alert, factor: float) -> bool:
    """Worse than when last notified: a higher severity, or the magnitude grown by ``factor``."""
    if SEVERITY_RANK.get(alert.severity, 0) > SEVERITY_RANK.get(last_severity, 0):
        return True
    now = alert.magnitude
    if now is None or last_magnitude is None or last_magnitude <= 0:
        return False
    return now >= last_magnitude * Decimal(str(factor))


def plan(alerts: list[Alert], routing: Routing, business_date: dt.date) -> int:
    """Record the events owed to each recipient; returns how many new rows were planned."""
    planned = 0
    oldest = business_date - dt.timedelta(days=LOOKBACK_DAYS)
    with connect("loader") as conn:
        for alert in alerts:
            if alert.status == "acknowledged":
                continue
            if alert.status == "resolved" and alert.last_detected_date < oldest:
                continue
            digest_key = None if alert.severity == "critical" else f"{alert.city_code}/{business_date.isoformat()}"
            for channel, recipient in routing.recipients(alert.city_code, alert.severity).routes():
                last = conn.execute(
                    "select severity, magnitude, status, notification_id from alerting.notifications"
                    " where alert_id = %s and channel = %s and recipient = %s"
                    " order by notification_id desc limit 1",
                    (alert.alert_id, channel, recipient),
                ).fetchone()
                if last is None:
                    event, key = "opened", ""
                elif last[2] != "sent":
                    # still owed (deliver retries it): it will carry the alert's current figures, so
                    # what the recipient finally reads is today's, and is what escalation compares to
                    conn.execute(
                        "update alerting.notifications set severity = %s, magnitude = %s, evidence = %s,"
                        " last_detected_date = %s where notification_id = %s and status <> 'sent'",
                        (
                            alert.severity,
                            alert.magnitude,
                            json.dumps(alert.evidence, ensure_ascii=False, default=str),
                            alert.last_detected_date,
                            last[3],
                        ),
                    )
                    continue
                elif alert.status != "open":
                    continue  # resolved after it was notified: nothing new to say
                elif is_escalation(last[0], last[1], alert, routing.magnitude_factor):
                    event, key = "escalated", f"{alert.severity}:{alert.magnitude}"
                else:
                    continue
                cur = conn.execute(
                    """
                    insert into alerting.notifications (alert_id, event, event_key, channel, recipient, rule_id,
                        severity, city_code, institution_id, first_detected_date, last_detected_date, magnitude,
                        evidence, business_date, digest_key)
                    values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    on conflict (alert_id, event, event_key, channel, recipient) do nothing
                    """,
                    (
                        alert.alert_id,
                        event,
                        key,
                        channel,
                        recipient,
                        alert.rule_id,
                        alert.severity,
                        alert.city_code,
                        alert.institution_id,
                        alert.first_detected_date,
                        alert.last_detected_date,
                        alert.magnitude,
                        json.dumps(alert.evidence, ensure_ascii=False, default=str),
                        business_date,
                        digest_key,
                    ),
                )
                planned += cur.rowcount
        conn.commit()
    return planned


def institution_names(ids: set[str]) -> dict[str, str]:
    """Registered names of institutions (organisations, not people), from the marts when built."""
    if not ids:
        return {}
    with connect("analyst") as conn:
        for relation in ("marts.dim_institutions", "marts.risk_alert_institutions"):
            if conn.execute("select to_regclass(%s)", (relation,)).fetchone() == (None,):
                continue
            rows = conn.execute(
                psycopg.sql.SQL(
                    "select institution_id, institution_name from {} where institution_id = any(%s)"
                ).format(psycopg.sql.Identifier(*relation.split("."))),
                (sorted(ids),),
            ).fetchall()
            return {r[0]: r[1] for r in rows if r[1]}
    return {}


_ROW_COLUMNS = (
    "notification_id, alert_id, event, rule_id, severity, city_code, institution_id,"
    " first_detected_date, last_detected_date, evidence, business_date, digest_key, attempts"
)


def _views(rows: list[tuple[Any, ...]], names: dict[str, str]) -> list[AlertView]:
    return [
        AlertView(
            alert_id=r[1],
            rule_id=r[3],
            severity=r[4],
            city_code=str(r[5]),
            institution_id=r[6],
            institution_name=names.get(r[6]) if r[6] else None,
            first_detected_date=r[7],
            last_detected_date=r[8],
            event=r[2],
            evidence=r[9] if isinstance(r[9], dict) else {},
        )
        for r in rows
    ]


Sender = Callable[[str, str, Message], None]  # (channel, recipient, message)


def channel_sender(routing: Routing, getter: ConnectionGetter = airflow_connection) -> Sender:
    """Send over the real channels, resolving Airflow connections once per run."""
    endpoints: dict[str, Endpoint] = {}

    def endpoint(conn_id: str) -> Endpoint:
        if conn_id not in endpoints:
            endpoints[conn_id] = getter(conn_id)
        return endpoints[conn_id]

    def send(channel: str, recipient: str, message: Message) -> None:
        if channel == "email":
            smtp_channel.send(endpoint(routing.email_conn_id), recipient, message.title, message.text)
        elif channel == "webhook":
            dingtalk.send(endpoint(recipient), message.title, message.markdown)
        else:
            raise ValueError(f"unknown channel {channel!r}")

    return send


def due_messages() -> list[tuple[str, str, str, list[int]]]:
    """(message_key, channel, recipient, notification ids) of everything not yet sent."""
    with connect("loader") as conn:
        rows = conn.execute(
            """
            select case when digest_key is null then 'alert/' || alert_id || '/' || event || '/' || event_key
                        else 'digest/' || digest_key end as message_key,
                   channel, recipient, array_agg(notification_id order by notification_id)
            from alerting.notifications
            where status <> 'sent'
            group by 1, 2, 3
            order by 1, 2, 3
            """
        ).fetchall()
    return [(r[0], r[1], r[2], list(r[3])) for r in rows]


def send_message(message_key: str, channel: str, recipient: str, ids: list[int], send: Sender) -> bool | None:
    """Send one message for the rows ``ids`` still due; True sent, False failed, None nothing due."""
    with connect("loader") as conn:
        rows = conn.execute(
            f"select {_ROW_COLUMNS} from alerting.notifications"
            " where notification_id = any(%s) and status <> 'sent' order by notification_id for update skip locked",
            (ids,),
        ).fetchall()
        if not rows:
            return None
        names = institution_names({r[6] for r in rows if r[6]})
        views = _views(rows, names)
        if rows[0][11] is None:
            message = render_immediate(views[0])
        else:
            city, _, day = str(rows[0][11]).partition("/")
            message = render_digest(city, dt.date.fromisoformat(day), views)
        attempt = max(int(r[12]) for r in rows) + 1
        started = dt.datetime.now(dt.UTC)
        error: str | None = None
        try:
            send(channel, recipient, message)
        except (ChannelNotConfigured, smtp_channel.EmailError, dingtalk.WebhookError) as exc:
            error = str(exc)[:1000]
        status = "failed" if error else "sent"
        row_ids = [r[0] for r in rows]
        conn.execute(
            "update alerting.notifications set status = %s, attempts = attempts + 1, last_error = %s,"
            " last_attempt_at = now(), sent_at = case when %s = 'sent' then now() end"
            " where notification_id = any(%s)",
            (status, error, status, row_ids),
        )
        conn.execute(
            "insert into alerting.delivery_attempts (message_key, channel, recipient, alert_ids, events,"
            " attempt_number, status, error, started_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                message_key,
                channel,
                recipient,
                [r[1] for r in rows],
                [r[2] for r in rows],
                attempt,
                status,
                error,
                started,
            ),
        )
        conn.commit()
    if error:
        log.warning(
            "alert message %s to %s %s failed (attempt %d): %s", message_key, channel, recipient, attempt, error
        )
    return error is None


def deliver(routing: Routing, send: Sender | None = None) -> DeliveryReport:
    """Send every message due; failures are recorded and retried by the next run."""
    sender = send or channel_sender(routing)
    report = DeliveryReport()
    for message_key, channel, recipient, ids in due_messages():
        outcome = send_message(message_key, channel, recipient, ids, sender)
        if outcome is True:
            report.messages_sent += 1
        elif outcome is False:
            report.messages_failed += 1
            report.errors.append(f"{message_key} {channel} {recipient}")
    return report


def record_evaluation(business_date: dt.date, open_alerts: int, planned: int) -> None:
    """The chain finished for ``business_date`` (read by the chain-late watch); the first finish is kept."""
    with connect("loader") as conn:
        conn.execute(
            "insert into alerting.evaluations (business_date, open_alerts, events_planned) values (%s, %s, %s)"
            " on conflict (business_date) do update set open_alerts = excluded.open_alerts,"
            " events_planned = alerting.evaluations.events_planned + excluded.events_planned",
            (business_date, open_alerts, planned),
        )
        conn.commit()
