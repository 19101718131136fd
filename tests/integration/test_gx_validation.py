"""The Great Expectations project: suites declared from the contract, driving the
vectorised engine, run per delivery with results stored in the warehouse, and
Data Docs built as HTML."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from oversight.contract.spec import SPECS
from oversight.db.connection import connect
from oversight.ingest import tasks as pipeline
from oversight.ingest.parsing import read_payload
from oversight.ingest.validation import UndeclaredRule, validate
from oversight.quality import audit as quality_audit
from oversight.quality import suites as gx_project

D = dt.date(2026, 11, 2)
OK_ID = "91350100M000100Y43"
BAD_ID = "91350100M000100Y44"
HEADER = "refund_id,institution_id,requested_amount_yuan,refunded_amount_yuan,method,status,requested_date,updated_at"
GOOD = f"R1,{OK_ID},100.00,0,,requested,2026-11-01,2026-11-02 10:00:00"
BAD_ROWS = [
    f"R2,{BAD_ID},100.00,0,,requested,2026-11-01,2026-11-02 10:00:00",  # check character
    f"R3,{OK_ID},-30.00,0,,requested,2026-11-01,2026-11-02 10:00:00",  # amount must be > 0
    f"R4,{OK_ID},100.00,120.00,,requested,2026-11-01,2026-11-02 10:00:00",  # refunded > requested
    f"R5,{OK_ID},100.00,100.00,,已完成,2026-11-01,2026-11-02 10:00:00",  # completed without a method
]


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_committed_suite_is_what_the_contract_declares(kind: str) -> None:
    """`oversight gx generate` output is committed; a contract change without regenerating fails here."""
    assert gx_project.suite_file(kind).is_file()
    assert gx_project.suite_matches_contract(kind), f"run `oversight gx generate`: the {kind} suite is stale"


# read off the contract: the "rule" column of section 3, and the row cases of section 4 (a duplicate key inside
# one file, a refund larger than its request, the same movement_id delivered on two different days)
CONTRACT_RULES = {
    "institutions": {
        ("duplicate_key", "institution_id"),
        ("city_code", "city_code"),
        ("not_after_business_date", "approved_date"),
        ("not_after_business_date", "status_changed_date"),
    },
    "fee_ledger": {
        ("duplicate_key", "movement_id"),
        ("movement_id_reused", "movement_id"),
        ("positive", "amount_yuan"),
        ("on_business_date", "occurred_at"),
        ("positive", "class_hours"),
        ("positive", "unit_price_yuan"),
        ("order", "service_end_date"),
        ("order", "class_ended_at"),
    },
    "refunds": {
        ("duplicate_key", "refund_id"),
        ("positive", "requested_amount_yuan"),
        ("non_negative", "refunded_amount_yuan"),
        ("refund_exceeds_request", "refunded_amount_yuan"),
        ("not_after_business_date", "requested_date"),
        ("order", "completed_date"),
        ("on_business_date", "updated_at"),
    },
    "complaints": {
        ("duplicate_key", "complaint_id"),
        ("city_code", "city_code"),
        ("not_after_business_date", "received_at"),
        ("order", "closed_at"),
        ("on_business_date", "updated_at"),
    },
}


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_every_contract_rule_has_an_expectation(kind: str) -> None:
    spec = SPECS[kind]
    data = json.loads(gx_project.suite_file(kind).read_text("utf-8"))
    declared = {(e["meta"]["rule"], e["meta"]["column"]) for e in data["expectations"]}
    types = {e["meta"]["rule"]: e["type"] for e in data["expectations"]}
    for col in spec.columns:
        if col.required is True:
            assert ("required", col.name) in declared
            assert ("missing_column", col.name) in declared  # severity delivery: rejects the file
        elif col.required:
            assert ("required_when", col.name) in declared
        if col.type == "uscc":
            assert ("check_character", col.name) in declared
    assert CONTRACT_RULES[kind] <= declared
    if kind == "institutions":
        assert types["check_character"] == "expect_column_values_to_be_valid_uscc"  # the custom expectation


def _refunds(rows: list[str]) -> bytes:
    return "\n".join([HEADER, *rows]).encode()


def test_the_suite_decides_what_the_engine_quarantines() -> None:
    table = read_payload(SPECS["refunds"], _refunds([GOOD, *BAD_ROWS]), "csv")
    declared = gx_project.declared_rules("refunds")
    full = validate(SPECS["refunds"], table, "610100", D, declared=declared)
    assert sorted(q["row_number"] for q in full.quarantined) == [2, 3, 4, 5]
    # take one expectation out of the declaration: its rows are no longer quarantined
    without = frozenset(r for r in declared if r != ("check_character", "institution_id"))
    fewer = validate(SPECS["refunds"], table, "610100", D, declared=without)
    assert sorted(q["row_number"] for q in fewer.quarantined) == [3, 4, 5]
    # a declared rule the engine cannot evaluate is an error, not a silent pass
    with pytest.raises(UndeclaredRule, match="no_such_rule"):
        validate(SPECS["refunds"], table, "610100", D, declared=declared | {("no_such_rule", "refund_id")})


def test_gx_counts_agree_with_the_engine_and_name_the_failures() -> None:
    table = read_payload(SPECS["refunds"], _refunds([GOOD, *BAD_ROWS]), "csv")
    result = validate(SPECS["refunds"], table, "610100", D, declared=gx_project.declared_rules("refunds"))
    outcomes = {
        (o.rule, o.column): o for o in gx_project.run_checkpoint(result, gx_project.parameters("610100", D, {}))
    }
    assert all(o.agrees for o in outcomes.values())
    assert outcomes[("check_character", "institution_id")].unexpected_count == 1
    assert outcomes[("positive", "requested_amount_yuan")].unexpected_count == 1
    assert outcomes[("refund_exceeds_request", "refunded_amount_yuan")].unexpected_count == 1
    assert outcomes[("required_when", "method")].unexpected_count == 1
    assert outcomes[("required", "refund_id")].success
    assert outcomes[("missing_column", "refund_id")].severity == "delivery"


def test_gx_would_catch_an_engine_that_misses_a_row() -> None:
    """The reconciliation is not a tautology: GX counts on its own."""
    table = read_payload(SPECS["refunds"], _refunds([GOOD, *BAD_ROWS]), "csv")
    result = validate(SPECS["refunds"], table, "610100", D, declared=gx_project.declared_rules("refunds"))
    blind = dataclasses.replace(result, rule_failures={})
    outcomes = gx_project.run_checkpoint(blind, gx_project.parameters("610100", D, {}))
    assert {(o.rule, o.column) for o in outcomes if not o.agrees} == {
        ("check_character", "institution_id"),
        ("positive", "requested_amount_yuan"),
        ("refund_exceeds_request", "refunded_amount_yuan"),
        ("required_when", "method"),
        ("required_when", "completed_date"),
    }


def test_gx_results_are_stored_per_delivery_and_data_docs_are_built(fresh_warehouse: str) -> None:
    out = pipeline.ingest_payload(
        "610100", "refunds", D, "file", "610100_refunds_20261102.csv", _refunds([GOOD, *BAD_ROWS])
    )
    assert out["status"] == "published" and out["rows_quarantined"] == 4
    # after the day's loads the DAG's report_quality task runs GX on every published delivery
    report = quality_audit.report_quality(D)
    assert report["deliveries"] == 1 and report["disagreements"] == 0
    assert quality_audit.report_quality(D)["deliveries"] == 0  # idempotent: audited once
    with connect("loader") as conn:
        summary = conn.execute(
            "select suite_name, expectations_evaluated, expectations_passed, expectations_failed,"
            " unexpected_values, engine_agrees from audit.validation_summary where delivery_id = %s",
            (out["delivery_id"],),
        ).fetchone()
        rows = dict(
            conn.execute(
                "select rule || ':' || coalesce(column_name, ''), unexpected_count from audit.validation_results"
                " where delivery_id = %s and not success",
                (out["delivery_id"],),
            ).fetchall()
        )
    assert summary is not None
    suite, evaluated, passed, failed, unexpected, agrees = summary
    expected_count = len(json.loads(gx_project.suite_file("refunds").read_text("utf-8"))["expectations"])
    assert suite == "refunds_contract_v1" and evaluated == expected_count and passed + failed == evaluated
    assert failed == 5 and unexpected == 5 and agrees
    assert rows == {
        "check_character:institution_id": 1,
        "positive:requested_amount_yuan": 1,
        "refund_exceeds_request:refunded_amount_yuan": 1,
        "required_when:method": 1,
        "required_when:completed_date": 1,
    }
    # the day's Data Docs: HTML with the suite and this delivery's run
    index = gx_project.runtime_dir() / "data_docs" / "index.html"
    assert report["data_docs"] == str(index) and index.is_file()
    html = index.read_text("utf-8")
    assert "refunds_contract_v1" in html
    assert gx_project.run_name(D, "610100", "refunds", out["delivery_id"]) in html
    # and the rejection report for the city's data team
    assert any(p.endswith(".md") and "610100" in p for p in report["rejection_reports"])
