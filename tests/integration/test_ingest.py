"""Ingestion: exactly-once loads whatever arrives, in whatever order, however often."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading
from pathlib import Path
from typing import Any

import openpyxl
import psycopg
import pytest

from oversight.db.connection import connect
from oversight.ingest import plan as planning
from oversight.ingest import tasks as pipeline

D = dt.date(2026, 11, 2)
INST_A = "91350100M000100Y43"
INST_B = "914403001922038216"

ZH_HEADER = "退费编号,统一社会信用代码,申请退费金额,已退金额,退费方式,办理状态,申请日期,完成日期,更新时间,家长电话"


def refunds_csv(rows: list[str], header: str = ZH_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def refund_row(rid: str, amount: str = "100.00", status: str = "已申请", day: dt.date = D) -> str:
    return f"{rid},{INST_A},{amount},0,,{status},{day},,{day} 10:00:00,13800000000"


def ingest(data: bytes, name: str, day: dt.date = D, city: str = "610100", kind: str = "refunds") -> dict[str, Any]:
    return pipeline.ingest_payload(city, kind, day, "file", name, data)


def count(sql: str, *params: object) -> int:
    with connect() as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def test_identical_redelivery_changes_nothing(fresh_warehouse: str) -> None:
    data = refunds_csv([refund_row("R1"), refund_row("R2")]).encode("utf-8")
    first = ingest(data, "610100_refunds_20261102.csv")
    again = ingest(data, "610100_refunds_20261102.csv")
    assert first["status"] == "published" and first["rows_published"] == 2
    assert again["status"] == "unchanged" and again["delivery_id"] == first["delivery_id"]
    assert count("select count(*) from raw.refunds") == 2
    assert count("select count(*) from landing.deliveries") == 1
    assert count("select count(*) from audit.loads") == 1


def test_corrected_redelivery_replaces_the_earlier_one(fresh_warehouse: str) -> None:
    first = ingest(refunds_csv([refund_row("R1"), refund_row("R2"), refund_row("R3")]).encode(), "a.csv")
    corrected = ingest(refunds_csv([refund_row("R1", "150.00"), refund_row("R2")]).encode(), "a.csv")
    assert corrected["status"] == "published"
    with connect() as conn:
        rows = conn.execute("select refund_id, requested_amount_yuan::text from raw.refunds order by 1").fetchall()
        statuses = dict(conn.execute("select delivery_id, status from landing.deliveries").fetchall())
        reasons = conn.execute("select reason from audit.rebuild_dates order by recorded_at").fetchall()
    assert rows == [("R1", "150.00"), ("R2", "100.00")]
    assert statuses == {first["delivery_id"]: "superseded", corrected["delivery_id"]: "published"}
    assert [r[0] for r in reasons] == ["new", "redelivery"]
    # the superseded bytes are still stored
    with connect() as conn:
        (path,) = conn.execute(
            "select stored_path from landing.deliveries where delivery_id = %s", (first["delivery_id"],)
        ).fetchone()  # type: ignore[misc]
    assert b"R3" in Path(path).read_bytes()


def test_out_of_order_delivery_is_accepted_and_marked_for_rebuild(fresh_warehouse: str) -> None:
    later = D + dt.timedelta(days=2)
    ingest(refunds_csv([refund_row("R9", day=later)]).encode(), "l.csv", day=later)
    ingest(refunds_csv([refund_row("R1")]).encode(), "e.csv", day=D)
    with connect() as conn:
        rebuild = conn.execute(
            "select business_date, reason from audit.rebuild_dates order by business_date"
        ).fetchall()
    assert rebuild == [(D, "late"), (later, "new")]
    assert count("select count(*) from raw.refunds") == 2


def test_two_concurrent_loads_of_one_delivery_land_once(fresh_warehouse: str) -> None:
    data = refunds_csv([refund_row(f"R{i}") for i in range(2000)]).encode()
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def load() -> None:
        barrier.wait()
        results.append(ingest(data, "c.csv"))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["status"] for r in results) == ["published", "unchanged"]
    assert count("select count(*) from raw.refunds") == 2000
    assert count("select count(*) from audit.loads") == 1


def test_file_without_ok_marker_waits_until_the_deadline(fresh_warehouse: str, tmp_path: Path) -> None:
    folder = tmp_path / "610100" / "refunds"
    folder.mkdir(parents=True)
    target = folder / "610100_refunds_20261102.csv"
    target.write_bytes(refunds_csv([refund_row("R1")]).encode())
    item = {
        "city_code": "610100",
        "kind": "refunds",
        "business_date": D.isoformat(),
        "landing": str(tmp_path),
        "deadline": "09:00",
    }
    before = dt.datetime(2026, 11, 3, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    after = dt.datetime(2026, 11, 3, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert pipeline.poke_file(item, wait=True, now=before) is None  # still being written: ask again later
    assert pipeline.poke_file(item, wait=True, now=after)["status"] == "missing"  # type: ignore[index]
    assert count("select count(*) from landing.deliveries") == 0
    target.with_name(target.name + ".ok").write_text(hashlib.sha256(target.read_bytes()).hexdigest())
    assert pipeline.poke_file(item, wait=True, now=before)["status"] == "published"  # type: ignore[index]


def test_a_city_is_done_once_every_kind_arrived_or_the_deadline_passed(fresh_warehouse: str, tmp_path: Path) -> None:
    """One sensor per city: what arrived is loaded at each poke; the sensor reschedules (frees its
    worker) while a kind is still awaited, and ends with every kind accounted for."""
    folder = tmp_path / "610100" / "refunds"
    folder.mkdir(parents=True)
    target = folder / "610100_refunds_20261102.csv"
    target.write_bytes(refunds_csv([refund_row("R1")]).encode())
    target.with_name(target.name + ".ok").write_text("")
    (item,) = [i for i in planning.plan(str(tmp_path), D) if i["city_code"] == "610100"]
    assert item["kinds"] == ["institutions", "fee_ledger", "refunds", "complaints"]
    before = dt.datetime(2026, 11, 3, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    after = dt.datetime(2026, 11, 3, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert pipeline.poke_city(item, wait=True, now=before) is None  # three kinds still awaited
    assert count("select count(*) from raw.refunds") == 1  # what arrived is loaded already
    done = pipeline.poke_city(item, wait=True, now=after)
    assert done is not None
    assert sorted((r["kind"], r["status"]) for r in done) == [
        ("complaints", "missing"),
        ("fee_ledger", "missing"),
        ("institutions", "missing"),
        ("refunds", "unchanged"),  # loaded at the first poke: loading it again changes nothing
    ]
    assert count("select count(*) from raw.refunds") == 1
    outcome = pipeline.city_outcome(item)
    assert outcome["kinds"]["refunds"]["status"] == "published" and outcome["kinds"]["refunds"]["rows_published"] == 1
    assert pipeline.city_label(outcome) == "610100 ? 3 missing, 1 published"


def test_a_rejected_delivery_is_flagged_in_the_city_label() -> None:
    outcome = {
        "city_code": "610100",
        "kinds": {"refunds": {"status": "rejected"}, "fee_ledger": {"status": "published"}},
    }
    assert pipeline.city_label(outcome) == "610100 ✗ 1 rejected, 1 published"


def test_national_planning_stays_within_the_mapping_limit(fresh_warehouse: str, tmp_path: Path) -> None:
    """Every prefecture-level unit of the country drops files: one mapped task per city, so a
    national day (and twice as many units) fits Airflow's max_map_length without raising it."""
    from airflow.configuration import conf

    from oversight.contract.cities import load_cities

    for code in load_cities():
        (tmp_path / code).mkdir()
    items = planning.plan(str(tmp_path), D)
    assert len(items) == len(load_cities()) == 340  # 339 prefecture-level units + Yangling's reporting unit
    assert all(len(i["kinds"]) == 4 for i in items)
    limit = conf.getint("core", "max_map_length")
    assert limit == 1024  # not raised
    assert 2 * len(items) <= limit < 4 * len(items)  # per (city, kind) items would not fit
    assert planning.record_expected(items) == 340 * 4


