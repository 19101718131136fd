"""The Great Expectations project in ``expectations/``: the declared rules of the
city extract contract, one suite per extract kind, and how a delivery is run
through them.

How the parts fit:

* ``build_suite(spec)`` turns the contract declaration (``oversight.contract.spec``) into
  a GX suite: one expectation per rule and column, each tagged in ``meta`` with
  the rule id and column the quarantine reasons use, and the severity (``row``:
  the row is quarantined; ``delivery``: the whole delivery is rejected).
  ``oversight gx generate`` writes the suites, validation definitions and
  checkpoints into the file context; a test keeps the committed files equal to
  what the contract declares.
* The vectorised engine (``oversight.ingest.validation``) evaluates exactly the
  (rule, column) pairs the suite declares (``declared_rules``) on whole Arrow
  columns, because quarantine needs the reason for every failing row and GX
  caps its unexpected-value lists.
* GX then runs the suite's checkpoint on the same delivery (``run_checkpoint``):
  its exact unexpected counts per expectation are stored in
  ``audit.validation_results`` next to the engine's count for the same rule,
  so any disagreement between the two is visible per delivery. The results
  also go to the GX validation store, from which ``build_data_docs`` renders
  Data Docs as HTML.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from oversight.config import apply_telemetry_off, paths
from oversight.contract.rules import DECIMAL_RE, MONEY_RE, failure_key
from oversight.contract.spec import SPECS, Column, ExtractSpec, When
from oversight.ingest.validation import ValidationResult

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.data_context.file_data_context import FileDataContext

DATASOURCE = "city_deliveries"
BATCH = "whole_delivery"
RUNTIME_ENV = "OVERSIGHT_GX_RUNTIME_DIR"
_lock = threading.Lock()


def suite_name(kind: str) -> str:
    return f"{kind}_contract_v1"


def checkpoint_name(kind: str) -> str:
    return f"{kind}_delivery"


def value_column(name: str) -> str:
    """The typed view of a column (numbers, times) that comparisons run on."""
    return f"{name}__value"


def _gxe() -> Any:
    """GX's expectation classes (its package does not declare them as re-exports for mypy)."""
    import importlib

    return importlib.import_module("great_expectations.expectations")


def _meta(rule: str, column: str | None, severity: str = "row", **more: Any) -> dict[str, Any]:
    return {"rule": rule, "column": column, "severity": severity, "contract": "city-extracts v1", **more}


def _condition(when: When, spec: ExtractSpec) -> str:
    """A pandas row condition equal to the engine's: the other column's canonical code is in the set."""
    values = list(when.values)
    if when.negate:
        values = [code for code in spec.column(when.column).enum if code not in when.values]
    return f"{when.column} in {json.dumps(values, ensure_ascii=False)}"


