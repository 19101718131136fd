"""An Airflow plugin: the UI shows Asia/Shanghai time unless the user chose another zone.

Airflow 3's UI keeps the display time zone per browser (localStorage ``timezone``)
and, until the user picks one, uses the browser's own zone: on a UTC laptop or
server every DAG of this project (which all run on Asia/Shanghai business days)
would show UTC. This plugin's root middleware adds one line of script to the
UI's HTML that sets the default to the deployment's time zone when the browser
has none stored; a user's own choice in the UI is kept.

Loaded by Airflow's plugin manager from ``plugins/oversight_airflow_plugin.py`` (the
plugins folder; an entry point would be seen twice where the package is installed
editable, its egg-info lying in the plugins folder).
"""

from __future__ import annotations

import json
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from oversight.config import TIMEZONE

STORAGE_KEY = "timezone"


def default_timezone_script(zone: str = TIMEZONE) -> bytes:
    value = json.dumps(json.dumps(zone))  # the UI stores JSON, so the stored string is a JSON string
    return (
        f"<script>try{{if(!window.localStorage.getItem({json.dumps(STORAGE_KEY)}))"
        f"window.localStorage.setItem({json.dumps(STORAGE_KEY)},{value})}}catch(e){{}}</script>"
    ).encode()


class DefaultTimezoneMiddleware:
    """ASGI middleware: inserts the default-time-zone script into HTML responses, before ``</head>``."""

    def __init__(self, app: Any, zone: str = TIMEZONE) -> None:
        self.app = app
        self.script = default_timezone_script(zone)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers") or []).get(b"content-type", b"")
                if not content_type.startswith(b"text/html"):
                    start["passthrough"] = True
                    await send(message)
                    return
                start.update(message)
                return
            if start.get("passthrough"):
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if b"</head>" in body and self.script not in body:
                body = body.replace(b"</head>", self.script + b"</head>", 1)
            kept = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*kept, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


class OversightUIPlugin(AirflowPlugin):
    name = "oversight_ui"
    fastapi_root_middlewares = [  # noqa: RUF012 - Airflow reads the class attribute
        {"middleware": DefaultTimezoneMiddleware, "args": [], "kwargs": {}, "name": "default time zone Asia/Shanghai"}
    ]
