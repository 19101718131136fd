"""A local outbox for the demo: a real SMTP server and a DingTalk-style robot on
loopback that keep what they receive as files, so ``make demo`` delivers its
alerts through the real channels without reaching any outside address.

The robot checks DingTalk's request signature like the real one, and refuses a
request whose signature is wrong. ``environment()`` gives the Airflow
connections (``AIRFLOW_CONN_*``) that point the routing's email connection and
every robot it names at this outbox.
"""

from __future__ import annotations

import email.policy
import hashlib
import hmac
import json
import secrets
import socket
import threading
import urllib.parse
from base64 import b64encode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from oversight.alerts.routing import Routing, load_routing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _signature_ok(query: dict[str, list[str]], secret: str) -> bool:
    try:
        timestamp, sign = query["timestamp"][0], query["sign"][0]
    except (KeyError, IndexError):
        return False
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(b64encode(digest).decode(), sign)


class LocalOutbox:
    """SMTP on one loopback port, the robot on another; messages land under ``folder``."""

    def __init__(self, folder: Path, routing: Routing | None = None) -> None:
        self.folder = folder
        self.routing = routing or load_routing()
        self.secret = "SEC" + secrets.token_hex(16)
        self.smtp_port = _free_port()
        self.robot_port = _free_port()
        self.mails = 0
        self.robot_messages = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._controller: Any = None
        self._http: ThreadingHTTPServer | None = None

    def _keep(self, sub: str, suffix: str, data: bytes) -> None:
        with self._lock:
            target = self.folder / sub
            target.mkdir(parents=True, exist_ok=True)
            n = len(list(target.iterdir())) + 1
            (target / f"{n:05d}{suffix}").write_bytes(data)

    def start(self) -> LocalOutbox:
        from aiosmtpd.controller import Controller

        outbox = self

        class Mailbox:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outbox._keep("mail", ".eml", envelope.original_content)
                outbox.mails += 1
                return "250 OK"

        class Robot(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                if _signature_ok(query, outbox.secret):
                    outbox._keep("dingtalk", ".json", body)
                    outbox.robot_messages += 1
                    answer = {"errcode": 0, "errmsg": "ok"}
                else:
                    outbox.refused += 1
                    answer = {"errcode": 310000, "errmsg": "sign not match"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._controller = Controller(Mailbox(), hostname="127.0.0.1", port=self.smtp_port)
        self._controller.start()
        self._http = ThreadingHTTPServer(("127.0.0.1", self.robot_port), Robot)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> LocalOutbox:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def webhook_conn_ids(self) -> list[str]:
        r = self.routing
        groups = [r.chain_recipients, *r.defaults.values()] + [
            rec for by_severity in r.cities.values() for rec in by_severity.values()
        ]
        return sorted({w for g in groups for w in g.webhooks})

    def environment(self) -> dict[str, str]:
        """Airflow connections (as environment variables) that point every channel here."""
        env = {
            f"AIRFLOW_CONN_{self.routing.email_conn_id.upper()}": json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": self.smtp_port,
                    "extra": {"from_email": "oversight-demo@localhost", "security": "none"},
                }
            )
        }
        for conn_id in self.webhook_conn_ids():
            token = urllib.parse.quote(conn_id)
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
                {
                    "conn_type": "http",
                    "host": f"http://127.0.0.1:{self.robot_port}/robot/send?access_token={token}",
                    "password": self.secret,
                }
            )
        return env

    def subjects(self) -> list[str]:
        """Subjects of the mails received, decoded (for the report)."""
        out = []
        for path in sorted((self.folder / "mail").glob("*.eml")):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            out.append(str(msg["Subject"]))
        return out
