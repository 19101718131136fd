"""Task bodies of the ingestion DAG. The DAG file only wires these together,
so each step is unit-testable and ``oversight run`` executes the very same code
through the DAG itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from oversight.contract.spec import SPECS
from oversight.db.connection import connect
from oversight.ingest.http_source import CredentialsRefused, NotReady, fetch_extract, records_to_jsonl
from oversight.ingest.landing import (
    FileDelivery,
    discover_files,
    sha256_file,
    store_payload,
)
from oversight.ingest.parsing import RejectedDelivery, read_payload
from oversight.ingest.plan import KindItem, WorkItem, deadline_passed, kind_items, landing_root
from oversight.ingest.publish import publish, reused_movements
from oversight.ingest.validation import ValidationResult, validate

log = logging.getLogger("oversight.ingest")


def _missing(item: KindItem) -> dict[str, Any]:
    return {
        "city_code": item["city_code"],
        "kind": item["kind"],
        "business_date": item["business_date"],
        "status": "missing",
        "new": False,
    }


def poke_file(item: KindItem, *, wait: bool, now: dt.datetime) -> dict[str, Any] | None:
    """Ingest the file-drop delivery of ``item`` if complete; None = not yet, ask again later."""
    day = dt.date.fromisoformat(item["business_date"])
    found = discover_files(Path(item["landing"]), day, cities={item["city_code"]}, kinds={item["kind"]})
    if found:
        return ingest_file(found[0].to_dict())
    if wait and not deadline_passed(item, now):
        return None
    return _missing(item)


def poke_http(item: KindItem, token: str, *, wait: bool, now: dt.datetime) -> dict[str, Any] | None:
    """Pull the HTTP delivery of ``item``; None = not ready yet (404), ask again later."""
    day = dt.date.fromisoformat(item["business_date"])
    try:
        records = fetch_extract(item["base_url"] or "", item["kind"], day, token, city_code=item["city_code"])
    except NotReady:
        if wait and not deadline_passed(item, now):
            return None
        return _missing(item)
    name = f"{item['city_code']}_{item['kind']}_{day:%Y%m%d}.jsonl"
    return ingest_payload(item["city_code"], item["kind"], day, "http", name, records_to_jsonl(records))


def poke_city(item: WorkItem, *, wait: bool, now: dt.datetime, token: str | None = None) -> list[dict[str, Any]] | None:
    """One poke of a city's work item: ingest each of its kinds that has arrived. None while a kind
    is still awaited before the deadline (the sensor asks again later: what arrived is already
    loaded, and loading it again is an identical re-delivery that changes nothing). Once every kind
    has arrived or the deadline has passed, the results of this poke (absent kinds ``missing``)."""
    results: list[dict[str, Any]] = []
    pulled = _delivered_kinds(item) if item["channel"] == "http" else set()
    for one in kind_items(item):
        if one["kind"] in pulled:  # an HTTP extract pulled at an earlier poke is not pulled again
            results.append({**_missing(one), "status": "delivered"})
            continue
        if item["channel"] == "http":
            result = poke_http(one, token or "", wait=wait, now=now)
        else:
            result = poke_file(one, wait=wait, now=now)
        if result is not None:
            results.append(result)
    if len(results) < len(kind_items(item)):
        return None
    for result in results:
        if result["status"] == "missing":
            log_delivery(result)
    return results


def _delivered_kinds(item: WorkItem) -> set[str]:
    with connect("loader") as conn:
        rows = conn.execute(
            "select distinct kind from landing.deliveries where city_code = %s and business_date = %s",
            (item["city_code"], dt.date.fromisoformat(item["business_date"])),
        ).fetchall()
    return {r[0] for r in rows}


def city_outcome(item: WorkItem) -> dict[str, Any]:
    """What a city delivered for the item's date, per kind, as the warehouse records it (whatever
    poke loaded it): the live delivery's status and rows, or ``missing``."""
    day = dt.date.fromisoformat(item["business_date"])
    with connect("loader") as conn:
        rows = conn.execute(
            "select distinct on (d.kind) d.kind, d.status, d.original_name, left(d.sha256, 12), d.status_reason,"
            " l.rows_delivered, l.rows_published, l.rows_quarantined"
            " from landing.deliveries d left join audit.loads l using (delivery_id)"
            " where d.city_code = %s and d.business_date = %s and d.status <> 'superseded'"
            " order by d.kind, d.delivered_at desc, d.delivery_id desc",
            (item["city_code"], day),
        ).fetchall()
    found = {r[0]: r for r in rows}
    kinds: dict[str, dict[str, Any]] = {}
    for kind in item["kinds"]:
        row = found.get(kind)
        if row is None:
            kinds[kind] = {"status": "missing"}
        else:
            kinds[kind] = {
                "status": row[1],
                "file": row[2],
                "sha256": row[3],
                "reason": row[4],
                "rows_delivered": row[5] or 0,
                "rows_published": row[6] or 0,
                "rows_quarantined": row[7] or 0,
            }
    return {"city_code": item["city_code"], "business_date": item["business_date"], "kinds": kinds}


