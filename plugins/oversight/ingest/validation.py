"""Row-level validation of a delivery: the load-path engine of the contract's rule registry.

Each column is typed on its whole at once (pyarrow), then every rule that
``oversight.contract.rules`` declares for the kind is evaluated, vectorised;
only failing rows produce Python objects (their reasons). A row with any
failure is quarantined with every reason found, verbatim values and its row
number; the other rows come out typed and formatted for COPY into the raw table.

Reasons are machine-readable (``rule``, ``column``) and human-readable
(``message``, naming the column as the city delivered it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from oversight.contract.rules import (
    BOOLEANS,
    DATE_RE,
    DECIMAL_RE,
    MONEY_RE,
    TIMESTAMP_RE,
    CheckedColumn,
    Delivery,
    Rule,
    as_mask,
    canonical_uscc,
    failure_key,
    rules_for,
)
from oversight.contract.spec import Column, ExtractSpec, When
from oversight.ingest.parsing import RawTable, RejectedDelivery

Declared = frozenset[tuple[str, str | None]]


@dataclass(frozen=True)
class Reason:
    rule: str
    column: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"rule": self.rule, "column": self.column, "message": self.message}


class UndeclaredRule(RuntimeError):
    """The suite declares a rule the vectorised engine does not evaluate (or the reverse)."""


class _Collector:
    def __init__(self, declared: Declared | None) -> None:
        self.declared = declared
        self.reasons: dict[int, list[Reason]] = {}
        self.failures: dict[str, int] = {}
        self.evaluated: list[str] = []

    def evaluate(self, rule: Rule, d: Delivery) -> None:
        if self.declared is not None and (rule.reason, rule.column) not in self.declared:
            return  # the suite (GX, the declared source of the rules) does not ask for it
        assert rule.check is not None and rule.message is not None
        failing = rule.check(d)
        if rule.when is not None:
            failing = failing & _applies(rule.when, d)
        self.evaluated.append(rule.key)
        idx = np.flatnonzero(np.asarray(failing, dtype=bool))
        if len(idx) == 0:
            return
        self.failures[rule.key] = self.failures.get(rule.key, 0) + len(idx)
        for i in idx.tolist():
            self.reasons.setdefault(i, []).append(Reason(rule.reason, rule.column, rule.message(d, i)))


@dataclass
class ValidationResult:
    spec: ExtractSpec
    rows_delivered: int
    valid: pa.Table  # row_number, canonical columns formatted for COPY, extra_columns
    quarantined: list[dict[str, Any]]  # row_number, delivered_values, reasons
    rule_failures: dict[str, int] = field(default_factory=dict)  # "rule:column" -> rows failing it
    rules_evaluated: list[str] = field(default_factory=list)
    checked: dict[str, CheckedColumn] = field(default_factory=dict)  # per column, for the GX frame
    reused_keys: dict[str, dt.date] = field(default_factory=dict)  # movement ids delivered on another day


# -- typing each column (what the format rules judge: a delivered value whose typed view is null) --


def _lookup(text: pa.Array, mapping: dict[str, str]) -> pa.Array:
    keys = pa.array(list(mapping), pa.string())
    values = pa.array(list(mapping.values()), pa.string())
    return pc.take(values, pc.index_in(text, value_set=keys))


def _only(values: pa.Array, keep: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))


def _parse_time(text: pa.Array, shape: np.ndarray, fmt: str) -> tuple[np.ndarray, pa.Array]:
    """(datetime64 values, ISO text for COPY); a value that does not round-trip (2026-02-30) is invalid."""
    candidate = _only(text, shape)
    if fmt == "%Y%m%d":
        candidate = pc.replace_substring_regex(candidate, "[-/]", "")
        parsed = pc.strptime(candidate, format=fmt, unit="s", error_is_null=True)
        iso = pc.cast(pc.cast(parsed, pa.date32()), pa.string())
        round_trip = as_mask(pc.equal(pc.replace_substring(iso, "-", ""), candidate))
    else:
        candidate = pc.replace_substring(candidate, "T", " ")
        parsed = pc.strptime(candidate, format=fmt, unit="s", error_is_null=True)
        iso = pc.cast(parsed, pa.string())
        round_trip = as_mask(pc.equal(iso, candidate))
    parsed = _only(parsed, round_trip)
    when = np.asarray(parsed.to_numpy(zero_copy_only=False), dtype="datetime64[s]")
    return when, _only(iso, round_trip)


def _credit_code(col: Column, c: CheckedColumn) -> None:
    canonical = {u: v for u in pc.unique(c.text).to_pylist() if u is not None and (v := canonical_uscc(u))}
    c.copy = _lookup(c.text, canonical)


def _code(col: Column, c: CheckedColumn) -> None:
    mapping: dict[str, str] = {}
    for code, label in col.enum.items():
        mapping[code.casefold()] = code
        mapping[label.casefold()] = code
    c.copy = _lookup(pc.utf8_lower(c.text), mapping)


def _boolean(col: Column, c: CheckedColumn) -> None:
    c.copy = _lookup(pc.utf8_lower(c.text), BOOLEANS)


def _date(col: Column, c: CheckedColumn) -> None:
    c.when, c.copy = _parse_time(c.text, as_mask(pc.match_substring_regex(c.text, DATE_RE)), "%Y%m%d")


def _timestamp(col: Column, c: CheckedColumn) -> None:
    shape = as_mask(pc.match_substring_regex(c.text, TIMESTAMP_RE))
    c.when, c.copy = _parse_time(c.text, shape, "%Y-%m-%d %H:%M:%S")


def _number(pattern: str) -> Callable[[Column, CheckedColumn], None]:
    def parse(col: Column, c: CheckedColumn) -> None:
        shape = as_mask(pc.match_substring_regex(c.text, pattern))
        c.copy = pc.replace_substring(_only(c.text, shape), ",", "")
        c.number = np.asarray(pc.cast(c.copy, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)

    return parse


TYPED: dict[str, Callable[[Column, CheckedColumn], None]] = {
    "uscc": _credit_code,
    "enum": _code,
    "bool": _boolean,
    "date": _date,
    "timestamp": _timestamp,
    "money": _number(MONEY_RE),
    "decimal": _number(DECIMAL_RE),
}  # text and code6: the text itself


def _typed(col: Column, raw: pa.Array) -> CheckedColumn:
    trimmed = pc.utf8_trim_whitespace(raw)  # 全角 spaces too
    text = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    checked = CheckedColumn(present=as_mask(pc.is_valid(text)), text=text, copy=text)
    if col.type in TYPED:
        TYPED[col.type](col, checked)
    return checked


# -- evaluating the rules ----------------------------------------------------------------------


def _applies(when: When, d: Delivery) -> np.ndarray:
    """Rows where the other column's code is (or, negated, is a code other than) one of ``when.values``."""
    other = d.columns[when.column].copy
    hit = as_mask(pc.is_in(other, value_set=pa.array(list(when.values), pa.string())))
    return ~hit & as_mask(pc.is_valid(other)) if when.negate else hit