def _column_expectations(spec: ExtractSpec, col: Column) -> list[Any]:
    from oversight.quality import expectations as custom

    gxe = _gxe()

    out: list[Any] = []
    name = col.name
    described = f"{name} ({col.alias})"
    if col.required is True:
        out.append(gxe.ExpectColumnToExist(column=name, meta=_meta("missing_column", name, "delivery")))
        out.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column=name, meta=_meta("required", name), description=f"{described} is required"
            )
        )
    elif isinstance(col.required, When):
        out.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column=name,
                row_condition=_condition(col.required, spec),
                condition_parser="pandas",
                meta=_meta("required_when", name, when=col.required.describe()),
                description=f"{described} is required when {col.required.describe()}",
            )
        )
    t = col.type
    if t == "code6":
        out.append(gxe.ExpectColumnValuesToMatchRegex(column=name, regex=r"^\d{6}$", meta=_meta("format", name)))
    elif t == "uscc":
        out.append(custom.ExpectColumnValuesToBeValidUscc(column=name, meta=_meta("check_character", name)))
    elif t == "enum":
        out.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=name,
                value_set=list(col.enum),
                meta=_meta("enumeration", name, labels=col.enum),
                description=f"{described} is one of the codes or their Chinese labels (labels map to codes)",
            )
        )
    elif t == "bool":
        out.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=["t", "f"], meta=_meta("boolean", name)))
    elif t == "date":
        out.append(custom.ExpectColumnValuesToBeContractDates(column=name, meta=_meta("date", name)))
    elif t == "timestamp":
        out.append(custom.ExpectColumnValuesToBeContractTimestamps(column=name, meta=_meta("timestamp", name)))
    elif t == "money":
        out.append(gxe.ExpectColumnValuesToMatchRegex(column=name, regex=MONEY_RE, meta=_meta("amount", name)))
    elif t == "decimal":
        out.append(gxe.ExpectColumnValuesToMatchRegex(column=name, regex=DECIMAL_RE, meta=_meta("number", name)))
    typed = value_column(name)
    if col.positive:
        out.append(
            gxe.ExpectColumnValuesToBeBetween(column=typed, min_value=0, strict_min=True, meta=_meta("positive", name))
        )
    if col.non_negative:
        out.append(gxe.ExpectColumnValuesToBeBetween(column=typed, min_value=0, meta=_meta("non_negative", name)))
    if col.not_after_d:
        bound = "business_date" if t == "date" else "business_day_last_second"
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=typed, max_value={"$PARAMETER": bound}, meta=_meta("not_after_business_date", name)
            )
        )
    if col.on_d:
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=typed,
                min_value={"$PARAMETER": "business_date"},
                max_value={"$PARAMETER": "business_day_last_second"},
                meta=_meta("on_business_date", name),
            )
        )
    if col.equals_city:
        out.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=name, value_set={"$PARAMETER": "delivering_city"}, meta=_meta("city_code", name)
            )
        )
    if col.unique:
        out.append(gxe.ExpectColumnValuesToBeUnique(column=name, meta=_meta("duplicate_key", name)))
    for other, strict in ((col.not_before, False), (col.after, True)):
        if other is not None:
            out.append(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=typed,
                    column_B=value_column(other),
                    or_equal=not strict,
                    ignore_row_if="either_value_is_missing",
                    meta=_meta("order", name, other=other),
                )
            )
    return out


def build_suite(spec: ExtractSpec) -> ExpectationSuite:
    """The GX suite of one extract kind, from its contract declaration."""
    import great_expectations as gx

    gxe = _gxe()
    expectations: list[Any] = []
    for col in spec.columns:
        expectations.extend(_column_expectations(spec, col))
    if spec.kind == "refunds":
        expectations.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=value_column("requested_amount_yuan"),
                column_B=value_column("refunded_amount_yuan"),
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                row_condition=f"{value_column('requested_amount_yuan')} > 0",
                condition_parser="pandas",
                meta=_meta("refund_exceeds_request", "refunded_amount_yuan"),
                description="refunded_amount_yuan (已退金额) is at most requested_amount_yuan (申请退费金额)",
            )
        )
    if spec.kind == "fee_ledger":
        expectations.append(
            gxe.ExpectColumnValuesToNotBeInSet(
                column="movement_id",
                value_set={"$PARAMETER": "movement_ids_delivered_before"},
                meta=_meta("movement_id_reused", "movement_id"),
                description="a movement_id is never reused on another business date of the same city",
            )
        )
    # built detached (expectations passed in): add_expectation on a suite whose name the
    # context knows would write through to the stored suite
    suite = gx.ExpectationSuite(
        name=suite_name(spec.kind),
        expectations=expectations,
        meta={
            "contract": "../shared/contract/city-extracts.md, version 1, sections 2 and 3",
            "generated_from": "plugins/oversight/contract/spec.py (oversight gx generate)",
            "extract": spec.description,
        },
    )
    return suite


def declared_rules(kind: str) -> frozenset[tuple[str, str | None]]:
    """(rule, column) pairs the committed suite declares at row severity: what the engine evaluates."""
    return _declared_rules(kind, str(paths().expectations))


@cache
def _declared_rules(kind: str, root: str) -> frozenset[tuple[str, str | None]]:
    data = json.loads(suite_file(kind, Path(root)).read_text(encoding="utf-8"))
    return frozenset(
        (e["meta"]["rule"], e["meta"]["column"])
        for e in data["expectations"]
        if e.get("meta", {}).get("severity") == "row"
    )