def test_gb18030_csv_with_chinese_headers_and_labels(fresh_warehouse: str) -> None:
    text = refunds_csv([f'R1,{INST_A},"1,200.50",1200.50,现金退费,已完成,2026/10/30,20261101,2026-11-02T09:30:00,'])
    result = ingest(text.encode("gb18030"), "g.csv")
    assert result["status"] == "published", result
    with connect() as conn:
        row = conn.execute(
            "select requested_amount_yuan::text, method, status, requested_date, completed_date, updated_at"
            " from raw.refunds"
        ).fetchone()
        encoding = conn.execute("select source_encoding from audit.loads").fetchone()
    assert row == (
        "1200.50",
        "cash",
        "completed",
        dt.date(2026, 10, 30),
        dt.date(2026, 11, 1),
        dt.datetime(2026, 11, 2, 9, 30),
    )
    assert encoding == ("gb18030",)


def test_xlsx_with_chinese_headers(fresh_warehouse: str) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(
        [
            "线索编号",
            "城市代码",
            "受理渠道",
            "涉及范围",
            "线索类别",
            "受理时间",
            "办理状态",
            "办结时间",
            "更新时间",
            "来电号码",
        ]
    )
    sheet.append(
        [
            "C1",
            "610100",
            "省级热线",
            "校外",
            "隐形变异培训",
            dt.datetime(2026, 11, 1, 9),
            "已办结",
            dt.datetime(2026, 11, 2, 10),
            "2026-11-02 11:00:00",
            "13900000000",
        ]
    )
    sheet.append(
        [
            "C2",
            "610100",
            "platform",
            "in_school",
            "homework",
            "2026-11-02 08:00:00",
            "open",
            None,
            "2026-11-02 12:00:00",
            None,
        ]
    )
    buf = io.BytesIO()
    book.save(buf)
    result = ingest(buf.getvalue(), "x.xlsx", kind="complaints")
    assert result["status"] == "published" and result["rows_published"] == 2, result
    with connect() as conn:
        rows = conn.execute(
            "select complaint_id, received_channel, scope, category, status, received_at from raw.complaints order by 1"
        ).fetchall()
    assert rows == [
        ("C1", "province_hotline", "out_of_school", "hidden_variant", "closed", dt.datetime(2026, 11, 1, 9)),
        ("C2", "platform", "in_school", "homework", "open", dt.datetime(2026, 11, 2, 8)),
    ]


