"""DingTalk custom group robot ("自定义机器人"): markdown messages, signed requests.

The connection's ``host`` is the robot's webhook URL (with its ``access_token``),
its ``password`` the robot's signing secret (``SEC...``). Signing, as DingTalk
documents it: ``sign = urlencode(base64(HMAC-SHA256(key=secret,
msg=f"{timestamp}\\n{secret}")))`` with ``timestamp`` in milliseconds, appended
as query parameters ``timestamp`` and ``sign``. DingTalk answers HTTP 200 with
``{"errcode": 0, "errmsg": "ok"}`` on success; any other errcode is a failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from typing import Any

import requests

from oversight.alerts.connections import Endpoint

TIMEOUT_SECONDS = 10
MAX_TEXT_BYTES = 18_000  # DingTalk refuses markdown beyond about 20,000 bytes


class WebhookError(RuntimeError):
    """The robot did not accept the message."""


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's request signature for ``timestamp_ms`` (already URL-encoded)."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def signed_url(url: str, secret: str | None, timestamp_ms: int | None = None) -> str:
    if not secret:
        return url
    ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    sep = "&" if urllib.parse.urlsplit(url).query else "?"
    return f"{url}{sep}timestamp={ts}&sign={sign(secret, ts)}"


def markdown_payload(title: str, text: str) -> dict[str, Any]:
    body = text.encode()
    if len(body) > MAX_TEXT_BYTES:
        text = body[:MAX_TEXT_BYTES].decode(errors="ignore") + "\n\n……（内容过长，已截断）"
    return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}


def send(endpoint: Endpoint, title: str, text: str) -> None:
    """Post one markdown message to the robot; raise WebhookError unless DingTalk says ok."""
    url = endpoint.host
    if not url.startswith(("http://", "https://")):
        raise WebhookError(f"connection {endpoint.conn_id!r}: host must be the robot's webhook URL")
    try:
        resp = requests.post(
            signed_url(url, endpoint.password),
            json=markdown_payload(title, text),
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        raise WebhookError(f"{endpoint.conn_id}: {type(exc).__name__}: {exc}") from exc
    if resp.status_code != 200:
        raise WebhookError(f"{endpoint.conn_id}: HTTP {resp.status_code}: {resp.text[:200]}")
    try:
        answer = resp.json()
    except ValueError as exc:
        raise WebhookError(f"{endpoint.conn_id}: answer is not JSON: {resp.text[:200]}") from exc
    if not isinstance(answer, dict) or answer.get("errcode") != 0:
        raise WebhookError(f"{endpoint.conn_id}: robot refused the message: {str(answer)[:200]}")
