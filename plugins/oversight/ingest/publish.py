"""Publish a validated delivery: raw rows, quarantined rows and the audit, in one transaction.

Write-audit-publish: the payload is already stored (landing) and validated in
memory; here, under a per-(city, kind, date) advisory lock, the delivery either
becomes the live one for its (city, kind, business date), replacing its
predecessor's rows, or nothing changes. A crash anywhere rolls everything back
and leaves the delivery ``landed``, so a re-run completes it exactly once.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from oversight.ingest.parsing import RejectedDelivery
from oversight.ingest.validation import ValidationResult

META_COLUMNS = ("delivery_id", "source_city_code", "business_date", "row_number")


@dataclass(frozen=True)
class PublishOutcome:
    delivery_id: int
    status: str  # published | rejected | superseded | unchanged
    rows_delivered: int = 0
    rows_published: int = 0
    rows_quarantined: int = 0
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def lock_key(city_code: str, kind: str, business_date: dt.date) -> str:
    return f"oversight/{city_code}/{kind}/{business_date.isoformat()}"


def reused_movements(conn: psycopg.Connection, city_code: str, business_date: dt.date) -> Any:
    """Callback for validation: movement ids of this city already delivered on another day."""

    def lookup(ids: Iterable[str]) -> dict[str, dt.date]:
        rows = conn.execute(
            "select movement_id, business_date from raw.fee_ledger"
            " where source_city_code = %s and movement_id = any(%s) and business_date <> %s",
            (city_code, list(ids), business_date),
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    return lookup


def _copy_valid(conn: psycopg.Connection, result: ValidationResult, delivery_id: int, city: str, day: dt.date) -> None:
    table = result.valid
    if table.num_rows == 0:
        return
    n = table.num_rows
    table = (
        table.add_column(0, "business_date", pa.array([day.isoformat()] * n, pa.string()))
        .add_column(0, "source_city_code", pa.array([city] * n, pa.string()))
        .add_column(0, "delivery_id", pa.array([delivery_id] * n, pa.int64()))
    )
    columns = [*META_COLUMNS, *result.spec.names, "extra_columns"]
    buffer = io.BytesIO()
    pa_csv.write_csv(table.select(columns), buffer, pa_csv.WriteOptions(include_header=False))
    statement = sql.SQL("copy {}.{} ({}) from stdin with (format csv)").format(
        sql.Identifier("raw"), sql.Identifier(result.spec.kind), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor().copy(statement) as copy:
        copy.write(buffer.getvalue())


def _copy_quarantine(
    conn: psycopg.Connection, result: ValidationResult, delivery_id: int, city: str, day: dt.date
) -> None:
    if not result.quarantined:
        return
    with conn.cursor().copy(
        "copy quarantine.rows (delivery_id, source_city_code, kind, business_date, row_number,"
        " delivered_values, reasons) from stdin"
    ) as copy:
        for q in result.quarantined:
            copy.write_row(
                (
                    delivery_id,
                    city,
                    result.spec.kind,
                    day,
                    q["row_number"],
                    json.dumps(q["delivered_values"], ensure_ascii=False),
                    json.dumps(q["reasons"], ensure_ascii=False),
                )
            )


def publish(
    conn: psycopg.Connection,
    delivery_id: int,
    outcome: ValidationResult | RejectedDelivery,
    *,
    source_encoding: str | None = None,
    source_format: str | None = None,
    extra_columns: list[str] | None = None,
    started: float | None = None,
) -> PublishOutcome:
    """Publish (or reject) ``delivery_id`` atomically. ``conn`` must act as the loader."""
    with conn.transaction():
        row = conn.execute(
            "select city_code, kind, business_date, received_at from landing.deliveries where delivery_id = %s",
            (delivery_id,),
        ).fetchone()
        if row is None:
            raise LookupError(f"delivery {delivery_id} is not in landing.deliveries")
        city, kind, day, received_at = row  # its status is read again under the lock below
        conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key(city, kind, day),))
        status = conn.execute(
            "select status from landing.deliveries where delivery_id = %s for update", (delivery_id,)
        ).fetchone()
        assert status is not None
        if status[0] != "landed":
            return PublishOutcome(delivery_id, "unchanged", reason=f"already {status[0]}")
        newer = conn.execute(
            "select delivery_id from landing.deliveries where city_code = %s and kind = %s"
            " and business_date = %s and status = 'published' and received_at > %s",
            (city, kind, day, received_at),
        ).fetchone()
        if newer is not None:
            conn.execute(
                "update landing.deliveries set status = 'superseded', status_reason = %s where delivery_id = %s",
                (f"a later delivery ({newer[0]}) was already published", delivery_id),
            )
            return PublishOutcome(delivery_id, "superseded", reason=f"delivery {newer[0]} is newer")

        if isinstance(outcome, RejectedDelivery):
            conn.execute(
                "update landing.deliveries set status = 'rejected', status_reason = %s where delivery_id = %s",
                (f"{outcome.code}: {outcome.message}", delivery_id),
            )
            return PublishOutcome(delivery_id, "rejected", reason=f"{outcome.code}: {outcome.message}")

        older = [
            r[0]
            for r in conn.execute(
                "update landing.deliveries set status = 'superseded', status_reason = %s"
                " where city_code = %s and kind = %s and business_date = %s and status = 'published'"
                " returning delivery_id",
                (f"replaced by delivery {delivery_id}", city, kind, day),
            ).fetchall()
        ]
        if older:
            conn.execute(
                sql.SQL("delete from {}.{} where delivery_id = any(%s)").format(
                    sql.Identifier("raw"), sql.Identifier(kind)
                ),
                (older,),
            )
        _copy_valid(conn, outcome, delivery_id, city, day)
        _copy_quarantine(conn, outcome, delivery_id, city, day)
        published = outcome.valid.num_rows
        quarantined = len(outcome.quarantined)
        conn.execute(
            "insert into audit.loads (delivery_id, rows_delivered, rows_published, rows_quarantined,"
            " extra_columns, source_encoding, source_format, duration_ms) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                delivery_id,
                outcome.rows_delivered,
                published,
                quarantined,
                extra_columns or [],
                source_encoding,
                source_format,
                int((time.monotonic() - started) * 1000) if started else None,
            ),
        )
        latest = conn.execute(
            "select max(business_date) from landing.deliveries where city_code = %s and kind = %s"
            " and status in ('published', 'superseded') and delivery_id <> %s",
            (city, kind, delivery_id),
        ).fetchone()
        if older:
            reason = "redelivery"
        elif latest and latest[0] and latest[0] > day:
            reason = "late"
        else:
            reason = "new"
        conn.execute(
            "insert into audit.rebuild_dates (business_date, source_city_code, kind, delivery_id, reason)"
            " values (%s, %s, %s, %s, %s)",
            (day, city, kind, delivery_id, reason),
        )
        conn.execute(
            "update landing.deliveries set status = 'published', status_reason = null where delivery_id = %s",
            (delivery_id,),
        )
        return PublishOutcome(delivery_id, "published", outcome.rows_delivered, published, quarantined)


__all__ = ["PublishOutcome", "lock_key", "publish", "reused_movements"]