def suite_file(kind: str, root: Path | None = None) -> Path:
    return (root or paths().expectations) / "gx" / "expectations" / f"{suite_name(kind)}.json"


def runtime_dir() -> Path:
    return paths().local / "gx"


@cache
def _context(root: str, runtime: str) -> FileDataContext:
    apply_telemetry_off()
    os.environ[RUNTIME_ENV] = runtime
    import great_expectations as gx

    from oversight.quality import expectations  # noqa: F401  (registers the custom expectations)

    context = gx.get_context(mode="file", project_root_dir=root)
    return context


def context() -> FileDataContext:
    """The file context of ``expectations/``; run-time results go under ``.local/gx``."""
    runtime = runtime_dir()
    (runtime / "validations").mkdir(parents=True, exist_ok=True)
    (runtime / "data_docs").mkdir(parents=True, exist_ok=True)
    with _lock:
        return _context(str(paths().expectations), str(runtime))


def generate() -> list[Path]:
    """Write the suites, the pandas datasource, validation definitions and checkpoints (idempotent)."""
    import great_expectations as gx

    ctx = context()
    try:
        source: Any = ctx.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        source = ctx.data_sources.add_pandas(DATASOURCE)
    written = []
    for kind, spec in SPECS.items():
        try:
            asset = source.get_asset(kind)
        except LookupError:
            asset = source.add_dataframe_asset(kind)
        try:
            batch = asset.get_batch_definition(BATCH)
        except KeyError:
            batch = asset.add_batch_definition_whole_dataframe(BATCH)
        suite = build_suite(spec)
        unchanged = suite_file(kind).is_file() and _normalised(
            json.loads(suite_file(kind).read_text("utf-8"))
        ) == _normalised(suite.to_json_dict())
        if unchanged and _exists(ctx.checkpoints, checkpoint_name(kind)):
            continue  # keep the committed files (and GX's ids in them) as they are
        with contextlib.suppress(Exception):  # absent on first generation
            ctx.suites.delete(suite.name)
        suite = ctx.suites.add(suite)
        written.append(suite_file(kind))
        vd_name = f"{kind}_against_contract"
        with contextlib.suppress(Exception):
            ctx.validation_definitions.delete(vd_name)
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=vd_name, data=batch, suite=suite))
        with contextlib.suppress(Exception):
            ctx.checkpoints.delete(checkpoint_name(kind))
        ctx.checkpoints.add(
            gx.Checkpoint(
                name=checkpoint_name(kind),
                validation_definitions=[vd],
                actions=[],
                result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
            )
        )
    _declared_rules.cache_clear()
    return written


def _exists(factory: Any, name: str) -> bool:
    try:
        factory.get(name)
    except Exception:
        return False
    return True


def _normalised(suite: dict[str, Any]) -> list[dict[str, Any]]:
    """A suite's expectations without GX's generated ids, for comparing declarations."""
    return [
        {k: v for k, v in e.items() if k not in ("id", "rendered_content")}
        for e in json.loads(json.dumps(suite["expectations"], default=str))
    ]


def suite_matches_contract(kind: str) -> bool:
    """Whether the committed suite of ``kind`` is what the contract declaration generates."""
    stored = json.loads(suite_file(kind).read_text("utf-8"))
    return _normalised(stored) == _normalised(build_suite(SPECS[kind]).to_json_dict())


def frame(result: ValidationResult) -> pd.DataFrame:
    """The delivery as GX sees it: each contract column as trimmed text (enumerations and booleans as
    their canonical code when recognised, the text as delivered otherwise), plus typed views
    (``<column>__value``) of numbers and times. Rows quarantined by the parser (field count) are
    not part of it."""
    data: dict[str, Any] = {}
    for col in result.spec.columns:
        c = result.checked[col.name]
        text = pc.coalesce(c.copy, c.text) if col.type in ("enum", "bool", "uscc") else c.text
        data[col.name] = pd.Series(text.to_pylist(), dtype="object")
        if c.number is not None:
            data[value_column(col.name)] = pd.Series(c.number, dtype="float64")
        elif c.when is not None:
            data[value_column(col.name)] = pd.Series(np.asarray(c.when, dtype="datetime64[ns]"))
    return pd.DataFrame(data)