def test_marker_checksum_mismatch_rejects_but_keeps_the_bytes(fresh_warehouse: str) -> None:
    data = refunds_csv([refund_row("R1")]).encode()
    result = pipeline.ingest_payload(
        "610100", "refunds", D, "file", "t.csv", data[:-10], hashlib.sha256(data).hexdigest()
    )
    assert result["status"] == "rejected"
    assert "checksum" in result["reason"]
    with connect() as conn:
        (path, reason) = conn.execute("select stored_path, status_reason from landing.deliveries").fetchone()  # type: ignore[misc]
    assert Path(path).read_bytes() == data[:-10]
    assert reason.startswith("checksum: the .ok marker declares SHA-256")


def test_loader_cannot_write_outside_its_schemas(fresh_warehouse: str) -> None:
    with connect("loader") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("create table marts.x (v int)")


def test_sweep_picks_up_a_late_delivery_once(fresh_warehouse: str, tmp_path: Path) -> None:
    folder = tmp_path / "610100" / "refunds"
    folder.mkdir(parents=True)
    target = folder / "610100_refunds_20261102.csv"
    target.write_bytes(refunds_csv([refund_row("R1")]).encode())
    target.with_name(target.name + ".ok").write_text("")
    later = D + dt.timedelta(days=3)
    first = pipeline.sweep(str(tmp_path), later)
    assert [(r["business_date"], r["status"]) for r in first] == [(D.isoformat(), "published")]
    assert pipeline.sweep(str(tmp_path), later) == []  # already live: nothing to do
    target.write_bytes(refunds_csv([refund_row("R1"), refund_row("R2")]).encode())  # a corrected redelivery
    assert [r["status"] for r in pipeline.sweep(str(tmp_path), later)] == ["published"]
    assert count("select count(*) from raw.refunds") == 2


def test_whatever_is_not_a_delivery_is_kept_on_record(fresh_warehouse: str, tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello")
    (tmp_path / "999999").mkdir()
    (tmp_path / "_simulation").mkdir()
    folder = tmp_path / "610100" / "refunds"
    folder.mkdir(parents=True)
    (folder / "refunds-2026-11-02.csv").write_text("x")
    (folder / "610200_refunds_20261102.csv").write_text("x")
    (tmp_path / "610100" / "payments").mkdir()
    assert planning.record_unrecognised(str(tmp_path)) == 5
    assert planning.record_unrecognised(str(tmp_path)) == 5  # idempotent: last_seen_at moves on
    with connect() as conn:
        rows = dict(conn.execute("select path, reason from landing.unrecognised_files").fetchall())
    assert len(rows) == 5
    assert rows[str(tmp_path / "999999")] == "directory '999999' is not a known city code (GB/T 2260)"
    assert rows[str(folder / "610200_refunds_20261102.csv")] == "file of 610200/refunds filed under 610100/refunds"
    assert "payments" in rows[str(tmp_path / "610100" / "payments")]
