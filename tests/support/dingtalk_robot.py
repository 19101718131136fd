"""A DingTalk custom robot stand-in on loopback, and its signature check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from oversight.devkit.embedded_pg import free_port

SECRET = "SEC0123456789abcdef0123456789abcdef"


class Robot:
    """A DingTalk custom robot stand-in on a fixed loopback port: records requests, answers errcode 0."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urllib.parse.urlsplit(self.path)
                outer.requests.append(
                    {"path": parts.path, "query": urllib.parse.parse_qs(parts.query), "json": json.loads(body)}
                )
                answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def valid_signature(query: dict[str, list[str]], secret: str = SECRET) -> bool:
    ts = query["timestamp"][0]
    expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()
    # parse_qs already URL-decoded the sign parameter
    return hmac.compare_digest(query["sign"][0], expected)
