"""A simulated week of Shaanxi through the real DAGs: every conformant row exactly once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def raw_counts(url: str) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    with psycopg.connect(url) as conn:
        for kind in ("institutions", "fee_ledger", "refunds", "complaints"):
            for city, day, n in conn.execute(
                f"select source_city_code, business_date::text, count(*) from raw.{kind} group by 1, 2"
            ):
                out[(city, kind, day)] = n
    return out


def test_every_conformant_row_loaded_exactly_once(shaanxi_week: dict[str, Any]) -> None:
    manifest = shaanxi_week["manifest"]
    expected = {
        (d["city_code"], d["kind"], d["business_date"]): d["rows"] - d["bad_rows"]
        for d in manifest["deliveries"]
        if not d["file_case"]
    }
    actual = raw_counts(shaanxi_week["url"])
    assert {k: v for k, v in expected.items() if v} == actual
    assert sum(actual.values()) > 250_000


def test_every_delivery_is_recorded_and_audited(shaanxi_week: dict[str, Any]) -> None:
    manifest = shaanxi_week["manifest"]
    with psycopg.connect(shaanxi_week["url"]) as conn:
        statuses = Counter(s for (s,) in conn.execute("select status from landing.deliveries"))
        unbalanced = conn.execute(
            "select count(*) from audit.loads where rows_delivered <> rows_published + rows_quarantined"
        ).fetchone()
        quarantined = conn.execute("select count(*) from quarantine.rows").fetchone()
    rejected = sum(1 for d in manifest["deliveries"] if d["file_case"])
    assert statuses == {"published": len(manifest["deliveries"]) - rejected, "rejected": rejected}
    assert unbalanced == (0,)
    assert quarantined == (sum(d["bad_rows"] for d in manifest["deliveries"] if not d["file_case"]),)


def test_rerunning_a_date_changes_no_count(shaanxi_week: dict[str, Any]) -> None:
    before = raw_counts(shaanxi_week["url"])
    with psycopg.connect(shaanxi_week["url"]) as conn:
        deliveries = conn.execute("select count(*), max(delivery_id) from landing.deliveries").fetchone()
    again = run_cli(
        "run",
        "--landing",
        str(shaanxi_week["landing"]),
        "--start",
        "2026-11-04",
        "--end",
        "2026-11-04",
        env={"WAREHOUSE_URL": shaanxi_week["url"]},
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "2026-11-04: 44 deliveries" in again.stdout
    assert raw_counts(shaanxi_week["url"]) == before
    with psycopg.connect(shaanxi_week["url"]) as conn:
        assert conn.execute("select count(*), max(delivery_id) from landing.deliveries").fetchone() == deliveries
