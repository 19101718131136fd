"""Task bodies of the ingestion DAG. The DAG file only wires these together,
so each step is unit-testable and ``oversight run`` executes the very same code
through the DAG itself.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from oversight.landing import FileDelivery, LandingError, discover_files, store_payload
from oversight.settings import TIMEZONE, paths
from oversight.warehouse import connect


def business_date_of(interval_start: Any) -> dt.date:
    """The business date a run covers: its data interval's start, in Asia/Shanghai."""
    import pendulum

    day: dt.date = pendulum.instance(interval_start).in_timezone(TIMEZONE).date()
    return day


def landing_root(configured: str | None = None) -> Path:
    root = configured or os.environ.get("OVERSIGHT_LANDING_ROOT") or str(paths().local / "landing")
    return Path(root).resolve()


def discover(root: str | None, business_date: dt.date) -> list[dict[str, Any]]:
    return [d.to_dict() for d in discover_files(landing_root(root), business_date)]


def land(delivery: dict[str, Any]) -> dict[str, Any]:
    """Store one delivery's bytes and record it in the manifest (idempotent)."""
    d = FileDelivery.from_dict(delivery)
    data = Path(d.path).read_bytes()
    stored = store_payload(data)
    status, reason = "landed", None
    if d.marker_sha256 and d.marker_sha256 != stored.sha256:
        status = "rejected"
        reason = (
            f"the .ok marker declares SHA-256 {d.marker_sha256} but the file has {stored.sha256}"
            " (truncated or altered in transit)"
        )
    with connect("loader") as conn:
        row = conn.execute(
            """
            insert into landing.deliveries
                (city_code, kind, business_date, channel, original_name,
                 bytes, sha256, stored_path, status, status_reason)
            values (%s, %s, %s, 'file', %s, %s, %s, %s, %s, %s)
            on conflict (city_code, kind, business_date, sha256) do nothing
            returning delivery_id
            """,
            (
                d.city_code,
                d.kind,
                d.business_date,
                d.original_name,
                stored.bytes,
                stored.sha256,
                str(stored.path),
                status,
                reason,
            ),
        ).fetchone()
        if row is None:
            existing = conn.execute(
                "select delivery_id, status from landing.deliveries"
                " where city_code = %s and kind = %s and business_date = %s and sha256 = %s",
                (d.city_code, d.kind, d.business_date, stored.sha256),
            ).fetchone()
            assert existing is not None
            return {"delivery_id": existing[0], "status": existing[1], "new": False, **delivery}
    return {"delivery_id": row[0], "status": status, "new": True, "reason": reason, **delivery}


def summarize(business_date: dt.date, results: list[dict[str, Any]]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    return {
        "business_date": business_date.isoformat(),
        "deliveries": len(results),
        "new": sum(1 for r in results if r["new"]),
        "by_status": by_status,
    }


__all__ = ["LandingError", "business_date_of", "discover", "land", "landing_root", "summarize"]