def _history(rules: Iterable[Rule], d: Delivery, reused_keys: Callable[[Iterable[str]], dict[str, dt.date]]) -> None:
    """Fill ``d.history``: the values of the history rules' columns that were delivered for another day."""
    for rule in rules:
        if rule.history and rule.column is not None:
            values = pc.unique(d.columns[rule.column].text).to_pylist()
            d.history = {**d.history, **reused_keys([v for v in values if v is not None])}


def _refuse(rules: Iterable[Rule], d: Delivery) -> None:
    """Reject the whole delivery when a delivery rule fails (the parser has checked its own)."""
    for rule in rules:
        if rule.severity == "delivery" and rule.check is not None and rule.check(d).any():
            raise RejectedDelivery(rule.reason, rule.message(d, 0) if rule.message else rule.reason)


def _engine_order(rules: Iterable[Rule]) -> list[Rule]:
    """Every column's format first (other columns' rules read the typed views), then the rules in order."""
    return sorted(rules, key=lambda r: r.stage != "format")


def _check_declared(kind: str, declared: Declared, errors: _Collector, skipped: Iterable[Rule]) -> None:
    unevaluated = {failure_key(r, c) for r, c in declared} - set(errors.evaluated) - {r.key for r in skipped}
    if unevaluated:
        raise UndeclaredRule(
            f"the {kind} suite declares {sorted(unevaluated)} but the engine has no evaluator for them"
        )


