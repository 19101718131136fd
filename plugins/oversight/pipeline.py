"""Task bodies of the ingestion DAG. The DAG file only wires these together,
so each step is unit-testable and ``oversight run`` executes the very same code
through the DAG itself.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from oversight import gx_project
from oversight.cities import is_known_city
from oversight.contract import CITY_CODE, KINDS
from oversight.http_source import CredentialsRefused, NotReady, fetch_extract, records_to_jsonl
from oversight.landing import (
    FileDelivery,
    discover_files,
    sha256_file,
    store_payload,
    unrecognised_entries,
)
from oversight.loading import publish, record_expectations, reused_movements
from oversight.parsing import RejectedDelivery, read_payload
from oversight.settings import TIMEZONE, paths
from oversight.sources import default_source, load_sources
from oversight.spec import SPECS
from oversight.validation import ValidationResult, validate
from oversight.warehouse import connect


def business_date_of(interval_start: Any) -> dt.date:
    """The business date a run covers: its data interval's start, in Asia/Shanghai."""
    import pendulum

    day: dt.date = pendulum.instance(interval_start).in_timezone(TIMEZONE).date()
    return day


def landing_root(configured: str | None = None) -> Path:
    root = configured or os.environ.get("OVERSIGHT_LANDING_ROOT") or str(paths().local / "landing")
    return Path(root).resolve()


def plan(root: str | None, business_date: dt.date) -> list[dict[str, Any]]:
    """Work items for a business date: every configured source, plus every city
    directory found under the landing root, times the four kinds."""
    root_path = landing_root(root)
    sources = dict(load_sources())
    if root_path.is_dir():
        for entry in sorted(root_path.iterdir()):
            if (
                entry.is_dir()
                and CITY_CODE.match(entry.name)
                and is_known_city(entry.name)
                and entry.name not in sources
            ):
                sources[entry.name] = default_source(entry.name)
    items = []
    for code, src in sorted(sources.items()):
        for kind in KINDS:
            items.append(
                {
                    "city_code": code,
                    "kind": kind,
                    "business_date": business_date.isoformat(),
                    "channel": src.channel,
                    "landing": str(Path(src.landing).resolve()) if src.landing else str(root_path),
                    "base_url": src.base_url,
                    "conn_id": src.conn_id,
                    "deadline": src.deadline.strftime("%H:%M"),
                    "configured": src.configured,
                }
            )
    return items


def deadline_at(item: dict[str, Any]) -> dt.datetime:
    """The city's deadline for the item's business date D: D+1 at HH:MM, Asia/Shanghai."""
    day = dt.date.fromisoformat(item["business_date"]) + dt.timedelta(days=1)
    hours, minutes = map(int, item["deadline"].split(":"))
    return dt.datetime.combine(day, dt.time(hours, minutes), tzinfo=ZoneInfo(TIMEZONE))


def record_expected(items: list[dict[str, Any]]) -> int:
    """Record what was expected of each city (extract_late needs the kinds that never arrived)."""
    rows = [
        (
            item["business_date"],
            item["city_code"],
            item["kind"],
            item["channel"],
            deadline_at(item),
            bool(item["configured"]),
        )
        for item in items
    ]
    with connect("loader") as conn, conn.transaction():
        conn.cursor().executemany(
            "insert into landing.expected_deliveries"
            " (business_date, source_city_code, kind, channel, deadline_at, is_configured)"
            " values (%s, %s, %s, %s, %s, %s)"
            " on conflict (business_date, source_city_code, kind) do update set"
            " channel = excluded.channel, deadline_at = excluded.deadline_at,"
            " is_configured = excluded.is_configured, planned_at = now()",
            rows,
        )
    return len(rows)


def record_unrecognised(root: str | None) -> int:
    """Keep on record whatever lies under the landing root that is not a delivery (never silently ignored)."""
    entries = unrecognised_entries(landing_root(root))
    if entries:
        with connect("loader") as conn, conn.transaction():
            conn.cursor().executemany(
                "insert into landing.unrecognised_files (path, reason) values (%s, %s)"
                " on conflict (path) do update set reason = excluded.reason, last_seen_at = now()",
                entries,
            )
    return len(entries)


def deadline_passed(item: dict[str, Any], now: dt.datetime) -> bool:
    """Whether the city's deadline for this business date (D+1 at HH:MM local) is past."""
    return now >= deadline_at(item)


def _missing(item: dict[str, Any]) -> dict[str, Any]:
    return {**{k: item[k] for k in ("city_code", "kind", "business_date")}, "status": "missing", "new": False}


def poke_file(item: dict[str, Any], *, wait: bool, now: dt.datetime) -> dict[str, Any] | None:
    """Ingest the file-drop delivery of ``item`` if complete; None = not yet, ask again later."""
    day = dt.date.fromisoformat(item["business_date"])
    found = discover_files(Path(item["landing"]), day, cities={item["city_code"]}, kinds={item["kind"]})
    if found:
        return ingest_file(found[0].to_dict())
    if wait and not deadline_passed(item, now):
        return None
    return _missing(item)


