"""A crash between validation and publish leaves nothing half-published; a re-run completes it once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from oversight.db.connection import connect
from oversight.ingest import tasks as pipeline

D = dt.date(2026, 11, 2)
HEADER = "refund_id,institution_id,requested_amount_yuan,refunded_amount_yuan,status,requested_date,updated_at"
ROWS = [f"R{i},91350100M000100Y43,100.00,0,requested,2026-11-01,2026-11-02 10:00:00" for i in range(5000)]
BAD = ["RX,91350100M000100Y44,100.00,0,requested,2026-11-01,2026-11-02 10:00:00"]

CHILD = textwrap.dedent(
    """
    import datetime as dt, os, sys
    from pathlib import Path
    from oversight.ingest import publish as loading
    from oversight.ingest import tasks as pipeline

    stage = sys.argv[2]
    original_copy_valid, original_copy_quarantine = loading._copy_valid, loading._copy_quarantine

    def crash_after(original):
        def wrapper(*args, **kwargs):
            original(*args, **kwargs)
            os._exit(9)  # the process dies: no exception handling, no rollback by Python
        return wrapper

    if stage == "after_raw_copy":
        loading._copy_valid = crash_after(original_copy_valid)
    elif stage == "after_quarantine_copy":
        loading._copy_quarantine = crash_after(original_copy_quarantine)
    pipeline.ingest_payload("610100", "refunds", dt.date(2026, 11, 2), "file", "k.csv", Path(sys.argv[1]).read_bytes())
    """
)


def state() -> tuple[str | None, int, int, int]:
    with connect() as conn:
        status = conn.execute("select status from landing.deliveries").fetchone()
        raw = conn.execute("select count(*) from raw.refunds").fetchone()
        quarantined = conn.execute("select count(*) from quarantine.rows").fetchone()
        audited = conn.execute("select count(*) from audit.loads").fetchone()
    assert raw and quarantined and audited
    return (status[0] if status else None, raw[0], quarantined[0], audited[0])


@pytest.mark.parametrize("stage", ["after_raw_copy", "after_quarantine_copy"])
def test_killed_during_publish_then_rerun(fresh_warehouse: str, tmp_path: Path, stage: str) -> None:
    payload = tmp_path / "k.csv"
    payload.write_text("\n".join([HEADER, *ROWS, *BAD]) + "\n")
    env = {**os.environ, "WAREHOUSE_URL": fresh_warehouse}
    child = subprocess.run([sys.executable, "-c", CHILD, str(payload), stage], env=env, capture_output=True, text=True)
    assert child.returncode == 9, child.stderr[-2000:]
    # the delivery is recorded and its bytes stored, but nothing of it is published
    assert state() == ("landed", 0, 0, 0)
    result = pipeline.ingest_payload("610100", "refunds", D, "file", "k.csv", payload.read_bytes())
    assert result["status"] == "published"
    assert state() == ("published", 5000, 1, 1)
    again = pipeline.ingest_payload("610100", "refunds", D, "file", "k.csv", payload.read_bytes())
    assert again["status"] == "unchanged"
    assert state() == ("published", 5000, 1, 1)


def test_rejection_report_is_actionable_and_formula_safe(fresh_warehouse: str, tmp_path: Path) -> None:
    from oversight.quality.rejections import write_report

    text = "\n".join(
        [
            "退费编号,统一社会信用代码,申请退费金额,已退金额,办理状态,申请日期,更新时间",
            "R1,91350100M000100Y43,100.00,0,已申请,2026-11-01,2026-11-02 10:00:00",
            '=HYPERLINK("http://x"),91350100M000100Y43,-30.00,0,已申请,2026-11-01,2026-11-02 10:00:00',
        ]
    )
    pipeline.ingest_payload("610100", "refunds", D, "file", "610100_refunds_20261102.csv", text.encode("gb18030"))
    pipeline.ingest_payload("610100", "complaints", D, "file", "610100_complaints_20261102.csv", b"")
    csv_path, md_path, n = write_report("610100", D, tmp_path)
    assert n == 2
    body = csv_path.read_text(encoding="utf-8-sig")
    assert "complaints,610100_complaints_20261102.csv,,,,empty_file,the file is empty" in body
    row = "refunds,610100_refunds_20261102.csv,2,requested_amount_yuan,'-30.00,positive,"
    assert row + "column 申请退费金额 value '-30.00' must be > 0" in body
    assert "\n=" not in body and ",=" not in body and ",-" not in body and ",+" not in body
    md = md_path.read_text(encoding="utf-8")
    assert "须大于0 / must be greater than 0" in md and "| refunds | 610100_refunds_20261102.csv | 2 |" in md
