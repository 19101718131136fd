"""E-mail through SMTP, configured by an Airflow connection (default ``oversight_smtp``).

Connection: ``host``, ``port`` (default 25, or 465 with ssl), optional ``login`` /
``password``; extra ``from_email`` (default ``oversight-alerts@<host>``) and
``security``: ``starttls``, ``ssl`` or ``none`` (default ``none``).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from oversight.alerts.connections import Endpoint

TIMEOUT_SECONDS = 15


class EmailError(RuntimeError):
    """The SMTP server did not take the message."""


def build_message(endpoint: Endpoint, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = str(endpoint.extra.get("from_email") or f"oversight-alerts@{endpoint.host}")
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="oversight.local")
    msg.set_content(body, charset="utf-8")
    return msg


def send(endpoint: Endpoint, to: str, subject: str, body: str) -> None:
    """Send one plain-text UTF-8 message to ``to``; raise EmailError when it is not accepted."""
    security = str(endpoint.extra.get("security", "none")).lower()
    if security not in ("none", "starttls", "ssl"):
        raise EmailError(f"connection {endpoint.conn_id!r}: extra.security {security!r} is not none, starttls or ssl")
    port = endpoint.port or (465 if security == "ssl" else 25)
    msg = build_message(endpoint, to, subject, body)
    try:
        smtp: smtplib.SMTP
        if security == "ssl":
            smtp = smtplib.SMTP_SSL(endpoint.host, port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(endpoint.host, port, timeout=TIMEOUT_SECONDS)
        with smtp:
            if security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if endpoint.login:
                smtp.login(endpoint.login, endpoint.password or "")
            refused = smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailError(f"{endpoint.conn_id} {endpoint.host}:{port}: {type(exc).__name__}: {exc}") from exc
    if refused:
        raise EmailError(f"{endpoint.conn_id}: recipient refused: {refused}")