def city_label(outcome: dict[str, Any]) -> str:
    """A city's map index in the Airflow grid: its code and what its deliveries came to, with
    rejections first, so that a rejected delivery never looks like a plain success."""
    counts: dict[str, int] = {}
    for one in outcome["kinds"].values():
        counts[one["status"]] = counts.get(one["status"], 0) + 1
    order = ("rejected", "missing", "landed", "published")
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    flag = "✗ " if counts.get("rejected") else ("? " if counts.get("missing") else "")
    return f"{outcome['city_code']} {flag}{', '.join(parts)}".strip()


def log_delivery(result: dict[str, Any]) -> None:
    """One log line per delivery: city, kind, file, sha256 prefix, rows, and the reason when rejected."""
    status = result.get("status", "?")
    r = result
    reason = f" reason={r['reason']}" if r.get("reason") else ""
    line = (
        f"delivery {r.get('city_code')}/{r.get('kind')} {status.upper()} date={r.get('business_date')}"
        f" file={r.get('original_name', '-')} sha256={(r.get('sha256') or '-')[:12]}"
        f" rows={r.get('rows_delivered', 0)} published={r.get('rows_published', 0)}"
        f" quarantined={r.get('rows_quarantined', 0)}{reason}"
    )
    log.log(logging.WARNING if status in ("rejected", "missing") else logging.INFO, line)


def sweep(root: str | None, business_date: dt.date, lookback_days: int = 14) -> list[dict[str, Any]]:
    """Late, out-of-order or corrected file deliveries for the days before ``business_date``."""
    root_path = landing_root(root)
    first = business_date - dt.timedelta(days=lookback_days)
    with connect("loader") as conn:
        live = set(
            conn.execute(
                "select city_code, kind, business_date, sha256 from landing.deliveries"
                " where business_date >= %s and business_date < %s and status <> 'superseded'",
                (first, business_date),
            ).fetchall()
        )
    results = []
    for back in range(1, lookback_days + 1):
        day = business_date - dt.timedelta(days=back)
        for found in discover_files(root_path, day):
            if (found.city_code, found.kind, day, sha256_file(Path(found.path))) not in live:
                results.append(ingest_file(found.to_dict()))
    return results


def sweep_http(
    items: list[WorkItem],
    business_date: dt.date,
    token_for: Callable[[str], str],
    lookback_days: int = 14,
) -> list[dict[str, Any]]:
    """Ask each HTTP city once more for the extracts of D-14..D-1 it never delivered (a pull that
    found nothing by the deadline is recorded as missing, and the city may publish it later)."""
    http = [one for i in items if i["channel"] == "http" for one in kind_items(i)]
    if not http:
        return []
    first = business_date - dt.timedelta(days=lookback_days)
    with connect("loader") as conn:
        have = set(
            conn.execute(
                "select city_code, kind, business_date from landing.deliveries"
                " where business_date >= %s and business_date < %s",
                (first, business_date),
            ).fetchall()
        )
    results = []
    for item in http:
        for back in range(1, lookback_days + 1):
            day = business_date - dt.timedelta(days=back)
            if (item["city_code"], item["kind"], day) in have:
                continue
            try:
                records = fetch_extract(
                    item["base_url"] or "",
                    item["kind"],
                    day,
                    token_for(item["conn_id"] or ""),
                    city_code=item["city_code"],
                )
            except NotReady:
                continue
            except CredentialsRefused:
                break  # the day's own pull fails loudly on this; the sweep does not repeat it 14 times
            name = f"{item['city_code']}_{item['kind']}_{day:%Y%m%d}.jsonl"
            results.append(
                ingest_payload(item["city_code"], item["kind"], day, "http", name, records_to_jsonl(records))
            )
    return results


