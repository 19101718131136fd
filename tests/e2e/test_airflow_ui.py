"""The Airflow UI shows Asia/Shanghai unless the user chose another zone (plugin middleware)."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from typing import Any

import pytest

from oversight.airflow_ui import DefaultTimezoneMiddleware, default_timezone_script


def _call(app: Any, path: str = "/") -> tuple[dict[str, Any], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(DefaultTimezoneMiddleware(app)({"type": "http", "path": path}, receive, send))
    return sent[0], b"".join(m.get("body", b"") for m in sent[1:])


def _app(content_type: bytes, body: bytes, chunks: int = 1) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        size = len(body) // chunks + 1
        parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": i < len(parts) - 1})

    return app


def test_html_gets_the_default_zone_script_before_head_ends() -> None:
    start, body = _call(_app(b"text/html; charset=utf-8", b"<html><head><title>x</title></head><body/></html>", 3))
    script = default_timezone_script()
    assert body == b"<html><head><title>x</title>" + script + b"</head><body/></html>"
    assert dict(start["headers"])[b"content-length"] == str(len(body)).encode()
    # the stored value is what the UI's storage hook parses: a JSON string
    assert b'localStorage.setItem("timezone","\\"Asia/Shanghai\\"")' in script
    assert b'if(!window.localStorage.getItem("timezone"))' in script  # a user's own choice is kept


def test_other_responses_pass_through_untouched() -> None:
    payload = json.dumps({"status": "healthy"}).encode()
    start, body = _call(_app(b"application/json", payload))
    assert body == payload and dict(start["headers"])[b"content-length"] == str(len(payload)).encode()


@pytest.mark.slow
def test_the_real_api_server_serves_the_ui_with_the_default_zone(airflow_ready: dict[str, str]) -> None:
    from oversight.devkit.airflow_services import running
    from oversight.devkit.embedded_pg import free_port

    port = str(free_port())
    previous = os.environ.get("OVERSIGHT_API_PORT")
    os.environ["OVERSIGHT_API_PORT"] = port
    try:
        with running() as services:
            with urllib.request.urlopen(f"{services.base_url}/", timeout=30) as resp:
                html = resp.read()
            with urllib.request.urlopen(f"{services.base_url}/api/v2/monitor/health", timeout=30) as resp:
                health = json.load(resp)
    finally:
        if previous is None:
            os.environ.pop("OVERSIGHT_API_PORT", None)
        else:
            os.environ["OVERSIGHT_API_PORT"] = previous
    assert default_timezone_script() in html and b"</head>" in html
    assert health["scheduler"]["status"] == "healthy"
