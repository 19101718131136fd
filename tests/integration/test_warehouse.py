"""The dbt warehouse on real deliveries: published report rows reproduced, no personal
data where the analyst can read, quality gates on the dbt project.

Real PostgreSQL, real dbt builds, real DAG runs (the Shaanxi week runs the warehouse
DAG through ``oversight run``); nothing is mocked and no figure is hard-coded that the
deliveries do not imply.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from stdnum.cn import ric, uscc

from tests.support.dbt_gates import DbtDocs, assert_full_coverage, assert_score
from tests.support.runtime import ROOT

pytestmark = pytest.mark.slow

DBT_PROJECT = ROOT / "dbt_project"
BIN = Path(sys.executable).parent


def report(url: str, as_of: str, scope_code: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        conn.execute("set role oversight_analyst")  # what analysts read
        cur = conn.execute(
            "select * from marts.supervision_report where as_of_date = %s and scope_code = %s", (as_of, scope_code)
        )
        row = cur.fetchone()
        assert row is not None, f"no supervision_report row for {scope_code} on {as_of}"
        return dict(zip([d.name for d in cur.description or []], row, strict=True))


# -- Shaanxi: the simulator's week through the real DAGs ---------------------------------


def test_shaanxi_province_reproduces_the_published_report(shaanxi_week: dict[str, Any]) -> None:
    manifest = shaanxi_week["manifest"]
    expected = manifest["expected_report"]
    r = report(shaanxi_week["url"], manifest["end"], "61")
    assert (r["scope_level"], r["scope_name"]) == ("province", "陕西省")
    # the published figures (regulatory-rules.md §1), and the simulator's own account of them
    assert r["subject_baseline"] == 4600 == expected["subject_baseline"]
    assert r["reduced"] == 4431 == expected["reduced"]
    assert r["deregistered"] + r["converted"] == 4431
    assert (r["deregistered"], r["converted"]) == (expected["deregistered"], expected["converted"])
    assert abs(r["reduction_rate"] - Decimal("0.9633")) <= Decimal("0.0001")
    assert abs(r["reduction_rate"] - Decimal(4431) / Decimal(4600)) < Decimal("1e-18")  # unrounded
    assert r["remaining_subject"] == 169
    assert r["remaining_supervised"] == 169 and r["remaining_model_contract"] == 169
    assert r["non_subject_active"] == 3571 == r["non_subject_supervised"]
    assert r["non_subject_supervision_rate"] == 1
    # about 220,000 students and 582 million yuan, by the three methods
    assert r["refund_students"] == expected["refund_students"]
    assert abs(r["refund_students"] - 220_000) <= 1_000
    assert r["refund_amount_yuan"] == Decimal(expected["refund_amount_yuan"])
    assert abs(r["refund_amount_yuan"] - Decimal(582_000_000)) <= Decimal(1_000_000)
    methods = ("cash", "course_exchange", "judicial")
    by_method = [r[f"refund_amount_{m}_yuan"] for m in methods]
    assert all(m > 0 for m in by_method) and sum(by_method) == r["refund_amount_yuan"]
    # 2744 complaint clues, 1248 in-school, 1496 out-of-school, all closed
    assert (r["complaints_received"], r["complaints_in_school"], r["complaints_out_of_school"]) == (2744, 1248, 1496)
    assert r["complaints_closed"] == 2744 and r["complaint_closure_rate"] == 1


def test_shaanxi_cities_add_up_and_every_date_has_a_row(shaanxi_week: dict[str, Any]) -> None:
    manifest = shaanxi_week["manifest"]
    with psycopg.connect(shaanxi_week["url"]) as conn:
        conn.execute("set role oversight_analyst")
        dates = conn.execute(
            "select count(distinct as_of_date) from marts.supervision_report where scope_code = '61'"
        ).fetchone()
        sums = conn.execute(
            "select sum(subject_baseline), sum(reduced), sum(remaining_subject), sum(complaints_received),"
            " count(*) from marts.supervision_report where scope_level = 'city' and as_of_date = %s",
            (manifest["end"],),
        ).fetchone()
    assert dates == (7,)
    assert sums == (4600, 4431, 169, 2744, len(manifest["units"]))


def test_run_prints_the_province_table_and_marks_dates_built(shaanxi_week: dict[str, Any]) -> None:
    out = shaanxi_week["run_stdout"]
    assert "Supervision report, province 61, as of 2026-11-08" in out
    province_line = next(line for line in out.splitlines() if line.startswith("陕西省 61"))
    assert "4,600" in province_line and "96.33%" in province_line and "2,744" in province_line
    with psycopg.connect(shaanxi_week["url"]) as conn:
        pending = conn.execute("select count(*) from audit.rebuild_dates where built_at is null").fetchone()
    assert pending == (0,)


def test_institution_risk_sees_the_planted_signals(shaanxi_week: dict[str, Any]) -> None:
    """Section-5 signals fire for the institutions the simulator planted them on, and no
    control institution has any signal on."""
    manifest = shaanxi_week["manifest"]
    planted = {(a["rule_id"], a["institution_id"]) for a in manifest["expected_alerts"] if a["institution_id"]}
    signal_of = {
        "escrow_shortfall": "has_protected_below_liability",
        "reserve_below_3_months": "has_reserve_below_3_months",
        "consumption_stall": "has_consumption_stall",
        "refund_surge": "has_refund_surge",
        "complaint_spike": "has_complaint_spike",
        "refund_overdue": "has_refund_overdue",
        "sales_after_deregistration": "has_activity_after_deregistration",
        "unsupervised_institution": "is_unsupervised",
        "off_platform_collection": "has_off_platform_collection",
        "new_subject_after_baseline": "is_new_subject_after_baseline",
        "prepaid_over_60_hours": "has_collection_over_caps",
    }
    with psycopg.connect(shaanxi_week["url"]) as conn:
        conn.execute("set role oversight_analyst")
        for rule, inst in sorted(planted):
            if rule not in signal_of:
                continue
            (hit,) = conn.execute(
                f"select bool_or({signal_of[rule]}) from marts.institution_risk where institution_id = %s", (inst,)
            ).fetchone() or (None,)
            assert hit, f"{rule}: {signal_of[rule]} never on for {inst}"
        flagged = conn.execute(
            "select institution_id, max(risk_score) from marts.institution_risk"
            " where institution_id = any(%s) and risk_score > 0 group by 1",
            (manifest["controls"],),
        ).fetchall()
    assert flagged == []


# -- personal data never reaches what the analyst can read ---------------------------------


def test_analyst_reads_no_planted_identity(shaanxi_week: dict[str, Any]) -> None:
    identities = shaanxi_week["manifest"]["identities"]
    assert len(identities) >= 20
    needles = sorted({v for i in identities for v in (i["name"], i["id_no"], i["phone"])})
    with psycopg.connect(shaanxi_week["url"]) as conn:
        conn.execute("set role oversight_analyst")
        relations = conn.execute(
            "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'v', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema')"
            " and has_table_privilege(c.oid, 'select')"
        ).fetchall()
        readable = {schema for schema, _ in relations}
        assert readable == {"marts"}, f"the analyst can read outside marts: {readable}"
        assert len(relations) >= 7
        found: list[str] = []
        for schema, name in relations:
            # every column as text, one aggregated string per relation, matched against every needle
            cols = conn.execute(
                "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped",
                (f'"{schema}"."{name}"',),
            ).fetchall()
            text = " || '|' || ".join(f"coalesce(\"{c}\"::text, '')" for (c,) in cols)
            hits = conn.execute(
                f'select n from unnest(%s::text[]) as n where exists (select 1 from "{schema}"."{name}"'
                f" where strpos({text}, n) > 0)",
                (needles,),
            ).fetchall()
            found += [f"{schema}.{name}: {h}" for (h,) in hits]
        # and the clear identities do exist in the restricted schema, which the analyst cannot read
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from restricted.restricted_student_identities")
    assert found == []


# -- Luoyang and Puyang: our own small deliveries ------------------------------------------

LUOYANG, PUYANG = "410300", "410900"
HENAN_DAY = dt.date(2022, 6, 30)
INSTITUTION_COLUMNS = [
    "institution_id",
    "institution_name",
    "city_code",
    "category",
    "non_subject_field",
    "stage",
    "delivery_mode",
    "baseline_category",
    "status",
    "nonprofit",
    "approved_date",
    "status_changed_date",
    "fund_supervision_mode",
    "custodian_bank",
    "on_platform",
    "uses_model_contract",
]
LEDGER_COLUMNS = [
    "movement_id",
    "institution_id",
    "account_no",
    "movement_type",
    "amount_yuan",
    "occurred_at",
    "order_id",
    "student_id_no",
    "student_name",
    "course_category",
    "class_hours",
    "unit_price_yuan",
    "delivery_mode",
    "class_type",
    "service_start_date",
    "service_end_date",
    "channel",
]


def _uscc(city: str, n: int, nonprofit: bool) -> str:
    prefix = ("52" if nonprofit else "91") + city + f"MA{n:07d}"
    return prefix + uscc.calc_check_digit(prefix)


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue().encode("utf-8")


def _institutions(city: str, dereg: int, conv: int, remaining: int, mode: str) -> list[dict[str, Any]]:
    rows = []
    groups = [("cancelled", "subject", dereg), ("active", "non_subject", conv), ("active", "subject", remaining)]
    n = 0
    for status, category, count in groups:
        for _ in range(count):
            n += 1
            cancelled = status == "cancelled"
            supervised = "none" if cancelled else mode
            rows.append(
                {
                    "institution_id": _uscc(city, n, nonprofit=category == "subject" and not cancelled),
                    "institution_name": f"测试培训学校{city}-{n}",
                    "city_code": city,
                    "category": category,
                    "non_subject_field": "arts" if category == "non_subject" else None,
                    "stage": "compulsory",
                    "delivery_mode": "offline",
                    "baseline_category": "subject",
                    "status": status,
                    "nonprofit": "true" if category == "subject" and not cancelled else "false",
                    "approved_date": "2019-03-01",
                    "status_changed_date": "2021-12-01" if cancelled else None,
                    "fund_supervision_mode": supervised,
                    "custodian_bank": "中国银行" if supervised == "escrow" else None,
                    "on_platform": "false" if cancelled else "true",
                    "uses_model_contract": "false" if cancelled else "true",
                }
            )
    return rows


def _student_id(n: int) -> str:
    body = f"41030220100101{n:03d}"
    return body + ric.calc_check_digit(body)


def _deliver(city: str, kind: str, data: bytes) -> None:
    from oversight.ingest import tasks as pipeline

    result = pipeline.ingest_payload(city, kind, HENAN_DAY, "file", f"{city}_{kind}_{HENAN_DAY:%Y%m%d}.csv", data)
    assert result.get("status") == "published", result


def test_luoyang_and_puyang_rows_from_our_own_deliveries(fresh_warehouse: str) -> None:
    from oversight.db.migrate import migrate
    from oversight.warehouse import dbt as dbt_build

    migrate()
    luoyang = _institutions(LUOYANG, dereg=292, conv=99, remaining=93, mode="reserve")
    puyang = _institutions(PUYANG, dereg=30, conv=54, remaining=8, mode="escrow")
    _deliver(LUOYANG, "institutions", _csv(INSTITUTION_COLUMNS, luoyang))
    _deliver(PUYANG, "institutions", _csv(INSTITUTION_COLUMNS, puyang))
    # Luoyang: the 93 remaining hold 25.752 million yuan under supervision (risk reserves)
    remaining_ly = [r for r in luoyang if r["status"] == "active" and r["category"] == "subject"]
    deposits = [276_000] * 92 + [25_752_000 - 276_000 * 92]
    ledger_ly = [
        {
            "movement_id": f"MLY{i:05d}",
            "institution_id": inst["institution_id"],
            "account_no": f"6228{i:08d}",
            "movement_type": "reserve_deposit",
            "amount_yuan": f"{amount:.2f}",
            "occurred_at": f"{HENAN_DAY} 09:00:00",
        }
        for i, (inst, amount) in enumerate(zip(remaining_ly, deposits, strict=True))
    ]
    _deliver(LUOYANG, "fee_ledger", _csv(LEDGER_COLUMNS, ledger_ly))
    # Puyang: each of the 8 remaining sells one subject course at a guided price
    remaining_py = [r for r in puyang if r["status"] == "active" and r["category"] == "subject"]
    ledger_py = [
        {
            "movement_id": f"MPY{i:05d}",
            "institution_id": inst["institution_id"],
            "account_no": f"6217{i:08d}",
            "movement_type": "prepaid",
            "amount_yuan": "1000.00",
            "occurred_at": f"{HENAN_DAY} 10:00:00",
            "order_id": f"OPY{i:05d}",
            "student_id_no": _student_id(i),
            "student_name": "张三",
            "course_category": "subject",
            "class_hours": "20",
            "unit_price_yuan": "50.00",
            "delivery_mode": "offline",
            "class_type": "medium",
            "service_start_date": str(HENAN_DAY),
            "service_end_date": "2022-08-30",
            "channel": "platform",
        }
        for i, inst in enumerate(remaining_py)
    ]
    _deliver(PUYANG, "fee_ledger", _csv(LEDGER_COLUMNS, ledger_py))

    built = dbt_build.build()
    assert built == [HENAN_DAY]

    ly = report(fresh_warehouse, str(HENAN_DAY), LUOYANG)
    assert (ly["subject_baseline"], ly["deregistered"], ly["converted"], ly["remaining_subject"]) == (484, 292, 99, 93)
    assert ly["reduced"] == 391
    assert abs(ly["reduction_rate"] * 100 - Decimal("80.78")) <= Decimal("0.01")  # published truncated
    assert ly["remaining_supervised"] == 93
    py = report(fresh_warehouse, str(HENAN_DAY), PUYANG)
    assert (py["subject_baseline"], py["deregistered"], py["converted"], py["remaining_subject"]) == (92, 30, 54, 8)
    assert abs(py["reduction_rate"] * 100 - Decimal("91.3")) <= Decimal("0.01")
    assert py["remaining_nonprofit"] == 8 and py["remaining_supervised"] == 8
    henan = report(fresh_warehouse, str(HENAN_DAY), "41")
    assert (henan["subject_baseline"], henan["reduced"], henan["remaining_subject"]) == (576, 475, 101)
    with psycopg.connect(fresh_warehouse) as conn:
        conn.execute("set role oversight_analyst")
        protected = conn.execute(
            "select count(*), sum(protected_funds_yuan) from marts.prepaid_supervision"
            " where source_city_code = %s and as_of_date = %s",
            (LUOYANG, HENAN_DAY),
        ).fetchone()
        price = conn.execute(
            "select sum(subject_collections_priced), sum(collections_above_price_cap),"
            " min(guided_price_compliance_rate) from marts.compliance_daily"
            " where source_city_code = %s and business_date = %s",
            (PUYANG, HENAN_DAY),
        ).fetchone()
    assert protected == (93, Decimal("25752000.00"))
    assert price == (8, 0, 1)
    # a re-run of the same date counts nothing twice
    assert dbt_build.build(dates=[HENAN_DAY]) == [HENAN_DAY]
    again = report(fresh_warehouse, str(HENAN_DAY), LUOYANG)
    assert {k: again[k] for k in ly} == ly


# -- quality gates on the dbt project: dbt-score and dbt-coverage ---------------------------

# dbt-score (0-10) on the warehouse's models (the alert models have their own gate).
# Measured 9.5 for the project, 8.8 for the lowest model: every model has an owner, a
# description, documented columns and a tested key; the points left are the "example
# SQL in the description" rule (low severity; the interface document shows the queries)
# and supervision_report's length (one report, 226 lines of import CTEs). The gates sit
# just under the measured values, so any lost documentation or test fails the suite.
DBT_SCORE_PROJECT_MIN = 9.0
DBT_SCORE_MODEL_MIN = 8.5


def test_dbt_score_and_coverage_of_the_marts(dbt_docs: DbtDocs) -> None:
    from oversight.warehouse import dbt as dbt_build

    assert (dbt_docs.target / "catalog.json").is_file() and (dbt_docs.target / "index.html").is_file()
    # documentation and test coverage of the marts: 100% (the alert marts,
    # models/marts/alerts/, are gated by their own tests)
    assert_full_coverage(dbt_docs, "models/marts/", exclude="models/marts/alerts/")
    # dbt-score on the whole project's models
    assert_score(
        dbt_docs,
        "path:models",
        DBT_SCORE_PROJECT_MIN,
        DBT_SCORE_MODEL_MIN,
        exclude="path:models/intermediate/alerts path:models/marts/alerts",
    )
    assert dbt_build.manifest_path().is_file()


REFUND_COLUMNS = [
    "refund_id",
    "institution_id",
    "student_name",
    "guardian_phone",
    "requested_amount_yuan",
    "refunded_amount_yuan",
    "method",
    "status",
    "requested_date",
    "completed_date",
    "updated_at",
]


def test_a_late_delivery_rebuilds_only_the_dates_it_touches(fresh_warehouse: str) -> None:
    """Institutions and refunds of two days built; then a corrected snapshot of day 1 and
    a late refund version for day 2 arrive: only those dates are rebuilt (day 3's
    institution rows are not rewritten), and the cumulative refund figures stay those
    of each case's latest state on or before each date."""
    from oversight.db.migrate import migrate
    from oversight.ingest import tasks as pipeline
    from oversight.warehouse import dbt as dbt_build

    migrate()
    d1, d2, d3 = dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)
    insts = _institutions(PUYANG, dereg=30, conv=54, remaining=8, mode="escrow")
    inst_id = insts[-1]["institution_id"]

    def deliver(kind: str, day: dt.date, data: bytes) -> None:
        result = pipeline.ingest_payload(PUYANG, kind, day, "file", f"{PUYANG}_{kind}_{day:%Y%m%d}.csv", data)
        assert result.get("status") == "published", result

    def refund(status: str, day: dt.date) -> dict[str, Any]:
        done = status == "completed"
        return {
            "refund_id": "R1",
            "institution_id": inst_id,
            "student_name": "李四",
            "guardian_phone": "13912345678",
            "requested_amount_yuan": "800.00",
            "refunded_amount_yuan": "800.00" if done else "0",
            "method": "cash" if done else None,
            "status": status,
            "requested_date": str(d1),
            "completed_date": str(d3) if done else None,
            "updated_at": f"{day} 15:00:00",
        }

    for day in (d1, d3):
        deliver("institutions", day, _csv(INSTITUTION_COLUMNS, insts))
    deliver("refunds", d1, _csv(REFUND_COLUMNS, [refund("requested", d1)]))
    deliver("refunds", d3, _csv(REFUND_COLUMNS, [refund("completed", d3)]))
    assert dbt_build.build() == [d1, d3]

    def figures(day: dt.date) -> tuple[int, int, Decimal, int]:
        r = report(fresh_warehouse, str(day), PUYANG)
        return r["deregistered"], r["refund_students"], r["refund_amount_yuan"], r["remaining_subject"]

    assert figures(d1) == (30, 0, Decimal("0.00"), 8)
    assert figures(d3) == (30, 1, Decimal("800.00"), 8)
    with psycopg.connect(fresh_warehouse) as conn:
        before = conn.execute(
            "select min(xmin::text), count(*) from intermediate.int_institutions_daily where business_date = %s", (d3,)
        ).fetchone()

    # corrected snapshot of day 1 (one remaining institution was in fact cancelled) and a late day-2 version
    corrected = [dict(r) for r in insts]
    corrected[-1].update(
        status="cancelled",
        status_changed_date="2026-10-30",
        fund_supervision_mode="none",
        custodian_bank=None,
        on_platform="false",
        uses_model_contract="false",
        nonprofit="false",
    )
    deliver("institutions", d1, _csv(INSTITUTION_COLUMNS, corrected))
    deliver("refunds", d2, _csv(REFUND_COLUMNS, [refund("in_progress", d2)]))
    assert dbt_build.build() == [d1, d2]

    assert figures(d1) == (31, 0, Decimal("0.00"), 7)
    assert figures(d2) == (31, 0, Decimal("0.00"), 7)  # day 2 has no snapshot: day 1's is the latest
    assert figures(d3) == (30, 1, Decimal("800.00"), 8)  # day 3's own snapshot; the refund counted once
    with psycopg.connect(fresh_warehouse) as conn:
        after = conn.execute(
            "select min(xmin::text), count(*) from intermediate.int_institutions_daily where business_date = %s", (d3,)
        ).fetchone()
        pending = conn.execute("select count(*) from audit.rebuild_dates where built_at is null").fetchone()
    assert after == before  # day 3's rows were not rewritten
    assert pending == (0,)
