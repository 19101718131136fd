"""The Great Expectations audit of a day's deliveries, after the loads (the ingest DAG's
``report_quality`` task): GX runs each kind's suite on every published delivery, and its
count of failing rows per rule is stored next to the load-path engine's
(``audit.validation_results``); then the rejection reports and Data Docs.

Both engines are generated from the rule registry (``oversight.contract.rules``);
this is the one place that runs them side by side.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from oversight.config import paths
from oversight.contract.spec import SPECS
from oversight.db.connection import connect
from oversight.ingest.parsing import read_payload
from oversight.ingest.publish import reused_movements
from oversight.ingest.validation import validate
from oversight.quality import suites as gx_project
from oversight.quality.suites import ExpectationOutcome


class ValidationDisagreement(RuntimeError):
    """GX and the vectorised engine disagree on a delivery: a bug in one of them, never in the data."""


def record_expectations(
    conn: psycopg.Connection, delivery_id: int, suite: str, results: Sequence[ExpectationOutcome]
) -> None:
    conn.execute("delete from audit.validation_results where delivery_id = %s", (delivery_id,))
    conn.cursor().executemany(
        "insert into audit.validation_results (delivery_id, ordinal, suite_name, expectation_type, rule,"
        " column_name, severity, kwargs, success, element_count, unexpected_count, engine_unexpected_count,"
        " agrees, exception) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (
                delivery_id,
                i,
                suite,
                r.expectation_type,
                r.rule,
                r.column,
                r.severity,
                Jsonb(r.kwargs),
                r.success,
                r.element_count,
                r.unexpected_count,
                r.engine_unexpected_count,
                r.agrees,
                r.exception,
            )
            for i, r in enumerate(results, 1)
        ],
    )


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
            # the engine evaluates exactly what the committed suite declares: a suite the registry
            # has moved away from (not regenerated) is an error here, not a silent difference
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
    from oversight.quality.rejections import write_reports_for_date

    audited = audit_with_gx(business_date)
    reports = write_reports_for_date(business_date, paths().reports / "rejections")
    docs = gx_project.build_data_docs(business_date)
    if audited["disagreements"]:
        raise ValidationDisagreement(
            f"{audited['disagreements']} GX expectation(s) of {business_date} counted other rows than the"
            " vectorised engine: see audit.validation_results where not agrees"
        )
    return {**audited, "rejection_reports": [str(p) for p in reports], "data_docs": str(docs)}


__all__ = ["ValidationDisagreement", "audit_with_gx", "record_expectations", "report_quality"]
