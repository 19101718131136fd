"""``oversight serve-city``: a simulated city platform serving deliveries over HTTP.

Serves the file-drop deliveries of one or more cities (the simulator's output)
through the contract's API (section 1b), with injectable faults so the real
client can be tested against a real server on loopback: a number of 404s
before an extract becomes ready, 429 with Retry-After, 5xx, refused tokens.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from oversight.contract.files import EXTENSIONS, KINDS
from oversight.contract.spec import SPECS
from oversight.ingest.parsing import RejectedDelivery, read_payload


@dataclass
class Fault:
    """Answer ``status`` to the next ``times`` requests matching kind (and date, if set)."""

    kind: str | None
    status: int
    times: int
    date: str | None = None
    retry_after: int | None = None


@dataclass
class CityPlatform:
    landing: Path
    city_code: str
    token: str
    faults: list[Fault] = field(default_factory=list)
    requests_seen: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict[tuple[str, str], list[dict[str, str | None]]] = field(default_factory=dict)

    def records(self, kind: str, day: str) -> list[dict[str, str | None]] | None:
        key = (kind, day)
        if key not in self._cache:
            stamp = day.replace("-", "")
            folder = self.landing / self.city_code / kind
            for ext in EXTENSIONS:
                path = folder / f"{self.city_code}_{kind}_{stamp}.{ext}"
                if path.exists() and path.with_name(path.name + ".ok").exists():
                    try:
                        table = read_payload(SPECS[kind], path.read_bytes(), ext)
                    except RejectedDelivery:
                        return None
                    headers = [table.delivered_headers.get(n, n) for n in table.columns]
                    columns = [table.data[n].to_pylist() for n in table.columns]
                    self._cache[key] = [
                        {h: v for h, v in zip(headers, row, strict=True) if v not in (None, "")}
                        for row in zip(*columns, strict=True)
                    ]
                    break
            else:
                return None
        return self._cache[key]

    def fault_for(self, kind: str, day: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.kind in (None, kind) and fault.date in (None, day):
                    fault.times -= 1
                    return fault
        return None


def make_handler(platforms: dict[str, CityPlatform]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body or {}, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            segments = parts.path.strip("/").split("/")
            # /<city>/api/v1/extracts/<kind>
            if len(segments) != 5 or segments[1:4] != ["api", "v1", "extracts"] or segments[0] not in platforms:
                self._send(400, {"error": "unknown path"})
                return
            platform = platforms[segments[0]]
            kind = segments[4]
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            platform.requests_seen.append({"kind": kind, **query})
            auth = self.headers.get("Authorization", "")
            if not hmac.compare_digest(auth, f"Bearer {platform.token}"):
                self._send(401, {"error": "bad credentials"})
                return
            if kind not in KINDS:
                self._send(400, {"error": f"unknown kind {kind}"})
                return
            try:
                day = dt.date.fromisoformat(query["date"]).isoformat()
                page = int(query.get("page", "1"))
                size = max(1, min(int(query.get("page_size", "1000")), 50_000))
            except (KeyError, ValueError):
                self._send(400, {"error": "date=YYYY-MM-DD, page and page_size are required"})
                return
            fault = platform.fault_for(kind, day)
            if fault is not None:
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
                self._send(fault.status, {"error": "injected fault"}, headers)
                return
            records = platform.records(kind, day)
            if records is None:
                self._send(404, {"error": "not ready"})
                return
            total = max(1, -(-len(records) // size))
            chunk = records[(page - 1) * size : page * size]
            self._send(
                200,
                {
                    "city_code": platform.city_code,
                    "kind": kind,
                    "date": day,
                    "page": page,
                    "total_pages": total,
                    "records": chunk,
                },
            )

    return Handler


class CityServer:
    """Serve ``platforms`` on 127.0.0.1; base URL of a city: ``{url}/{city_code}``."""

    def __init__(self, platforms: list[CityPlatform], port: int = 0) -> None:
        self.platforms = {p.city_code: p for p in platforms}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), make_handler(self.platforms))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def base_url(self, city_code: str) -> str:
        return f"{self.url}/{city_code}"

    def start(self) -> CityServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def parse_fault(text: str) -> Fault:
    """``status=500,times=2[,kind=refunds][,date=YYYY-MM-DD][,retry_after=3]``"""
    fields: dict[str, str] = defaultdict(str)
    for part in text.split(","):
        key, _, value = part.partition("=")
        fields[key.strip()] = value.strip()
    return Fault(
        kind=fields["kind"] or None,
        status=int(fields["status"]),
        times=int(fields["times"] or 1),
        date=fields["date"] or None,
        retry_after=int(fields["retry_after"]) if fields["retry_after"] else None,
    )