def poke_http(item: dict[str, Any], token: str, *, wait: bool, now: dt.datetime) -> dict[str, Any] | None:
    """Pull the HTTP delivery of ``item``; None = not ready yet (404), ask again later."""
    day = dt.date.fromisoformat(item["business_date"])
    try:
        records = fetch_extract(item["base_url"], item["kind"], day, token, city_code=item["city_code"])
    except NotReady:
        if wait and not deadline_passed(item, now):
            return None
        return _missing(item)
    name = f"{item['city_code']}_{item['kind']}_{day:%Y%m%d}.jsonl"
    return ingest_payload(item["city_code"], item["kind"], day, "http", name, records_to_jsonl(records))


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
    items: list[dict[str, Any]],
    business_date: dt.date,
    token_for: Callable[[str], str],
    lookback_days: int = 14,
) -> list[dict[str, Any]]:
    """Ask each HTTP city once more for the extracts of D-14..D-1 it never delivered (a pull that
    found nothing by the deadline is recorded as missing, and the city may publish it later)."""
    http = [i for i in items if i["channel"] == "http"]
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
                    item["base_url"], item["kind"], day, token_for(item["conn_id"]), city_code=item["city_code"]
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
) -> tuple[int, str, bool, str | None]:
    """Store the bytes, then record the delivery; returns (delivery_id, status, is_new, reason).

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
            return row[0], status, True, reason
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
            return delivery_id, "landed", True, None
        return delivery_id, current, False, None


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
        delivery_id, status, is_new, reason = record_delivery(
            conn, city_code, kind, business_date, channel, original_name, data, marker_sha256, delivered_at
        )
        summary: dict[str, Any] = {
            "delivery_id": delivery_id,
            "city_code": city_code,
            "kind": kind,
            "business_date": business_date.isoformat(),
            "original_name": original_name,
            "new": is_new,
        }
        if status != "landed":
            return {**summary, "status": status if is_new else "unchanged", "reason": reason}
        spec = SPECS[kind]
        extension = original_name.rsplit(".", 1)[-1].lower()
        outcome: ValidationResult | RejectedDelivery
        table = None
        try:
            table = read_payload(spec, data, extension)
            # the vectorised engine evaluates exactly what the kind's GX suite declares; GX itself
            # runs the suite on the delivery after the day's loads (audit_with_gx), off this path
            outcome = validate(
                spec,
                table,
                city_code,
                business_date,
                reused_keys=reused_movements(conn, city_code, business_date),
                declared=gx_project.declared_rules(kind),
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
    return {**summary, **result.as_dict()}


def ingest_file(delivery: dict[str, Any]) -> dict[str, Any]:
    """A complete file-drop delivery (see ``landing.discover_files``)."""
    d = FileDelivery.from_dict(delivery)
    data = Path(d.path).read_bytes()
    return ingest_payload(
        d.city_code, d.kind, d.business_date, "file", d.original_name, data, d.marker_sha256, d.delivered_at
    )


def summarize(business_date: dt.date, results: list[dict[str, Any]]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    return {
        "business_date": business_date.isoformat(),
        "deliveries": len(results),
        "new": sum(1 for r in results if r.get("new")),
        "rows_published": sum(r.get("rows_published", 0) for r in results),
        "rows_quarantined": sum(r.get("rows_quarantined", 0) for r in results),
        "by_status": by_status,
    }


def audit_with_gx(business_date: dt.date) -> dict[str, int]:
    """Run GX's checkpoint on every delivery published for the date that has no GX results yet, and
    store them (audit.validation_results) next to the engine's count for each rule. The stored
    payload is read again, so what GX sees is exactly what the city delivered. Idempotent."""
    with connect("loader") as conn:
        todo = conn.execute(
            "select delivery_id, city_code, kind, original_name, stored_path from landing.deliveries d"
            " where business_date = %s and status = 'published' and not exists"
            " (select 1 from audit.validation_results v where v.delivery_id = d.delivery_id)"
            " order by delivery_id",
            (business_date,),
        ).fetchall()
        disagreements = 0
        for delivery_id, city_code, kind, original_name, stored_path in todo:
            spec = SPECS[kind]
            table = read_payload(spec, Path(stored_path).read_bytes(), original_name.rsplit(".", 1)[-1].lower())
            result = validate(
                spec,
                table,
                city_code,
                business_date,
                reused_keys=reused_movements(conn, city_code, business_date),
                declared=gx_project.declared_rules(kind),
            )
            outcomes = gx_project.run_checkpoint(
                result,
                gx_project.parameters(city_code, business_date, result.reused_keys),
                gx_project.run_name(business_date, city_code, kind, delivery_id),
            )
            disagreements += sum(1 for o in outcomes if not o.agrees)
            with conn.transaction():
                record_expectations(conn, delivery_id, gx_project.suite_name(kind), outcomes)
    return {"deliveries": len(todo), "disagreements": disagreements}


def report_quality(business_date: dt.date) -> dict[str, Any]:
    """After a day's ingestion: a rejection report for every city that had rejections, and GX Data Docs
    for the day's validation runs."""
    from oversight.rejections import write_reports_for_date

    audited = audit_with_gx(business_date)
    reports = write_reports_for_date(business_date, paths().reports / "rejections")
    docs = gx_project.build_data_docs(business_date)
    if audited["disagreements"]:
        raise ValidationDisagreement(
            f"{audited['disagreements']} GX expectation(s) of {business_date} counted other rows than the"
            " vectorised engine: see audit.validation_results where not agrees"
        )
    return {**audited, "rejection_reports": [str(p) for p in reports], "data_docs": str(docs)}


class ValidationDisagreement(RuntimeError):
    """GX and the vectorised engine disagree on a delivery: a bug in one of them, never in the data."""


__all__ = [
    "business_date_of",
    "ingest_file",
    "ingest_payload",
    "landing_root",
    "plan",
    "poke_file",
    "poke_http",
    "record_expected",
    "record_unrecognised",
    "report_quality",
    "summarize",
    "sweep",
    "sweep_http",
]