def validate(
    spec: ExtractSpec,
    table: RawTable,
    city_code: str,
    business_date: dt.date,
    *,
    reused_keys: Callable[[Iterable[str]], dict[str, dt.date]] | None = None,
    declared: Declared | None = None,
) -> ValidationResult:
    """Validate ``table`` as ``spec`` delivered by ``city_code`` for ``business_date``.

    ``declared``: the (rule, column) pairs of the kind's GX suite; only those are
    evaluated, and a declared pair the engine cannot evaluate is an error. None
    evaluates every rule of the registry (the suite is generated from it)."""
    n = table.num_rows
    nulls = pa.nulls(n, pa.string())
    d = Delivery(
        kind=spec.kind,
        columns={col.name: _typed(col, table.data.get(col.name, nulls)) for col in spec.columns},
        labels={c.name: table.delivered_headers.get(c.name, c.name) for c in spec.columns},
        city_code=city_code,
        business_date=business_date,
        rows=n + len(table.misfits),
    )
    rules = rules_for(spec.kind)
    _refuse(rules, d)
    if reused_keys is not None and n:
        _history(rules, d, reused_keys)
    without_history = [r for r in rules if r.history and (reused_keys is None or not n)]  # not evaluated
    errors = _Collector(declared)
    for rule in _engine_order(rules):
        if rule.severity == "row" and rule not in without_history:
            errors.evaluate(rule, d)
    if declared is not None:
        _check_declared(spec.kind, declared, errors, without_history)
    return ValidationResult(
        spec=spec,
        rows_delivered=d.rows,
        valid=_valid_rows(spec, table, d, errors),
        quarantined=_quarantined(table, errors),
        rule_failures=errors.failures,
        rules_evaluated=errors.evaluated,
        checked=dict(d.columns),
        reused_keys=dict(d.history),
    )


# -- the outcome: quarantined rows with their reasons, valid rows for COPY -----------------------------


def _row_numbers(table: RawTable) -> np.ndarray:
    if table.row_numbers is not None:
        return np.asarray(table.row_numbers.to_numpy(), dtype=np.int32)
    return np.arange(1, table.num_rows + 1, dtype=np.int32)


def _quarantined(table: RawTable, errors: _Collector) -> list[dict[str, Any]]:
    """Failing rows with every reason found, and the rows the parser set aside (field count)."""
    numbers = _row_numbers(table)
    delivered_names = [table.delivered_headers.get(name, name) for name in table.columns]
    quarantined = [
        {
            "row_number": int(numbers[i]),
            "delivered_values": dict(zip(delivered_names, table.row(i), strict=False)),
            "reasons": [r.as_dict() for r in errors.reasons[i]],
        }
        for i in sorted(errors.reasons)
    ]
    width = len(table.columns)
    for number, values in table.misfits.items():
        message = f"row has {len(values)} fields but the header has {width} (truncated or misquoted row)"
        quarantined.append(
            {
                "row_number": number,
                "delivered_values": dict(zip(delivered_names, values, strict=False)),
                "reasons": [Reason("field_count", None, message).as_dict()],
            }
        )
    if table.misfits:
        errors.failures[failure_key("field_count", None)] = len(table.misfits)
        quarantined.sort(key=lambda q: int(str(q["row_number"])))
    return quarantined


def _valid_rows(spec: ExtractSpec, table: RawTable, d: Delivery, errors: _Collector) -> pa.Table:
    keep = np.ones(table.num_rows, dtype=bool)
    keep[sorted(errors.reasons)] = False
    keep_arrow = pa.array(keep)
    columns = {"row_number": pa.array(_row_numbers(table)).filter(keep_arrow)}
    for name in spec.names:
        columns[name] = d.columns[name].copy.filter(keep_arrow)
    if table.extra_columns:
        values = [table.data[k].filter(keep_arrow).to_pylist() for k in table.extra_columns]
        columns["extra_columns"] = pa.array(
            [
                json.dumps(
                    {k: v for k, v in zip(table.extra_columns, row, strict=True) if v not in (None, "")},
                    ensure_ascii=False,
                )
                for row in zip(*values, strict=True)
            ],
            pa.string(),
        )
    else:
        columns["extra_columns"] = pa.nulls(int(keep.sum()), pa.string())
    return pa.table(columns)


__all__ = [
    "CheckedColumn",
    "Reason",
    "UndeclaredRule",
    "ValidationResult",
    "canonical_uscc",
    "failure_key",
    "validate",
]
