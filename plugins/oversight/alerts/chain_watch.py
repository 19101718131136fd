"""Tell the data engineers when the daily chain has not finished by its set time.

The chain for business date D (ingest, warehouse, alerts) has finished when the
alerts DAG recorded D in ``alerting.evaluations``. From ``chain.deadline`` on D+1
(Asia/Shanghai, routing configuration) the hourly watch DAG checks; if D is still
missing, each
of ``chain.recipients`` gets one notice through the same channels as alerts.
``alerting.chain_notices`` keeps it to one notice per date and recipient, and
keeps a failed notice due until it is delivered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from oversight.alerts import dingtalk, smtp_channel
from oversight.alerts.connections import ChannelNotConfigured
from oversight.alerts.notify import Sender, channel_sender
from oversight.alerts.rendering import Message, render_chain_late
from oversight.alerts.routing import Routing, load_routing
from oversight.config import TIMEZONE
from oversight.db.connection import connect


def deadline_of(business_date: dt.date, routing: Routing) -> dt.datetime:
    return dt.datetime.combine(business_date + dt.timedelta(days=1), routing.chain_deadline, tzinfo=ZoneInfo(TIMEZONE))


def stages(business_date: dt.date) -> dict[str, str]:
    """What each stage of the chain got done for the date (figures only)."""
    with connect("loader") as conn:
        row = conn.execute(
            "select (select count(*) from landing.expected_deliveries where business_date = %s and is_configured),"
            " (select count(distinct (city_code, kind)) from landing.deliveries where business_date = %s),"
            " (select max(business_date) from alerting.evaluations)",
            (business_date, business_date),
        ).fetchone()
    assert row is not None
    expected, delivered, last = row
    return {
        "接收（oversight_ingest）": f"应报 {expected} 项，已收到 {delivered} 项",
        "告警（oversight_alerts）": f"未完成；最近完成的业务日期 {last or '无'}",
    }


def check(
    business_date: dt.date, now: dt.datetime, routing: Routing | None = None, send: Sender | None = None
) -> dict[str, Any]:
    """Notify (once) if the chain for ``business_date`` had not finished by its deadline."""
    cfg = routing or load_routing()
    deadline = deadline_of(business_date, cfg)
    result: dict[str, Any] = {"business_date": business_date.isoformat(), "deadline": deadline.isoformat()}
    if now < deadline:
        return {**result, "state": "not due"}
    with connect("loader") as conn:
        done = conn.execute(
            "select evaluated_at from alerting.evaluations where business_date = %s", (business_date,)
        ).fetchone()
    if done:
        return {**result, "state": "finished"}
    detail = stages(business_date)
    sender = send or channel_sender(cfg)
    message = render_chain_late(business_date, deadline, detail)
    sent = failed = 0
    with connect("loader") as conn:
        for channel, recipient in cfg.chain_recipients.routes():
            conn.execute(
                "insert into alerting.chain_notices (business_date, channel, recipient, detail)"
                " values (%s, %s, %s, %s::jsonb) on conflict do nothing",
                (business_date, channel, recipient, _json(detail)),
            )
        conn.commit()
        due = conn.execute(
            "select channel, recipient, attempts from alerting.chain_notices"
            " where business_date = %s and status <> 'sent' order by 1, 2 for update skip locked",
            (business_date,),
        ).fetchall()
        for channel, recipient, attempts in due:
            key = f"chain_late/{business_date.isoformat()}"
            error = send_logged(conn, sender, key, channel, recipient, attempts + 1, message)
            status = "failed" if error else "sent"
            conn.execute(
                "update alerting.chain_notices set status = %s, attempts = attempts + 1, last_error = %s,"
                " sent_at = case when %s = 'sent' then now() end"
                " where business_date = %s and channel = %s and recipient = %s",
                (status, error, status, business_date, channel, recipient),
            )
            sent, failed = sent + (error is None), failed + (error is not None)
        conn.commit()
    return {**result, "state": "late", "notices_sent": sent, "notices_failed": failed}


def send_logged(
    conn: psycopg.Connection[Any] | None,
    send: Sender,
    message_key: str,
    channel: str,
    recipient: str,
    attempt: int,
    message: Message,
) -> str | None:
    """Send one notice to one recipient and log the attempt in ``alerting.delivery_attempts`` (with ``conn``).

    None when it was delivered, else the channel's error: a channel that is down or not
    configured never raises here. The caller records the outcome on its notice and commits.
    """
    error: str | None = None
    try:
        send(channel, recipient, message)
    except (ChannelNotConfigured, smtp_channel.EmailError, dingtalk.WebhookError) as exc:
        error = str(exc)[:1000]
    if conn is not None:
        conn.execute(
            "insert into alerting.delivery_attempts"
            " (message_key, channel, recipient, attempt_number, status, error) values (%s, %s, %s, %s, %s, %s)",
            (message_key, channel, recipient, attempt, "failed" if error else "sent", error),
        )
    return error


def _json(value: dict[str, str]) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
