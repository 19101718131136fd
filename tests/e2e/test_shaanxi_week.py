"""A simulated week of Shaanxi through the real DAGs: every conformant row exactly once."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from typing import Any

import psycopg
import pytest

from tests.support.runtime import ROOT, run_cli

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
    day = [d for d in shaanxi_week["manifest"]["deliveries"] if d["business_date"] == "2026-11-04"]
    published = sum(d["rows"] - d["bad_rows"] for d in day if not d["file_case"])
    quarantined = sum(d["bad_rows"] for d in day if not d["file_case"])
    ingest_line = next(line for line in again.stdout.splitlines() if "2026-11-04 ingest" in line)
    assert (
        f"44 deliveries (42 published, 2 rejected); {published} rows published, {quarantined} quarantined"
        in ingest_line
    )
    assert raw_counts(shaanxi_week["url"]) == before
    with psycopg.connect(shaanxi_week["url"]) as conn:
        assert conn.execute("select count(*), max(delivery_id) from landing.deliveries").fetchone() == deliveries


def test_planted_bad_data_is_quarantined_or_rejected_with_its_reason(shaanxi_week: dict[str, Any]) -> None:
    bad = shaanxi_week["manifest"]["bad_data"]
    assert {b["case"] for b in bad} >= {
        "negative_amount",
        "unparseable_amount",
        "unparseable_date",
        "invalid_check_character",
        "movement_id_reused",
        "date_after_business_date",
        "refund_exceeds_request",
        "city_code_not_delivering_city",
        "duplicate_key_in_file",
        "unknown_enumeration_label",
        "wrong_encoding",
        "truncated_file",
        "bad_xlsx",
        "not_json",
        "empty_file",
        "missing_required_column",
        "duplicate_column",
    }
    with psycopg.connect(shaanxi_week["url"]) as conn:
        for b in bad:
            where = (b["city_code"], b["kind"], b["business_date"])
            if b["outcome"] == "rejected":
                reason = conn.execute(
                    "select status_reason from landing.deliveries where city_code = %s and kind = %s"
                    " and business_date = %s and status = 'rejected'",
                    where,
                ).fetchone()
                assert reason is not None and reason[0].startswith(b["reason_code"] + ":"), b
            else:
                hits = conn.execute(
                    "select count(*) from quarantine.rows q, jsonb_array_elements(q.reasons) r"
                    " where q.source_city_code = %s and q.kind = %s and q.business_date = %s"
                    " and r ->> 'rule' = %s and r ->> 'message' like %s",
                    (*where, b["rule"], f"%{b['message_contains']}%"),
                ).fetchone()
                assert hits is not None and hits[0] >= 1, b


def test_every_published_delivery_has_gx_results_that_agree_with_the_engine(shaanxi_week: dict[str, Any]) -> None:
    with psycopg.connect(shaanxi_week["url"]) as conn:
        missing = conn.execute(
            "select count(*) from landing.deliveries d where d.status = 'published'"
            " and not exists (select 1 from audit.validation_results v where v.delivery_id = d.delivery_id)"
        ).fetchone()
        disagreeing = conn.execute(
            "select delivery_id, rule, column_name, unexpected_count, engine_unexpected_count"
            " from audit.validation_results where not agrees"
        ).fetchall()
        # GX saw exactly the rows the engine quarantined (parser-quarantined field-count rows aside)
        failing = conn.execute(
            "select coalesce(sum(unexpected_count), 0) from audit.validation_results where severity = 'row'"
        ).fetchone()
        reasons = conn.execute(
            "select count(*) from quarantine.rows q, jsonb_array_elements(q.reasons) r"
            " join landing.deliveries d on true"
            " where d.delivery_id = q.delivery_id and d.status = 'published' and r ->> 'rule' <> 'field_count'"
        ).fetchone()
    assert missing == (0,)
    assert disagreeing == []
    assert failing is not None and reasons is not None and failing[0] == reasons[0] > 0


def test_each_city_with_rejections_gets_a_report_per_day(shaanxi_week: dict[str, Any]) -> None:
    from oversight.quality.rejections import cities_with_rejections

    reports = shaanxi_week["local"] / "reports" / "rejections"
    bad = shaanxi_week["manifest"]["bad_data"]
    previous = os.environ.get("WAREHOUSE_URL")
    os.environ["WAREHOUSE_URL"] = shaanxi_week["url"]
    try:
        for b in bad:
            day = dt.date.fromisoformat(b["business_date"])
            assert b["city_code"] in cities_with_rejections(day)
            md = reports / b["business_date"] / f"rejections_{b['city_code']}_{day:%Y%m%d}.md"
            assert md.is_file(), md
    finally:
        if previous is None:
            os.environ.pop("WAREHOUSE_URL", None)
        else:
            os.environ["WAREHOUSE_URL"] = previous
    docs = shaanxi_week["local"] / "gx" / "data_docs" / "index.html"
    assert docs.is_file() and "fee_ledger_contract_v1" in docs.read_text("utf-8")


PREPAID_BREACHES = {
    "prepaid_over_60_hours": "class_hours = 120",
    "prepaid_over_3_months": "service_end_date > service_start_date + interval '3 months'",
    "non_subject_over_5000": "amount_yuan > 5000 and course_category = 'non_subject'",
    "price_above_cap": "unit_price_yuan = 300",
    "off_platform_collection": "channel = 'cash'",
}


def test_planted_breaches_are_loaded_not_rejected(shaanxi_week: dict[str, Any]) -> None:
    alerts = shaanxi_week["manifest"]["expected_alerts"]
    with psycopg.connect(shaanxi_week["url"]) as conn:
        for alert in alerts:
            if alert["institution_id"] is None:
                continue
            known = conn.execute(
                "select count(*) from raw.institutions where institution_id = %s", (alert["institution_id"],)
            ).fetchone()
            assert known is not None and known[0] > 0, alert
            condition = PREPAID_BREACHES.get(alert["rule_id"])
            if condition:
                found = conn.execute(
                    f"select count(*) from raw.fee_ledger where institution_id = %s and movement_type = 'prepaid'"
                    f" and {condition}",
                    (alert["institution_id"],),
                ).fetchone()
                assert found is not None and found[0] == 1, alert


def test_simulation_is_calibrated_to_the_2022_report(shaanxi_week: dict[str, Any]) -> None:
    report = shaanxi_week["manifest"]["expected_report"]
    assert report["subject_baseline"] == 4600 and report["reduced"] == 4431 and report["remaining_subject"] == 169
    assert report["remaining_supervised"] == report["remaining_model_contract"] == 169
    assert report["non_subject_active"] == report["non_subject_supervised"] == 3571
    assert report["refund_students"] == 220_000 and report["refund_amount_yuan"] == "582000000.00"
    assert (report["complaints_received"], report["complaints_in_school"], report["complaints_out_of_school"]) == (
        2744,
        1248,
        1496,
    )


def test_the_registry_as_of_the_last_day_matches_the_report(shaanxi_week: dict[str, Any]) -> None:
    """The raw snapshot of the last day already holds the report's institution counts."""
    with psycopg.connect(shaanxi_week["url"]) as conn:
        row = conn.execute(
            """
            select count(*) filter (where baseline_category = 'subject' and stage = 'compulsory'),
                   count(*) filter (where baseline_category = 'subject' and stage = 'compulsory'
                                    and (status = 'cancelled' or category = 'non_subject')),
                   count(*) filter (where category = 'non_subject' and status = 'active'
                                    and fund_supervision_mode <> 'none')
            from raw.institutions where business_date = '2026-11-08'
            """
        ).fetchone()
    assert row == (4600, 4431, 3571)


def test_the_scheduler_builds_the_same_marts_as_the_in_process_path_did(shaanxi_week: dict[str, Any]) -> None:
    """The week run through the real scheduler (Asset-triggered warehouse and alerts runs, dates
    coalesced from the events' extras) builds exactly the marts the in-process `dag.test()` path
    built before the scheduler became the production path (commit a207f87, same simulator seed):
    row counts and an md5 of every row of every `marts.*` table."""
    import json

    expected = json.loads((ROOT / "tests" / "support" / "shaanxi_week_marts.json").read_text())
    assert shaanxi_week["mart_checksums"] == {t: tuple(v) for t, v in expected.items()}


def test_the_week_ran_through_the_scheduler_with_asset_triggers(shaanxi_week: dict[str, Any]) -> None:
    out = shaanxi_week["run_stdout"]
    for day in ("2026-11-02", "2026-11-05", "2026-11-08"):
        assert f"{day} ingest    success" in out
        assert any(
            f"{day} warehouse success" in line and "(asset-triggered; dates" in line and day in line
            for line in out.splitlines()
        ), out[-3000:]
        assert any(f"{day} alerts    success" in line and "asset-triggered" in line for line in out.splitlines())
