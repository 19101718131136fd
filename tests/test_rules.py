"""The rule registry (``oversight.contract.rules``): each rule of the contract declared once, and
both engines generated from it. The load-path engine (``oversight.ingest.validation``) and the
GX suites (``oversight.quality.suites``) iterate the same entries, so adding a rule is adding one
entry (and its test)."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from oversight.contract import rules
from oversight.contract.rules import RULES, Expectation, Rule, as_mask, rules_for
from oversight.contract.spec import SPECS
from oversight.ingest.parsing import read_payload
from oversight.ingest.validation import validate
from oversight.quality import suites as gx_project

D = dt.date(2026, 11, 2)
OK_ID = "91350100M000100Y43"
PACKAGE = Path(rules.__file__).resolve().parents[1]
# machine reasons: stored in quarantine.rows and audit.validation_results, a city's data team reads them
REASONS = {
    "missing_column",
    "required",
    "required_when",
    "format",
    "check_character",
    "enumeration",
    "boolean",
    "date",
    "timestamp",
    "amount",
    "number",
    "positive",
    "non_negative",
    "not_after_business_date",
    "on_business_date",
    "city_code",
    "duplicate_key",
    "order",
    "refund_exceeds_request",
    "movement_id_reused",
    "empty_snapshot",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_the_contract_package_knows_no_stage() -> None:
    stages = ("oversight.ingest", "oversight.quality", "oversight.db", "great_expectations", "psycopg")
    for path in sorted((PACKAGE / "contract").glob("*.py")):
        assert not [n for n in _imports(path) if n.startswith(stages)], path.name


def test_the_engines_depend_on_the_registry_not_on_each_other() -> None:
    engine = _imports(PACKAGE / "ingest" / "validation.py")
    assert "oversight.contract.rules" in engine
    assert not [n for n in engine if n.startswith(("oversight.quality", "great_expectations"))]
    assert "oversight.contract.rules" in _imports(PACKAGE / "quality" / "suites.py")
    for module in ("suites.py", "expectations.py"):
        assert not [n for n in _imports(PACKAGE / "quality" / module) if n.startswith("oversight.ingest")], module
    # the load path runs no GX: the audit (oversight.quality.audit) runs both, after the day's loads
    for module in ("tasks.py", "publish.py", "validation.py"):
        imported = _imports(PACKAGE / "ingest" / module)
        assert not [n for n in imported if n.startswith(("oversight.quality", "great_expectations"))], module


def test_reasons_are_the_stored_codes() -> None:
    assert {r.reason for r in RULES} == REASONS
    assert all(r.how_to_fix and " / " in r.how_to_fix for r in RULES)  # 中文 / English


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_every_rule_is_in_the_generated_suite(kind: str) -> None:
    suite = gx_project.build_suite(SPECS[kind]).to_json_dict()
    generated = [
        (e["meta"]["rule"], e["meta"]["column"], e["meta"]["severity"], e["type"]) for e in suite["expectations"]
    ]
    declared = [(r.reason, r.column, r.severity, r.expectation.type) for r in rules_for(kind) if r.expectation]
    assert generated == declared
    # GX does not see what never reaches it: an empty institutions snapshot is rejected, never published
    unseen = [r.reason for r in rules_for(kind) if r.expectation is None]
    assert unseen == (["empty_snapshot"] if kind == "institutions" else [])
    # the parser enforces the missing_column rules: they are the columns it requires
    parsed = {r.column for r in rules_for(kind) if r.check is None}
    assert parsed == {r.column for r in rules_for(kind) if r.reason == "missing_column"}
    assert parsed == set(SPECS[kind].always_required)


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_every_row_rule_is_evaluated_by_the_engine(kind: str) -> None:
    spec = SPECS[kind]
    text = ",".join(spec.names) + "\nX" + "," * (len(spec.names) - 1) + "\n"
    result = validate(spec, read_payload(spec, text.encode(), "csv"), "610100", D, reused_keys=lambda ids: {})
    row_rules = [r.key for r in rules_for(kind) if r.severity == "row"]
    assert sorted(result.rules_evaluated) == sorted(row_rules)  # each once


def test_a_rule_on_a_column_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match=r"refunds.refund_id is text; the rule needs money or decimal"):
        rules.positive("refunds", "refund_id")


def _too_long(d: rules.Delivery) -> np.ndarray:
    return d.columns["refund_id"].present & as_mask(pc.greater(pc.utf8_length(d.columns["refund_id"].text), 32))


# a rule the contract does not have, as a new one would be declared: one entry
TOO_LONG = Rule(
    "too_long",
    "refunds",
    "refund_id",
    "value",
    Expectation("expect_column_value_lengths_to_be_between", {"column": "refund_id", "max_value": 32}),
    check=_too_long,
    message=lambda d, i: f"column {d.labels['refund_id']} value '{d.columns['refund_id'].shown(i)}' is too long",
    how_to_fix="编号不超过32个字符 / at most 32 characters",
)


def test_adding_a_rule_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "RULES", (*RULES, TOO_LONG))
    spec = SPECS["refunds"]
    # the suite declares it with its column's other rules; the committed suite is stale until regenerated
    suite = gx_project.build_suite(spec)
    assert [(e.meta["rule"], e.meta["column"]) for e in suite.expectations][:4] == [
        ("missing_column", "refund_id"),
        ("required", "refund_id"),
        ("duplicate_key", "refund_id"),
        ("too_long", "refund_id"),
    ]
    assert not gx_project.suite_matches_contract("refunds")
    # the load-path engine evaluates it at once
    long_id = "R" * 40
    text = "退费编号,统一社会信用代码,申请退费金额,已退金额,办理状态,申请日期,更新时间\n" + "\n".join(
        f"{rid},{OK_ID},100,0,已申请,2026-11-01,2026-11-02 10:00:00" for rid in (long_id, "R2")
    )
    result = validate(spec, read_payload(spec, text.encode(), "csv"), "610100", D)
    assert [(q["row_number"], [(r["rule"], r["message"]) for r in q["reasons"]]) for q in result.quarantined] == [
        (1, [("too_long", f"column 退费编号 value '{long_id}' is too long")])
    ]
    # and GX, running the generated suite on the same delivery, counts the same row
    outcomes = {
        (o.rule, o.column): o for o in gx_project.run_suite(suite, result, gx_project.parameters("610100", D, {}))
    }
    assert outcomes[("too_long", "refund_id")].unexpected_count == 1
    assert all(o.agrees for o in outcomes.values())