def parameters(city_code: str, business_date: dt.date, reused: dict[str, dt.date]) -> dict[str, Any]:
    """The suite parameters of one delivery."""
    start = dt.datetime.combine(business_date, dt.time())
    return {
        "delivering_city": [city_code],
        "business_date": start,
        "business_day_last_second": start + dt.timedelta(days=1, seconds=-1),
        "movement_ids_delivered_before": sorted(reused),
    }


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation_type: str
    rule: str
    column: str | None
    severity: str
    kwargs: dict[str, Any]
    success: bool
    element_count: int | None
    unexpected_count: int | None
    engine_unexpected_count: int | None
    exception: str | None

    @property
    def agrees(self) -> bool:
        """GX and the vectorised engine found the same number of failing rows."""
        if self.severity != "row" or self.engine_unexpected_count is None:
            return self.exception is None
        return self.unexpected_count == self.engine_unexpected_count


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k not in ("batch_id",)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def run_name(business_date: dt.date, city_code: str, kind: str, delivery_id: int | None = None) -> str:
    """Names a delivery's validation run in the GX store: business date first, so one date's runs are found."""
    return f"{business_date.isoformat()}_{city_code}_{kind}" + (f"_{delivery_id}" if delivery_id else "")


def run_checkpoint(
    result: ValidationResult, params: dict[str, Any], name: str | None = None
) -> list[ExpectationOutcome]:
    """Run the kind's checkpoint on the delivery and pair each GX result with the engine's count."""
    from great_expectations.core.run_identifier import RunIdentifier

    ctx = context()
    checkpoint = ctx.checkpoints.get(checkpoint_name(result.spec.kind))
    run = checkpoint.run(
        batch_parameters={"dataframe": frame(result)},
        expectation_parameters=params,
        run_id=RunIdentifier(run_name=name) if name else None,
    )
    outcomes: list[ExpectationOutcome] = []
    for validation in run.run_results.values():
        for r in validation.results:
            config = r.expectation_config
            assert config is not None
            meta = config.meta or {}
            rule, column = meta.get("rule", config.type), meta.get("column")
            severity = meta.get("severity", "row")
            info = r.exception_info or {}
            raised = info.get("raised_exception") if "raised_exception" in info else None
            if raised is None and info:  # keyed by metric id when a metric failed
                messages = [v.get("exception_message") for v in info.values() if isinstance(v, dict)]
                message = "; ".join(m for m in messages if m) or None
            else:
                message = info.get("exception_message") if raised else None
            engine = result.rule_failures.get(failure_key(rule, column), 0) if severity == "row" else None
            outcomes.append(
                ExpectationOutcome(
                    expectation_type=config.type,
                    rule=rule,
                    column=column,
                    severity=severity,
                    kwargs=_jsonable(dict(config.kwargs)),
                    success=bool(r.success),
                    element_count=r.result.get("element_count"),
                    unexpected_count=r.result.get("unexpected_count"),
                    engine_unexpected_count=engine,
                    exception=message,
                )
            )
    return outcomes


def build_data_docs(business_date: dt.date | None = None) -> Path:
    """Render Data Docs (HTML) from the stored validation results; returns the index page.

    With ``business_date``, only that date's validation pages are (re)rendered, so the daily
    cost does not grow with history; the index and the suites' pages are always rebuilt."""
    ctx = context()
    identifiers: list[Any] | None = None
    if business_date is not None:
        store: Any = ctx.validation_results_store
        prefix = business_date.isoformat() + "_"
        identifiers = [
            key for key in store.list_keys() if str(getattr(key.run_id, "run_name", "") or "").startswith(prefix)
        ]
    with _lock:
        if identifiers is None:
            ctx.build_data_docs()
        else:
            ctx.build_data_docs(resource_identifiers=identifiers)
    return runtime_dir() / "data_docs" / "index.html"
