"""The Great Expectations project in ``expectations/``: the rules of the city
extract contract as GX suites, one per extract kind, and how a delivery is run
through them.

How the parts fit:

* ``build_suite(spec)`` turns the kind's rules (``oversight.contract.rules``, the
  registry the load-path engine is generated from too) into a GX suite: one
  expectation per rule, each tagged in ``meta`` with the rule's reason and column
  (as the quarantine reasons name them) and its severity (``row``: the row is
  quarantined; ``delivery``: the whole delivery is rejected).
  ``oversight gx generate`` writes the suites, validation definitions and
  checkpoints into the file context; a test keeps the committed files equal to
  what the registry declares.
* The vectorised engine (``oversight.ingest.validation``) evaluates the same
  rules on whole Arrow columns, because quarantine needs the reason for every
  failing row and GX caps its unexpected-value lists. ``declared_rules`` reads
  the (rule, column) pairs of the committed suite, for the audit to hold the
  engine to exactly what GX runs.
* GX then runs the suite's checkpoint on the same delivery (``run_checkpoint``):
  its exact unexpected counts per expectation are stored in
  ``audit.validation_results`` next to the engine's count for the same rule
  (``oversight.quality.audit``), so any disagreement between the two is visible
  per delivery. The results also go to the GX validation store, from which
  ``build_data_docs`` renders Data Docs as HTML.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from oversight.config import apply_telemetry_off, paths
from oversight.contract.rules import CONTRACT, CheckedColumn, Rule, failure_key, rules_for, value_column
from oversight.contract.spec import SPECS, ExtractSpec, When

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.data_context.file_data_context import FileDataContext

DATASOURCE = "city_deliveries"
BATCH = "whole_delivery"
RUNTIME_ENV = "OVERSIGHT_GX_RUNTIME_DIR"
_lock = threading.Lock()


class EngineResult(Protocol):
    """What GX runs on and is compared with: the load-path engine's result for one delivery
    (``oversight.ingest.validation.ValidationResult``), seen through the contract's types only."""

    @property
    def spec(self) -> ExtractSpec: ...

    @property
    def checked(self) -> Mapping[str, CheckedColumn]: ...

    @property
    def rule_failures(self) -> Mapping[str, int]: ...


def suite_name(kind: str) -> str:
    return f"{kind}_contract_v1"


def checkpoint_name(kind: str) -> str:
    return f"{kind}_delivery"


def _meta(rule: Rule) -> dict[str, Any]:
    meta = {"rule": rule.reason, "column": rule.column, "severity": rule.severity, "contract": CONTRACT}
    if rule.when is not None:
        meta["when"] = rule.when.describe()
    assert rule.expectation is not None
    return {**meta, **rule.expectation.meta}


def _row_condition(when: When, spec: ExtractSpec) -> str:
    """A pandas row condition equal to the engine's: the other column's canonical code is in the set."""
    values = list(when.values)
    if when.negate:
        values = [code for code in spec.column(when.column).enum if code not in when.values]
    return f"{when.column} in {json.dumps(values, ensure_ascii=False)}"


def expectation(rule: Rule, spec: ExtractSpec) -> Any:
    """The GX expectation of one registry rule, tagged in ``meta`` with its reason, column and severity."""
    from great_expectations.expectations.registry import get_expectation_impl

    from oversight.quality import expectations  # noqa: F401  (registers the custom expectations)

    assert rule.expectation is not None
    kwargs = dict(rule.expectation.kwargs)
    if rule.when is not None:
        kwargs |= {"row_condition": _row_condition(rule.when, spec), "condition_parser": "pandas"}
    if rule.expectation.description is not None:
        kwargs["description"] = rule.expectation.description
    return get_expectation_impl(rule.expectation.type)(**kwargs, meta=_meta(rule))


def build_suite(spec: ExtractSpec) -> ExpectationSuite:
    """The GX suite of one extract kind: one expectation per rule of the registry that GX can see."""
    import great_expectations as gx

    # built detached (expectations passed in): add_expectation on a suite whose name the
    # context knows would write through to the stored suite
    return gx.ExpectationSuite(
        name=suite_name(spec.kind),
        expectations=[expectation(rule, spec) for rule in rules_for(spec.kind) if rule.expectation is not None],
        meta={
            "contract": "../shared/contract/city-extracts.md, version 1, sections 2 and 3",
            "generated_from": "plugins/oversight/contract/rules.py (oversight gx generate)",
            "extract": spec.description,
        },
    )


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
        stored = json.loads(suite_file(kind).read_text("utf-8")) if suite_file(kind).is_file() else None
        declared = _normalised(suite.to_json_dict())
        if stored and _normalised(stored) == declared and _exists(ctx.checkpoints, checkpoint_name(kind)):
            if _suite_meta(stored) != _suite_meta(suite.to_json_dict()):  # the suite's own meta only
                kept = ctx.suites.get(suite.name)
                kept.meta = suite.meta
                kept.save()
                written.append(suite_file(kind))
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


def _suite_meta(suite: dict[str, Any]) -> dict[str, Any]:
    """A suite's own meta, without the GX version that stamped it."""
    return {k: v for k, v in (suite.get("meta") or {}).items() if k != "great_expectations_version"}


def suite_matches_contract(kind: str) -> bool:
    """Whether the committed suite of ``kind`` is what the rule registry generates (expectations and meta)."""
    stored = json.loads(suite_file(kind).read_text("utf-8"))
    generated = build_suite(SPECS[kind]).to_json_dict()
    return _normalised(stored) == _normalised(generated) and _suite_meta(stored) == _suite_meta(generated)


def frame(result: EngineResult) -> pd.DataFrame:
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


def run_checkpoint(result: EngineResult, params: dict[str, Any], name: str | None = None) -> list[ExpectationOutcome]:
    """Run the kind's checkpoint on the delivery and pair each GX result with the engine's count."""
    from great_expectations.core.run_identifier import RunIdentifier

    ctx = context()
    checkpoint = ctx.checkpoints.get(checkpoint_name(result.spec.kind))
    run = checkpoint.run(
        batch_parameters={"dataframe": frame(result)},
        expectation_parameters=params,
        run_id=RunIdentifier(run_name=name) if name else None,
    )
    return [_outcome(r, result) for validation in run.run_results.values() for r in validation.results]


def run_suite(suite: ExpectationSuite, result: EngineResult, params: dict[str, Any]) -> list[ExpectationOutcome]:
    """Run a suite that is not (yet) the committed one, say with a new rule, on the delivery, paired
    with the engine's counts like ``run_checkpoint``; nothing is stored."""
    ctx = context()
    source: Any = ctx.data_sources.get(DATASOURCE)
    batch = (
        source.get_asset(result.spec.kind)
        .get_batch_definition(BATCH)
        .get_batch(batch_parameters={"dataframe": frame(result)})
    )
    run = batch.validate(suite, expectation_parameters=params)
    return [_outcome(r, result) for r in run.results]


def _outcome(r: Any, result: EngineResult) -> ExpectationOutcome:
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
    return ExpectationOutcome(
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