def record_delivery(
    conn: psycopg.Connection,
    city_code: str,
    kind: str,
    business_date: dt.date,
    channel: str,
    original_name: str,
    data: bytes,
    marker_sha256: str | None = None,
    delivered_at: dt.datetime | None = None,
) -> tuple[int, str, bool, str | None, str]:
    """Store the bytes, then record the delivery; returns (delivery_id, status, is_new, reason, sha256).

    Bytes are stored before anything is parsed, so nothing delivered is lost. An
    identical re-delivery of the live content changes nothing; a re-delivery of
    content that was since replaced becomes the latest delivery again.
    """
    stored = store_payload(data)
    status, reason = "landed", None
    if marker_sha256 and marker_sha256 != stored.sha256:
        status = "rejected"
        reason = (
            f"checksum: the .ok marker declares SHA-256 {marker_sha256} but the file has {stored.sha256}"
            " (truncated or altered in transit)"
        )
    with conn.transaction():
        row = conn.execute(
            """
            insert into landing.deliveries
                (city_code, kind, business_date, channel, original_name,
                 bytes, sha256, stored_path, status, status_reason, delivered_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now()))
            on conflict (city_code, kind, business_date, sha256) do nothing
            returning delivery_id
            """,
            (
                city_code,
                kind,
                business_date,
                channel,
                original_name,
                stored.bytes,
                stored.sha256,
                str(stored.path),
                status,
                reason,
                delivered_at,
            ),
        ).fetchone()
        if row is not None:
            return row[0], status, True, reason, stored.sha256
        existing = conn.execute(
            "select delivery_id, status from landing.deliveries"
            " where city_code = %s and kind = %s and business_date = %s and sha256 = %s for update",
            (city_code, kind, business_date, stored.sha256),
        ).fetchone()
        assert existing is not None
        delivery_id, current = existing
        if current == "superseded":
            conn.execute(
                "update landing.deliveries set status = 'landed', received_at = now(), status_reason = null,"
                " original_name = %s, channel = %s, delivered_at = coalesce(%s, now()) where delivery_id = %s",
                (original_name, channel, delivered_at, delivery_id),
            )
            return delivery_id, "landed", True, None, stored.sha256
        return delivery_id, current, False, None, stored.sha256


def ingest_payload(
    city_code: str,
    kind: str,
    business_date: dt.date,
    channel: str,
    original_name: str,
    data: bytes,
    marker_sha256: str | None = None,
    delivered_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Land, validate and publish one delivery (write-audit-publish); idempotent."""
    started = time.monotonic()
    with connect("loader") as conn:
        delivery_id, status, is_new, reason, sha256 = record_delivery(
            conn, city_code, kind, business_date, channel, original_name, data, marker_sha256, delivered_at
        )
        summary: dict[str, Any] = {
            "delivery_id": delivery_id,
            "city_code": city_code,
            "kind": kind,
            "business_date": business_date.isoformat(),
            "original_name": original_name,
            "sha256": sha256,
            "new": is_new,
        }
        if status != "landed":
            done = {**summary, "status": status if is_new else "unchanged", "reason": reason}
            log_delivery(done)
            return done
        spec = SPECS[kind]
        extension = original_name.rsplit(".", 1)[-1].lower()
        outcome: ValidationResult | RejectedDelivery
        table = None
        try:
            table = read_payload(spec, data, extension)
            # the vectorised engine evaluates the kind's rules (oversight.contract.rules); GX runs the
            # suite generated from the same rules on the delivery after the day's loads
            # (oversight.quality.audit), off this path
            outcome = validate(
                spec,
                table,
                city_code,
                business_date,
                reused_keys=reused_movements(conn, city_code, business_date),
            )
        except RejectedDelivery as rejected:
            outcome = rejected
        conn.commit()
        result = publish(
            conn,
            delivery_id,
            outcome,
            source_encoding=table.encoding if table else None,
            source_format=table.source_format if table else extension,
            extra_columns=table.extra_columns if table else None,
            started=started,
        )
    done = {**summary, **result.as_dict()}
    log_delivery(done)
    return done


def ingest_file(delivery: dict[str, Any]) -> dict[str, Any]:
    """A complete file-drop delivery (see ``landing.discover_files``)."""
    d = FileDelivery.from_dict(delivery)
    data = Path(d.path).read_bytes()
    return ingest_payload(
        d.city_code, d.kind, d.business_date, "file", d.original_name, data, d.marker_sha256, d.delivered_at
    )


def summarize(business_date: dt.date, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The day's ingestion in figures, and the business dates it published deliveries for (the
    day itself, and any earlier day a late or corrected delivery changed): the warehouse builds them."""
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    changed = {business_date} | {
        dt.date.fromisoformat(r["business_date"]) for r in results if r.get("new") and r.get("business_date")
    }
    return {
        "business_date": business_date.isoformat(),
        "business_dates": sorted(d.isoformat() for d in changed),
        "deliveries": len(results),
        "new": sum(1 for r in results if r.get("new")),
        "rows_published": sum(r.get("rows_published", 0) for r in results),
        "rows_quarantined": sum(r.get("rows_quarantined", 0) for r in results),
        "by_status": by_status,
    }


__all__ = [
    "city_label",
    "city_outcome",
    "ingest_file",
    "ingest_payload",
    "poke_city",
    "poke_file",
    "poke_http",
    "summarize",
    "sweep",
    "sweep_http",
]
